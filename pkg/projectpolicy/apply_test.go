package projectpolicy

import (
	"context"
	"strings"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-cmp/cmp"
)

const authHeader = "Bearer hook-token-1"

func TestApplyEmptyProject(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	authFile := writeFile(t, t.TempDir(), "auth", authHeader+"\n")
	p := loadProject(t, platformPolicy(authFile))

	plan := planProject(t, api, p)
	want := []string{
		"+ metadata auto_scan: true",
		"+ metadata enable_content_trust_cosign: true",
		"+ metadata prevent_vul: true",
		"+ metadata reuse_sys_cve_allowlist: false",
		"+ metadata severity: critical",
		"+ cve allowlist items: [] -> [CVE-2024-0001], expires: never -> 2027-06-30T00:00:00Z",
		"+ immutable rule tags=v* repos=**",
		`+ retention policy schedule="0 0 3 * * *" delete tags=nightly-* repos=** after 14 ` +
			"days, keep everything else",
		"+ webhook policy core-scan-results events=SCANNING_COMPLETED,SCANNING_FAILED " +
			"address=https://core.druppie.local/harbor (auth header set from file " +
			authFile + ")",
		"+ robot harbor-gate permissions=" + strings.Join(GatePermissions, ",") +
			" duration=-1",
	}
	if diff := cmp.Diff(want, planLines(plan)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if strings.Contains(plan.String(), authHeader) {
		t.Errorf("plan contains the auth header:\n%s", plan)
	}

	result := apply(t, api, plan)
	if result.Robot == nil || result.Robot.Username != "robot$platform+harbor-gate" ||
		result.Robot.Secret == "" {
		t.Errorf("Apply() robot = %v, want robot$platform+harbor-gate with a secret",
			result.Robot)
	}
	checkProjectState(t, api)
}

// checkProjectState reads the applied platform rules back through the API.
func checkProjectState(t *testing.T, api *client.HarborAPI) {
	t.Helper()
	ctx := context.Background()
	current, err := getProject(ctx, api, "platform")
	if err != nil {
		t.Fatal(err)
	}
	id := int64(current.ProjectID)
	rules, err := listImmutableRules(ctx, api, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 || rules[0].TagSelectors[0].Pattern != "v*" {
		t.Errorf("immutable rules = %+v, want one rule for v*", rules)
	}
	hooks, err := listWebhookPolicies(ctx, api, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 1 || hooks[0].Targets[0].AuthHeader != authHeader || !hooks[0].Enabled {
		t.Errorf("webhook policies = %+v, want one enabled policy with the auth header",
			hooks)
	}
	policy, err := currentRetention(ctx, api, &Project{Metadata: ObjectMeta{Name: "platform"}},
		id)
	if err != nil {
		t.Fatal(err)
	}
	var templates []string
	for _, rule := range policy.Rules {
		templates = append(templates, rule.Template+" "+rule.TagSelectors[0].Decoration+" "+
			rule.TagSelectors[0].Pattern)
	}
	wantTemplates := []string{"nDaysSinceLastPush matches nightly-*", "always excludes nightly-*"}
	if diff := cmp.Diff(wantTemplates, templates); diff != "" {
		t.Errorf("retention rules (-want +got):\n%s", diff)
	}
}

func TestApplyAgainChangesNothing(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	authFile := writeFile(t, t.TempDir(), "auth", authHeader)
	p := loadProject(t, platformPolicy(authFile))
	apply(t, api, planProject(t, api, p))

	writes := writeRequests(srv)
	plan := planProject(t, api, p)
	if !plan.Empty() {
		t.Errorf("second plan = %v, want no changes", planLines(plan))
	}
	if got, want := plan.String(), "project platform:\n  no changes\n"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	result := apply(t, api, plan)
	if result.Steps != 0 || result.Robot != nil {
		t.Errorf("second Apply() = %+v, want no steps and no robot", result)
	}
	if got := writeRequests(srv); got != writes {
		t.Errorf("write requests after the second apply = %d, want %d", got, writes)
	}
}

func TestPlanDetectsDrift(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	authFile := writeFile(t, t.TempDir(), "auth", authHeader)
	p := loadProject(t, platformPolicy(authFile))
	apply(t, api, planProject(t, api, p))

	if err := srv.SetProjectMetadata("platform", "severity", "high"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddImmutableRule("platform", "**", "**"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddWebhookPolicy("platform", models.WebhookPolicy{Name: "old-one",
		Enabled: true, EventTypes: []string{"PUSH_ARTIFACT"},
		Targets: []*models.WebhookTargetObject{{Type: "http",
			Address: "https://old.example/hook"}}}); err != nil {
		t.Fatal(err)
	}
	plan := planProject(t, api, p)
	want := []string{
		"~ metadata severity: high -> critical",
		"- immutable rule tags=** repos=** (not in the file, which owns the project's " +
			"immutable rules)",
		"- webhook policy old-one (not in the file, which owns the project's webhook " +
			"policies)",
	}
	if diff := cmp.Diff(want, planLines(plan)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	apply(t, api, plan)
	if again := planProject(t, api, p); !again.Empty() {
		t.Errorf("plan after repair = %v, want no changes", planLines(again))
	}
}

func TestPlanAuthHeaderChange(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	authFile := writeFile(t, t.TempDir(), "auth", authHeader)
	p := loadProject(t, platformPolicy(authFile))
	apply(t, api, planProject(t, api, p))

	writeFile(t, "", authFile, "Bearer hook-token-2")
	plan := planProject(t, api, p)
	want := []string{"~ webhook policy core-scan-results (auth header changed)"}
	if diff := cmp.Diff(want, planLines(plan)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if strings.Contains(plan.String(), "hook-token") {
		t.Errorf("plan contains the auth header:\n%s", plan)
	}
}

func TestApplyCreatesProject(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	p := loadProject(t, `apiVersion: harbor.druppie.dev/v1alpha1
kind: HarborProject
metadata: {name: fresh}
spec:
  autoScan: true
  cveAllowlist: {expiresAt: "2027-06-30T00:00:00Z", items: [CVE-2024-0001]}
  immutableTags: [{tags: "v*"}]
`)
	plan := planProject(t, api, p)
	want := []string{"+ project fresh", "+ metadata auto_scan: true",
		"+ metadata reuse_sys_cve_allowlist: false",
		"+ cve allowlist items: [] -> [CVE-2024-0001], expires: never -> 2027-06-30T00:00:00Z",
		"+ immutable rule tags=v* repos=**"}
	if diff := cmp.Diff(want, planLines(plan)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	apply(t, api, plan)
	byName := true
	resp, err := api.Project.GetProject(context.Background(), project.NewGetProjectParams().
		WithProjectNameOrID("fresh").WithXIsResourceName(&byName))
	if err != nil {
		t.Fatalf("GetProject() error = %v", err)
	}
	if got := resp.Payload.Metadata.AutoScan; got == nil || *got != "true" {
		t.Errorf("auto_scan = %v, want true", got)
	}
	if got := allowlistItems(resp.Payload.CVEAllowlist); !cmp.Equal(got, []string{"CVE-2024-0001"}) {
		t.Errorf("allowlist items = %v, want [CVE-2024-0001]", got)
	}
	if again := planProject(t, api, p); !again.Empty() {
		t.Errorf("second plan = %v, want no changes", planLines(again))
	}
}
