package projectpolicy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/registry"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/replication"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-cmp/cmp"

	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

const replicationSecret = "dr-robot-secret-1"

// replicationPolicy returns a platform document with one replication rule to the DR
// Harbor whose access secret is read from secretFile.
func replicationPolicy(secretFile string) string {
	return `apiVersion: harbor.druppie.dev/v1alpha1
kind: HarborProject
metadata: {name: platform}
spec:
  replication:
    - name: platform-to-dr
      description: copy releases to the DR site
      target:
        name: druppie-dr
        url: https://registry-dr.druppie.local/
        credential:
          accessKey: robot$platform-dr+replicator
          accessSecret: {file: ` + secretFile + `}
      filters: {tags: "v*"}
      trigger: {type: event_based}
`
}

// recordingTransport keeps the bodies and User-Agent headers of the requests it sends.
type recordingTransport struct {
	mu         sync.Mutex
	bodies     []string
	userAgents map[string]bool
}

func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	if t.userAgents == nil {
		t.userAgents = map[string]bool{}
	}
	t.userAgents[req.Header.Get("User-Agent")] = true
	t.mu.Unlock()
	if req.Body != nil {
		data, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(data))
		t.mu.Lock()
		t.bodies = append(t.bodies, req.Method+" "+req.URL.Path+" "+string(data))
		t.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

// sent reports whether a request whose method and path start with prefix carried text.
func (t *recordingTransport) sent(prefix, text string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, body := range t.bodies {
		if strings.HasPrefix(body, prefix) && strings.Contains(body, text) {
			return true
		}
	}
	return false
}

func recordingAPI(t *testing.T, srv *harbortest.Server) (*client.HarborAPI,
	*recordingTransport) {
	t.Helper()
	rec := &recordingTransport{}
	api, err := NewAPI(harbor.Config{URL: srv.URL(), Username: harbortest.DefaultAdminUser,
		Password: harbortest.DefaultAdminPassword, Transport: rec})
	if err != nil {
		t.Fatalf("NewAPI() error = %v", err)
	}
	return api, rec
}

func TestApplyReplicationCreatesRegistryAndPolicy(t *testing.T) {
	srv := startDouble(t)
	api, rec := recordingAPI(t, srv)
	secretFile := writeFile(t, t.TempDir(), "dr-secret", replicationSecret+"\n")
	p := loadProject(t, replicationPolicy(secretFile))

	plan := planProject(t, api, p)
	want := []string{
		"+ registry druppie-dr type=harbor url=https://registry-dr.druppie.local " +
			"insecure=false (access key robot$platform-dr+replicator, access secret set " +
			"from file " + secretFile + ")",
		`+ replication policy platform-to-dr description="copy releases to the DR site" ` +
			"enabled=true target=druppie-dr repositories=platform/** tags=v* " +
			"destination-namespace= trigger=event_based override=true deletion=false",
	}
	if diff := cmp.Diff(want, planLines(plan)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if strings.Contains(plan.String(), replicationSecret) {
		t.Errorf("plan contains the access secret:\n%s", plan)
	}
	if result := apply(t, api, plan); result.Steps != 2 {
		t.Errorf("Apply() steps = %d, want 2", result.Steps)
	}
	if !rec.sent("POST /api/v2.0/registries", replicationSecret) {
		t.Error("POST /registries did not send the access secret")
	}
	// NewAPI wraps even a caller's transport in pkg/harbor's User-Agent round tripper.
	if diff := cmp.Diff(map[string]bool{harbor.DefaultUserAgent: true},
		rec.userAgents); diff != "" {
		t.Errorf("User-Agent headers (-want +got):\n%s", diff)
	}
	checkReplicationState(t, api)
}

// checkReplicationState reads the applied registry and policy back through the API.
func checkReplicationState(t *testing.T, api *client.HarborAPI) {
	t.Helper()
	ctx := context.Background()
	registries, err := listRegistries(ctx, api)
	if err != nil {
		t.Fatal(err)
	}

	dr := registries["druppie-dr"]
	if dr == nil || dr.Type != "harbor" || dr.URL != "https://registry-dr.druppie.local" ||
		dr.Credential == nil || dr.Credential.AccessKey != "robot$platform-dr+replicator" {
		t.Fatalf("registry druppie-dr = %+v, want a harbor endpoint with the access key", dr)
	}
	policies, err := listReplicationPolicies(ctx, api)
	if err != nil {
		t.Fatal(err)
	}
	if len(policies) != 1 {
		t.Fatalf("replication policies = %d, want 1", len(policies))
	}

	got := policies[0]
	if got.DestRegistry == nil || got.DestRegistry.ID != dr.ID || remoteID(got.SrcRegistry) != 0 {
		t.Errorf("policy registries: src %+v dest %+v, want this Harbor to %d",
			got.SrcRegistry, got.DestRegistry, dr.ID)
	}
	var filters []string
	for _, f := range got.Filters {
		filters = append(filters, f.Type+" "+f.Decoration+" "+f.Value.(string))
	}
	if diff := cmp.Diff([]string{"name  platform/**", "tag matches v*"}, filters); diff != "" {
		t.Errorf("filters (-want +got):\n%s", diff)
	}
	if got.Trigger == nil || got.Trigger.Type != TriggerEventBased || !got.Enabled ||
		!got.Override || got.ReplicateDeletion {
		t.Errorf("policy = %+v, want event_based, enabled, override and no deletion", got)
	}
}

func TestApplyReplicationAgainChangesNothing(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	secretFile := writeFile(t, t.TempDir(), "dr-secret", replicationSecret)
	p := loadProject(t, replicationPolicy(secretFile))
	apply(t, api, planProject(t, api, p))

	writes := writeRequests(srv)
	plan := planProject(t, api, p)
	if !plan.Empty() {
		t.Errorf("second plan = %v, want no changes", planLines(plan))
	}
	apply(t, api, plan)
	if got := writeRequests(srv); got != writes {
		t.Errorf("write requests after the second apply = %d, want %d", got, writes)
	}
}

func TestPlanReplicationDrift(t *testing.T) {
	srv := startDouble(t, harbortest.WithProject(harbortest.Project{Name: "other"}))
	api, rec := recordingAPI(t, srv)
	secretFile := writeFile(t, t.TempDir(), "dr-secret", replicationSecret)
	p := loadProject(t, replicationPolicy(secretFile))
	apply(t, api, planProject(t, api, p))
	ctx := context.Background()
	registries, err := listRegistries(ctx, api)
	if err != nil {
		t.Fatal(err)
	}
	drID := registries["druppie-dr"].ID

	moved := "https://registry-dr2.druppie.local"
	if _, err := api.Registry.UpdateRegistry(ctx, registry.NewUpdateRegistryParams().
		WithID(drID).WithRegistry(&models.RegistryUpdate{URL: &moved})); err != nil {
		t.Fatal(err)
	}
	policies, err := listReplicationPolicies(ctx, api)
	if err != nil {
		t.Fatal(err)
	}
	changed := *policies[0]
	changed.Enabled = false
	changed.Filters = []*models.ReplicationFilter{{Type: "name", Value: "platform/**"}}
	changed.Trigger = &models.ReplicationTrigger{Type: TriggerScheduled,
		TriggerSettings: &models.ReplicationTriggerSettings{Cron: "0 0 1 * * *"}}
	if _, err := api.Replication.UpdateReplicationPolicy(ctx, replication.
		NewUpdateReplicationPolicyParams().WithID(changed.ID).WithPolicy(&changed)); err != nil {
		t.Fatal(err)
	}
	createPushPolicy(t, api, "platform-extra", "platform/tools/**", drID)
	createPushPolicy(t, api, "other-to-dr", "other/**", drID)

	plan := planProject(t, api, p)
	want := []string{
		"~ registry druppie-dr url: " + moved + " -> https://registry-dr.druppie.local " +
			"(access key robot$platform-dr+replicator, access secret set from file " +
			secretFile + ")",
		"- replication policy platform-extra (not in the file, which owns the policies " +
			"that push the project's repositories)",
		"~ replication policy platform-to-dr enabled: false -> true, tags:  -> v*, " +
			"trigger: scheduled 0 0 1 * * * -> event_based",
	}
	if diff := cmp.Diff(want, planLines(plan)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	apply(t, api, plan)
	if !rec.sent("PUT /api/v2.0/registries/", replicationSecret) {
		t.Error("PUT /registries did not send the access secret again")
	}
	if again := planProject(t, api, p); !again.Empty() {
		t.Errorf("plan after repair = %v, want no changes", planLines(again))
	}
	left, err := listReplicationPolicies(ctx, api)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, policy := range left {
		names = append(names, policy.Name)
	}
	if diff := cmp.Diff([]string{"platform-to-dr", "other-to-dr"}, names); diff != "" {
		t.Errorf("policies after repair (-want +got):\n%s", diff)
	}
}

// createPushPolicy creates a manual push-based policy for repositories matching pattern.
func createPushPolicy(t *testing.T, api *client.HarborAPI, name, pattern string, registryID int64) {
	t.Helper()
	_, err := api.Replication.CreateReplicationPolicy(context.Background(), replication.
		NewCreateReplicationPolicyParams().WithPolicy(&models.ReplicationPolicy{
		Name: name, Enabled: true, DestRegistry: &models.Registry{ID: registryID},
		Filters: []*models.ReplicationFilter{{Type: "name", Value: pattern}},
		Trigger: &models.ReplicationTrigger{Type: TriggerManual},
	}))
	if err != nil {
		t.Fatalf("CreateReplicationPolicy(%s) error = %v", name, err)
	}
}

func TestApplyReplicationErrorHidesSecret(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	secretFile := writeFile(t, t.TempDir(), "dr-secret", replicationSecret)
	p := loadProject(t, replicationPolicy(secretFile))
	plan := planProject(t, api, p)

	// A registry of the same name created after planning makes the planned POST fail.
	_, err := api.Registry.CreateRegistry(context.Background(), registry.
		NewCreateRegistryParams().WithRegistry(&models.Registry{Name: "druppie-dr",
		Type: "harbor", URL: "https://elsewhere.druppie.local"}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = plan.Apply(context.Background(), api)
	var harborErr *HarborError
	if !errors.As(err, &harborErr) || harborErr.StatusCode != http.StatusConflict {
		t.Fatalf("Apply() error = %v, want a *HarborError with HTTP 409", err)
	}
	if !strings.Contains(err.Error(), "creating registry druppie-dr") {
		t.Errorf("Apply() error = %q, want it to name the registry", err)
	}
	if strings.Contains(err.Error(), replicationSecret) {
		t.Errorf("Apply() error contains the access secret: %q", err)
	}
}
