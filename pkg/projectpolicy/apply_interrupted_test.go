package projectpolicy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/robot"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/webhook"

	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// TestApplyInterruptedConverges fails one write request of an apply, before or after
// Harbor served it, and checks that the next apply deletes nothing and ends in sync with
// one rule, one webhook policy and one robot.
func TestApplyInterruptedConverges(t *testing.T) {
	type interruption struct {
		method       string
		skip         int
		afterServing bool
	}
	var cases []interruption
	for _, after := range []bool{false, true} {
		for skip := range 4 {
			cases = append(cases, interruption{"POST", skip, after})
		}
		cases = append(cases, interruption{"PUT", 0, after})
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%s %d after serving %v", tc.method, tc.skip, tc.afterServing)
		t.Run(name, func(t *testing.T) {
			faults := harbortest.NewFaults()
			srv := startDouble(t, harbortest.WithFaults(faults))
			api := adminAPI(t, srv)
			authFile := writeFile(t, t.TempDir(), "auth", authHeader)
			p := loadProject(t, platformPolicy(authFile))
			plan := planProject(t, api, p)
			err := faults.Arm("cut", harbortest.Fault{Surface: harbortest.SurfaceAPI,
				Method: tc.method, Skip: tc.skip, Times: 1, Status: 502,
				AfterServing: tc.afterServing})
			if err != nil {
				t.Fatal(err)
			}
			_, applyErr := plan.Apply(context.Background(), api)
			faults.DisarmAll()
			t.Logf("interrupted apply: %v", applyErr)

			again := planProject(t, api, p)
			for _, line := range planLines(again) {
				if strings.HasPrefix(line, "-") {
					t.Errorf("plan after the interruption deletes: %s", line)
				}
			}
			apply(t, api, again)
			if last := planProject(t, api, p); !last.Empty() {
				t.Errorf("plan after the repair = %v, want no changes", planLines(last))
			}
			checkSingleObjects(t, srv)
		})
	}
}

// checkSingleObjects checks that the project has exactly one immutable rule, webhook
// policy and robot account, the ones of platformPolicy.
func checkSingleObjects(t *testing.T, srv *harbortest.Server) {
	t.Helper()
	api := adminAPI(t, srv)
	ctx := context.Background()
	rules, err := listImmutableRules(ctx, api, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 {
		t.Errorf("immutable rules = %d, want 1", len(rules))
	}
	hooks, err := api.Webhook.ListWebhookPoliciesOfProject(ctx, webhook.
		NewListWebhookPoliciesOfProjectParams().WithProjectNameOrID("platform"))
	if err != nil {
		t.Fatal(err)
	}
	if len(hooks.Payload) != 1 {
		t.Errorf("webhook policies = %d, want 1", len(hooks.Payload))
	}
	query := "Level=project,ProjectID=1"
	robots, err := api.Robot.ListRobot(ctx, robot.NewListRobotParams().WithQ(&query))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range robots.Payload {
		names = append(names, r.Name)
	}
	if len(names) != 1 {
		t.Errorf("robots = %v, want one", names)
	}
}
