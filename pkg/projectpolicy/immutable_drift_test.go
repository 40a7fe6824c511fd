package projectpolicy

import (
	"context"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/immutable"
	"github.com/google/go-cmp/cmp"
)

func TestPlanNamesDisabledImmutableRule(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	authFile := writeFile(t, t.TempDir(), "auth", authHeader)
	p := loadProject(t, platformPolicy(authFile))
	apply(t, api, planProject(t, api, p))
	ctx := context.Background()
	rules, err := listImmutableRules(ctx, api, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 {
		t.Fatalf("immutable rules = %d, want 1", len(rules))
	}
	disabled := *rules[0]
	disabled.Disabled = true
	if _, err := api.Immutable.UpdateImmuRule(ctx, immutable.NewUpdateImmuRuleParams().
		WithProjectNameOrID("1").WithImmutableRuleID(disabled.ID).
		WithImmutableRule(&disabled)); err != nil {
		t.Fatal(err)
	}

	plan := planProject(t, api, p)
	want := []string{
		"+ immutable rule tags=v* repos=**",
		"- immutable rule tags=v* repos=** disabled (not in the file, which owns the " +
			"project's immutable rules)",
	}
	if diff := cmp.Diff(want, planLines(plan)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	apply(t, api, plan)
	if again := planProject(t, api, p); !again.Empty() {
		t.Errorf("plan after repair = %v, want no changes", planLines(again))
	}
}
