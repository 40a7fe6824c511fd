package harbortest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	v2client "github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	projectapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	retentionapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/retention"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// nightlyPolicy is "delete nightly-* when not pushed for 14 days, keep everything else"
// for project 1, run at 03:00 every day.
func nightlyPolicy() *models.RetentionPolicy {
	everything := map[string][]models.RetentionSelector{"repository": {{
		Kind: "doublestar", Decoration: "repoMatches", Pattern: "**",
	}}}
	return &models.RetentionPolicy{
		Algorithm: "or",
		Scope:     &models.RetentionPolicyScope{Level: "project", Ref: 1},
		Trigger: &models.RetentionRuleTrigger{Kind: "Schedule",
			Settings: map[string]any{"cron": "0 0 3 * * *"}, References: map[string]any{}},
		Rules: []*models.RetentionRule{
			{
				Action: "retain", Template: "nDaysSinceLastPush",
				Params: map[string]any{"nDaysSinceLastPush": 14},
				TagSelectors: []*models.RetentionSelector{{Kind: "doublestar",
					Decoration: "matches", Pattern: "nightly-*", Extras: `{"untagged":false}`}},
				ScopeSelectors: everything,
			},
			{
				Action: "retain", Template: "always", Params: map[string]any{},
				TagSelectors: []*models.RetentionSelector{{Kind: "doublestar",
					Decoration: "excludes", Pattern: "nightly-*"}},
				ScopeSelectors: everything,
			},
		},
	}
}

func createRetention(t *testing.T, client *v2client.HarborAPI,
	policy *models.RetentionPolicy) int64 {
	t.Helper()
	created, err := client.Retention.CreateRetention(context.Background(),
		retentionapi.NewCreateRetentionParams().WithPolicy(policy))
	if err != nil {
		t.Fatalf("CreateRetention() error = %v", err)
	}
	return idFromLocation(t, created.Location)
}

// manifestStatus returns the HTTP status of a manifest GET, 200 when it succeeds.
func manifestStatus(t *testing.T, srv *Server, ref string) int {
	t.Helper()
	_, err := remote.Get(parseRef(t, srv, ref), remoteOptions(srv, robotAuth())...)
	var terr *transport.Error
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &terr):
		return terr.StatusCode
	}
	t.Fatalf("GET %s: %v", ref, err)
	return 0
}

type nightlyImages struct {
	oldNightly, oldSignature, newNightly, release string
}

// pushNightlyImages pushes v1 and a signed nightly-1, then 20 days later nightly-2.
func pushNightlyImages(t *testing.T, srv *Server, clock *fakeClock) nightlyImages {
	t.Helper()
	release := digestOf(t, pushImage(t, srv, "demo/app:v1", robotAuth()))
	oldNightly := digestOf(t, pushImage(t, srv, "demo/app:nightly-1", robotAuth()))
	signatureTag := pushCosignSignature(t, srv, "demo/app", oldNightly)
	clock.Advance(20 * 24 * time.Hour)
	newNightly := digestOf(t, pushImage(t, srv, "demo/app:nightly-2", robotAuth()))
	return nightlyImages{
		oldNightly: "demo/app@" + oldNightly, oldSignature: "demo/app:" + signatureTag,
		newNightly: "demo/app@" + newNightly, release: "demo/app@" + release,
	}
}

func TestRetentionDeletesOldNightly(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock))
	images := pushNightlyImages(t, srv, clock)
	admin := apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword)
	id := createRetention(t, admin, nightlyPolicy())
	ctx := context.Background()

	_, _, err := admin.Retention.TriggerRetentionExecution(ctx, retentionapi.
		NewTriggerRetentionExecutionParams().WithID(id).
		WithBody(retentionapi.TriggerRetentionExecutionBody{DryRun: true}))
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	for _, ref := range []string{images.oldNightly, images.oldSignature} {
		if status := manifestStatus(t, srv, ref); status != http.StatusOK {
			t.Errorf("after dry run, GET %s: status %d, want 200", ref, status)
		}
	}
	wouldDelete, err := srv.RunRetention("demo", true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{images.oldNightly}, wouldDelete); diff != "" {
		t.Errorf("dry run candidates (-want +got):\n%s", diff)
	}

	_, _, err = admin.Retention.TriggerRetentionExecution(ctx, retentionapi.
		NewTriggerRetentionExecutionParams().WithID(id).
		WithBody(retentionapi.TriggerRetentionExecutionBody{DryRun: false}))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	wantStatus := map[string]int{
		images.oldNightly: 404, images.oldSignature: 404, "demo/app:nightly-1": 404,
		images.newNightly: 200, images.release: 200, "demo/app:v1": 200,
	}
	for ref, want := range wantStatus {
		if status := manifestStatus(t, srv, ref); status != want {
			t.Errorf("after run, GET %s: status %d, want %d", ref, status, want)
		}
	}
	checkRetentionExecutions(t, admin, id)
}

// checkRetentionExecutions checks that the API lists both runs, newest first, and the
// task of the real run with 1 of 3 artifacts deleted.
func checkRetentionExecutions(t *testing.T, admin *v2client.HarborAPI, id int64) {
	t.Helper()
	ctx := context.Background()
	executions, err := admin.Retention.ListRetentionExecutions(ctx,
		retentionapi.NewListRetentionExecutionsParams().WithID(id))
	if err != nil {
		t.Fatalf("ListRetentionExecutions() error = %v", err)
	}
	var dryRuns []bool
	for _, e := range executions.Payload {
		dryRuns = append(dryRuns, e.DryRun)
	}
	// RunRetention("demo", true) ran between the two API runs.
	if diff := cmp.Diff([]bool{false, true, true}, dryRuns); diff != "" {
		t.Fatalf("execution dry_run flags, newest first (-want +got):\n%s", diff)
	}
	tasks, err := admin.Retention.ListRetentionTasks(ctx, retentionapi.
		NewListRetentionTasksParams().WithID(id).WithEid(executions.Payload[0].ID))
	if err != nil {
		t.Fatalf("ListRetentionTasks() error = %v", err)
	}
	if len(tasks.Payload) != 1 {
		t.Fatalf("tasks = %d, want 1", len(tasks.Payload))
	}
	task := tasks.Payload[0]
	if task.Repository != "app" || task.Total != 3 || task.Retained != 2 {
		t.Errorf("task = %s total %d retained %d, want app 3 2", task.Repository, task.Total,
			task.Retained)
	}
}

func TestRetentionKeepsImmutableTags(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock))
	images := pushNightlyImages(t, srv, clock)
	if _, err := srv.AddImmutableRule("demo", "nightly-1", "**"); err != nil {
		t.Fatal(err)
	}
	createRetention(t, apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword),
		nightlyPolicy())
	deleted, err := srv.RunRetention("demo", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 0 {
		t.Errorf("deleted %v, want nothing", deleted)
	}
	if status := manifestStatus(t, srv, images.oldNightly); status != http.StatusOK {
		t.Errorf("GET %s: status %d, want 200", images.oldNightly, status)
	}
}

func TestRetentionLatestPushedK(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock))
	var digests []string
	for i := range 3 {
		img := pushImage(t, srv, fmt.Sprintf("demo/app:build-%d", i), robotAuth())
		digests = append(digests, "demo/app@"+digestOf(t, img))
		clock.Advance(time.Hour)
	}
	policy := nightlyPolicy()
	policy.Rules = policy.Rules[:1]
	policy.Rules[0].Template = "latestPushedK"
	policy.Rules[0].Params = map[string]any{"latestPushedK": 2}
	policy.Rules[0].TagSelectors[0].Pattern = "**"
	createRetention(t, apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword), policy)
	deleted, err := srv.RunRetention("demo", false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(digests[:1], deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
}

func TestRetentionPolicyAPI(t *testing.T) {
	srv := startServer(t)
	admin := apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword)
	ctx := context.Background()
	id := createRetention(t, admin, nightlyPolicy())
	meta, err := admin.Project.GetProject(ctx,
		projectapi.NewGetProjectParams().WithProjectNameOrID("demo"))
	if err != nil {
		t.Fatal(err)
	}
	if got := meta.Payload.Metadata.RetentionID; got == nil || *got != strconv.FormatInt(id, 10) {
		t.Errorf("retention_id = %v, want %d", got, id)
	}
	got, err := admin.Retention.GetRetention(ctx, retentionapi.NewGetRetentionParams().WithID(id))
	if err != nil {
		t.Fatalf("GetRetention() error = %v", err)
	}
	if got.Payload.ID != id || len(got.Payload.Rules) != 2 {
		t.Errorf("policy id %d with %d rules, want %d with 2", got.Payload.ID,
			len(got.Payload.Rules), id)
	}
	update := got.Payload
	update.Rules = update.Rules[1:]
	if _, err := admin.Retention.UpdateRetention(ctx, retentionapi.NewUpdateRetentionParams().
		WithID(id).WithPolicy(update)); err != nil {
		t.Fatalf("UpdateRetention() error = %v", err)
	}
	robot := apiClient(t, srv, robotLogin, robotSecret)
	_, err = robot.Retention.GetRetention(ctx, retentionapi.NewGetRetentionParams().WithID(id))
	if status := apiStatus(err); status != http.StatusForbidden {
		t.Errorf("GET as robot without tag-retention:read: status %d, want 403", status)
	}
	if _, err := admin.Retention.DeleteRetention(ctx,
		retentionapi.NewDeleteRetentionParams().WithID(id)); err != nil {
		t.Fatalf("DeleteRetention() error = %v", err)
	}
	if _, err := srv.RunRetention("demo", true); !errors.Is(err, ErrInvalid) {
		t.Errorf("RunRetention after delete: error %v, want ErrInvalid", err)
	}
}

func TestRetentionCreateRejects(t *testing.T) {
	srv := startServer(t)
	tooMany := nightlyPolicy()
	for i := range 14 {
		rule := *tooMany.Rules[0]
		rule.Params = map[string]any{"nDaysSinceLastPush": i + 20}
		tooMany.Rules = append(tooMany.Rules, &rule)
	}
	duplicate := nightlyPolicy()
	duplicate.Rules = append(duplicate.Rules, duplicate.Rules[0])
	mutate := func(change func(*models.RetentionPolicy)) *models.RetentionPolicy {
		p := nightlyPolicy()
		change(p)
		return p
	}
	tests := []struct {
		name    string
		policy  *models.RetentionPolicy
		status  int
		message string
	}{
		{"16 rules", tooMany, 400, "16 rules, at most 15"},
		{"duplicate rules", duplicate, 409, "rule 2 is conflict with rule 0"},
		{"five cron fields", mutate(func(p *models.RetentionPolicy) {
			p.Trigger.Settings = map[string]any{"cron": "0 3 * * *"}
		}), 400, "use 6 fields"},
		{"cron seconds not 0", mutate(func(p *models.RetentionPolicy) {
			p.Trigger.Settings = map[string]any{"cron": "5 0 3 * * *"}
		}), 400, "seconds"},
		{"no trigger", mutate(func(p *models.RetentionPolicy) { p.Trigger = nil }), 400,
			"trigger is required"},
		{"no scope", mutate(func(p *models.RetentionPolicy) { p.Scope = nil }), 400,
			"scope is required"},
		{"system scope", mutate(func(p *models.RetentionPolicy) { p.Scope.Level = "system" }),
			400, `scope level \"system\"`},
		{"unknown template", mutate(func(p *models.RetentionPolicy) {
			p.Rules[1].Template = "sometimes"
		}), 400, "sometimes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawJSON(t, srv, http.MethodPost, "/api/v2.0/retentions",
				DefaultAdminUser, DefaultAdminPassword, tc.policy)
			if status != tc.status {
				t.Errorf("status = %d, want %d", status, tc.status)
			}
			if !strings.Contains(string(body), tc.message) {
				t.Errorf("body %s does not contain %q", body, tc.message)
			}
		})
	}

	id := createRetention(t, apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword),
		nightlyPolicy())
	status, body := rawJSON(t, srv, http.MethodPost, "/api/v2.0/retentions",
		DefaultAdminUser, DefaultAdminPassword, nightlyPolicy())
	want := fmt.Sprintf("project 1 already has retention policy %d", id)
	if status != http.StatusBadRequest || !strings.Contains(string(body), want) {
		t.Errorf("second policy: status %d body %s, want 400 with %q", status, body, want)
	}
}
