package harbortest

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	v2client "github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	projectapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	registryapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/registry"
	replicationapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/replication"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

const upstreamSecret = "upstream-token"

func createUpstream(t *testing.T, admin *v2client.HarborAPI) int64 {
	t.Helper()
	created, err := admin.Registry.CreateRegistry(context.Background(), registryapi.
		NewCreateRegistryParams().WithRegistry(&models.Registry{
		Name: "dockerhub", Type: "docker-hub", URL: "https://hub.docker.com",
		Credential: &models.RegistryCredential{Type: "basic", AccessKey: "ci",
			AccessSecret: upstreamSecret},
	}))
	if err != nil {
		t.Fatalf("CreateRegistry() error = %v", err)
	}
	return idFromLocation(t, created.Location)
}

func TestRegistryEndpoints(t *testing.T) {
	srv := startServer(t)
	admin := apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword)
	ctx := context.Background()
	id := createUpstream(t, admin)
	got, err := admin.Registry.GetRegistry(ctx, registryapi.NewGetRegistryParams().WithID(id))
	if err != nil {
		t.Fatalf("GetRegistry() error = %v", err)
	}
	if got.Payload.Credential.AccessSecret != maskedSecret {
		t.Errorf("access_secret = %q, want %q", got.Payload.Credential.AccessSecret,
			maskedSecret)
	}
	status, _, body := rawGet(t, srv, "/api/v2.0/registries", DefaultAdminUser,
		DefaultAdminPassword, nil)
	if status != http.StatusOK || strings.Contains(string(body), upstreamSecret) {
		t.Errorf("GET /registries: status %d, body shows the secret: %s", status, body)
	}
	description := "Docker Hub mirror"
	if _, err := admin.Registry.UpdateRegistry(ctx, registryapi.NewUpdateRegistryParams().
		WithID(id).WithRegistry(&models.RegistryUpdate{Description: &description})); err != nil {
		t.Fatalf("UpdateRegistry() error = %v", err)
	}
	status, _ = rawJSON(t, srv, http.MethodPost, "/api/v2.0/registries", DefaultAdminUser,
		DefaultAdminPassword, &models.Registry{Name: "dockerhub", Type: "docker-hub",
			URL: "https://hub.docker.com"})
	if status != http.StatusConflict {
		t.Errorf("second registry with the same name: status %d, want 409", status)
	}
	status, body = rawJSON(t, srv, http.MethodPost, "/api/v2.0/registries",
		DefaultAdminUser, DefaultAdminPassword, &models.Registry{Name: "odd", Type: "ftp",
			URL: "https://example.test"})
	if status != http.StatusBadRequest || !strings.Contains(string(body), `\"ftp\"`) {
		t.Errorf("unknown type: status %d body %s, want 400 naming ftp", status, body)
	}
	dev := apiClient(t, srv, "dev", userSecret)
	_, err = dev.Registry.ListRegistries(ctx, registryapi.NewListRegistriesParams())
	if apiStatus(err) != http.StatusForbidden {
		t.Errorf("list as project administrator: status %d, want 403", apiStatus(err))
	}
}

func TestProxyCacheProject(t *testing.T) {
	srv := startServer(t)
	admin := apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword)
	ctx := context.Background()
	id := createUpstream(t, admin)
	if _, err := admin.Project.CreateProject(ctx, projectapi.NewCreateProjectParams().
		WithProject(&models.ProjectReq{ProjectName: "hub", RegistryID: &id})); err != nil {
		t.Fatalf("CreateProject(proxy cache) error = %v", err)
	}
	got, err := admin.Project.GetProject(ctx,
		projectapi.NewGetProjectParams().WithProjectNameOrID("hub"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Payload.RegistryID != id {
		t.Errorf("registry_id = %d, want %d", got.Payload.RegistryID, id)
	}
	missing := id + 100
	status, body := rawJSON(t, srv, http.MethodPost, "/api/v2.0/projects", DefaultAdminUser,
		DefaultAdminPassword, &models.ProjectReq{ProjectName: "nowhere", RegistryID: &missing})
	if status != http.StatusBadRequest ||
		!strings.Contains(string(body), "registry "+strconv.FormatInt(missing, 10)) {
		t.Errorf("unknown registry: status %d body %s, want 400 naming it", status, body)
	}
	_, err = admin.Registry.DeleteRegistry(ctx, registryapi.NewDeleteRegistryParams().WithID(id))
	if apiStatus(err) != http.StatusPreconditionFailed {
		t.Errorf("delete registry in use: status %d, want 412", apiStatus(err))
	}
}

func TestReplicationPolicies(t *testing.T) {
	srv := startServer(t)
	admin := apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword)
	ctx := context.Background()
	id := createUpstream(t, admin)
	policy := &models.ReplicationPolicy{
		Name: "pull-base", Enabled: true, SrcRegistry: &models.Registry{ID: id},
		Filters: []*models.ReplicationFilter{{Type: "name", Value: "library/alpine"}},
		Trigger: &models.ReplicationTrigger{Type: "scheduled",
			TriggerSettings: &models.ReplicationTriggerSettings{Cron: "0 0 2 * * *"}},
	}
	created, err := admin.Replication.CreateReplicationPolicy(ctx, replicationapi.
		NewCreateReplicationPolicyParams().WithPolicy(policy))
	if err != nil {
		t.Fatalf("CreateReplicationPolicy() error = %v", err)
	}
	policyID := idFromLocation(t, created.Location)
	got, err := admin.Replication.GetReplicationPolicy(ctx, replicationapi.
		NewGetReplicationPolicyParams().WithID(policyID))
	if err != nil {
		t.Fatalf("GetReplicationPolicy() error = %v", err)
	}
	if got.Payload.SrcRegistry.Name != "dockerhub" || got.Payload.DestRegistry.ID != 0 {
		t.Errorf("src %q dest %d, want dockerhub and this Harbor (0)",
			got.Payload.SrcRegistry.Name, got.Payload.DestRegistry.ID)
	}
	_, err = admin.Registry.DeleteRegistry(ctx, registryapi.NewDeleteRegistryParams().WithID(id))
	if apiStatus(err) != http.StatusPreconditionFailed {
		t.Errorf("delete registry used by a policy: status %d, want 412", apiStatus(err))
	}
	both := *policy
	both.Name, both.DestRegistry = "both", &models.Registry{ID: id}
	status, _ := rawJSON(t, srv, http.MethodPost, "/api/v2.0/replication/policies",
		DefaultAdminUser, DefaultAdminPassword, &both)
	if status != http.StatusBadRequest {
		t.Errorf("two remote sides: status %d, want 400", status)
	}
	status, _ = rawJSON(t, srv, http.MethodPost, "/api/v2.0/replication/policies",
		DefaultAdminUser, DefaultAdminPassword, policy)
	if status != http.StatusConflict {
		t.Errorf("same name again: status %d, want 409", status)
	}
}
