package harbortest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	v2client "github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	artifactapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	robotapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/robot"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// robotRequest returns a RobotCreate for a never-expiring project robot of "demo" with
// the given "<resource>:<action>" permissions.
func robotRequest(name string, permissions ...string) *models.RobotCreate {
	var access []*models.Access
	for _, permission := range permissions {
		resource, action, _ := strings.Cut(permission, ":")
		access = append(access, &models.Access{Resource: resource, Action: action})
	}
	return &models.RobotCreate{
		Name: name, Level: "project", Duration: -1,
		Permissions: []*models.RobotPermission{{
			Kind: "project", Namespace: "demo", Access: access,
		}},
	}
}

func createRobot(t *testing.T, client *v2client.HarborAPI,
	req *models.RobotCreate) *robotapi.CreateRobotCreated {
	t.Helper()
	created, err := client.Robot.CreateRobot(context.Background(),
		robotapi.NewCreateRobotParams().WithRobot(req))
	if err != nil {
		t.Fatalf("CreateRobot(%s) error = %v", req.Name, err)
	}
	return created
}

func TestRobotLifecycle(t *testing.T) {
	srv := startServer(t)
	admin := apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword)
	ctx := context.Background()
	created := createRobot(t, admin, robotRequest("builder", "repository:pull",
		"repository:push", "artifact:read"))
	if created.Payload.Name != "robot$demo+builder" {
		t.Errorf("created name = %q, want robot$demo+builder", created.Payload.Name)
	}
	if len(created.Payload.Secret) != 32 {
		t.Errorf("created secret has %d characters, want 32", len(created.Payload.Secret))
	}
	wantLocation := fmt.Sprintf("/api/v2.0/robots/%d", created.Payload.ID)
	if created.Location != wantLocation {
		t.Errorf("Location = %q, want %q", created.Location, wantLocation)
	}

	status, _, body := rawGet(t, srv, wantLocation, DefaultAdminUser, DefaultAdminPassword,
		nil)
	if status != http.StatusOK {
		t.Fatalf("GET robot status = %d, want 200", status)
	}
	if strings.Contains(string(body), created.Payload.Secret) {
		t.Errorf("GET robot body contains the secret: %s", body)
	}

	q := "Level=project,ProjectID=1"
	listed, err := admin.Robot.ListRobot(ctx, robotapi.NewListRobotParams().WithQ(&q))
	if err != nil {
		t.Fatalf("ListRobot() error = %v", err)
	}
	var names []string
	for _, rb := range listed.Payload {
		names = append(names, rb.Name)
	}
	if diff := cmp.Diff([]string{"robot$demo+ci", "robot$demo+builder"}, names); diff != "" {
		t.Errorf("listed robots (-want +got):\n%s", diff)
	}
	if listed.XTotalCount != 2 {
		t.Errorf("X-Total-Count = %d, want 2", listed.XTotalCount)
	}

	got, err := admin.Robot.GetRobotByID(ctx,
		robotapi.NewGetRobotByIDParams().WithRobotID(created.Payload.ID))
	if err != nil {
		t.Fatalf("GetRobotByID() error = %v", err)
	}
	var access []string
	for _, a := range got.Payload.Permissions[0].Access {
		access = append(access, a.Resource+":"+a.Action)
	}
	wantAccess := []string{"artifact:read", "repository:pull", "repository:push"}
	if diff := cmp.Diff(wantAccess, access); diff != "" {
		t.Errorf("robot access (-want +got):\n%s", diff)
	}
}

func TestRobotSecretRefreshAndDisable(t *testing.T) {
	srv := startServer(t)
	admin := apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword)
	ctx := context.Background()
	created := createRobot(t, admin, robotRequest("builder", "repository:pull",
		"project:read"))
	name, oldSecret := created.Payload.Name, created.Payload.Secret
	id := created.Payload.ID
	permissionsPath := "/api/v2.0/users/current/permissions?scope=/project/1"

	refreshed, err := admin.Robot.RefreshSec(ctx, robotapi.NewRefreshSecParams().
		WithRobotID(id).WithRobotSec(&models.RobotSec{}))
	if err != nil {
		t.Fatalf("RefreshSec() error = %v", err)
	}
	newSecret := refreshed.Payload.Secret
	if newSecret == "" || newSecret == oldSecret {
		t.Fatalf("refreshed secret is empty or unchanged")
	}
	if status, _, _ := rawGet(t, srv, permissionsPath, name, oldSecret, nil); status != 401 {
		t.Errorf("old secret: status %d, want 401", status)
	}
	if status, _, _ := rawGet(t, srv, permissionsPath, name, newSecret, nil); status != 200 {
		t.Errorf("new secret: status %d, want 200", status)
	}

	got, err := admin.Robot.GetRobotByID(ctx, robotapi.NewGetRobotByIDParams().WithRobotID(id))
	if err != nil {
		t.Fatal(err)
	}
	update := got.Payload
	update.Disable = true
	if _, err := admin.Robot.UpdateRobot(ctx, robotapi.NewUpdateRobotParams().
		WithRobotID(id).WithRobot(update)); err != nil {
		t.Fatalf("UpdateRobot() error = %v", err)
	}
	if status, _, _ := rawGet(t, srv, permissionsPath, name, newSecret, nil); status != 401 {
		t.Errorf("disabled robot: status %d, want 401", status)
	}

	if _, err := admin.Robot.DeleteRobot(ctx,
		robotapi.NewDeleteRobotParams().WithRobotID(id)); err != nil {
		t.Fatalf("DeleteRobot() error = %v", err)
	}
	_, err = admin.Robot.GetRobotByID(ctx, robotapi.NewGetRobotByIDParams().WithRobotID(id))
	if status := apiStatus(err); status != http.StatusNotFound {
		t.Errorf("GET deleted robot: status %d, want 404", status)
	}
}

func TestRobotExpires(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock))
	admin := apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword)
	req := robotRequest("shortlived", "repository:pull")
	req.Duration = 1
	created := createRobot(t, admin, req)
	path := "/api/v2.0/users/current/permissions?scope=/project/1"
	login, secret := created.Payload.Name, created.Payload.Secret
	if status, _, _ := rawGet(t, srv, path, login, secret, nil); status != 200 {
		t.Errorf("fresh robot: status %d, want 200", status)
	}
	clock.Advance(25 * time.Hour)
	if status, _, _ := rawGet(t, srv, path, login, secret, nil); status != 401 {
		t.Errorf("expired robot: status %d, want 401", status)
	}
}

func TestRobotCreateRejects(t *testing.T) {
	srv := startServer(t)
	twoEntries := robotRequest("two", "repository:pull")
	twoEntries.Permissions = append(twoEntries.Permissions, twoEntries.Permissions[0])
	otherProject := robotRequest("other", "repository:pull")
	otherProject.Permissions[0].Namespace = "missing"
	neverSet := robotRequest("zero", "repository:pull")
	neverSet.Duration = 0
	tests := []struct {
		name        string
		user, pass  string
		req         *models.RobotCreate
		wantStatus  int
		wantMessage string
	}{
		{"duration zero", DefaultAdminUser, DefaultAdminPassword, neverSet, 400,
			"duration input: 0"},
		{"invalid name", DefaultAdminUser, DefaultAdminPassword,
			robotRequest("Bad+Name", "repository:pull"), 400, "Bad+Name"},
		{"two permission entries", DefaultAdminUser, DefaultAdminPassword, twoEntries, 400,
			"exactly one permission entry"},
		{"helm chart permission", DefaultAdminUser, DefaultAdminPassword,
			robotRequest("helm", "helm-chart:read"), 400, "helm-chart:read"},
		{"missing project for admin", DefaultAdminUser, DefaultAdminPassword, otherProject,
			404, "missing"},
		{"name taken", DefaultAdminUser, DefaultAdminPassword,
			robotRequest("ci", "repository:pull"), 409, "robot$demo+ci already exists"},
		{"anonymous", "", "", robotRequest("anon", "repository:pull"), 401, ""},
		{"robot without robot:create", robotLogin, robotSecret,
			robotRequest("child", "repository:pull"), 403, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := apiClient(t, srv, tc.user, tc.pass)
			_, err := client.Robot.CreateRobot(context.Background(),
				robotapi.NewCreateRobotParams().WithRobot(tc.req))
			if status := apiStatus(err); status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (error %v)", status, tc.wantStatus, err)
			}
			_, body := rawJSON(t, srv, http.MethodPost, "/api/v2.0/robots", tc.user, tc.pass,
				tc.req)
			if !strings.Contains(string(body), tc.wantMessage) {
				t.Errorf("body %s does not contain %q", body, tc.wantMessage)
			}
		})
	}
}

func TestRobotProjectAdminMayCreate(t *testing.T) {
	srv := startServer(t)
	dev := apiClient(t, srv, "dev", userSecret)
	created := createRobot(t, dev, robotRequest("fromdev", "repository:pull"))
	if created.Payload.Name != "robot$demo+fromdev" {
		t.Errorf("name = %q, want robot$demo+fromdev", created.Payload.Name)
	}
}

// TestRobotPermissionsAreExact checks that a robot created with pull only gets no push
// action from the token service, so the push fails, while its pull works, and that the
// REST API denies what it was not given.
func TestRobotPermissionsAreExact(t *testing.T) {
	srv := startServer(t)
	pushImage(t, srv, "demo/app:v1", robotAuth())
	admin := apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword)
	created := createRobot(t, admin, robotRequest("reader", "repository:pull"))
	auth := basicAuth(created.Payload.Name, created.Payload.Secret)

	if _, err := remote.Get(parseRef(t, srv, "demo/app:v1"),
		remoteOptions(srv, auth)...); err != nil {
		t.Errorf("pull with repository:pull: %v", err)
	}
	err := remote.Write(parseRef(t, srv, "demo/app:v2"), pushImageValue(t),
		remoteOptions(srv, auth)...)
	if status, _, _ := policyRefusal(err); status != http.StatusUnauthorized {
		t.Errorf("push without repository:push: error %v, want status 401", err)
	}

	reader := apiClient(t, srv, created.Payload.Name, created.Payload.Secret)
	_, err = reader.Artifact.GetArtifact(context.Background(), artifactapi.
		NewGetArtifactParams().WithProjectName("demo").WithRepositoryName("app").
		WithReference("v1"))
	if status := apiStatus(err); status != http.StatusForbidden {
		t.Errorf("GET artifact without artifact:read: status %d, want 403", status)
	}
}
