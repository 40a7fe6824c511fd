package harbortest

import (
	"context"
	"net/http"
	"strings"
	"testing"

	v2client "github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	artifactapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/immutable"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/ping"
	projectapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project_metadata"
	scanapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/scan"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/systeminfo"
	userapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/user"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-cmp/cmp"
)

// TestAPIRoutesMatchSwagger calls every route once through the validating transport, so
// each response body is checked against go-client's swagger, and fails when a route was
// never called.
func TestAPIRoutesMatchSwagger(t *testing.T) {
	if _, err := swaggerSpec(); err != nil {
		t.Fatalf("loading swagger: %v", err)
	}
	srv := startServer(t, WithFixture(DefaultFixture()))
	img := pushImage(t, srv, "demo/team/vulnerable:v1", robotAuth())
	digest := digestOf(t, img)
	pushCosignSignature(t, srv, "demo/team/vulnerable", digest)
	pushIndex(t, srv, "demo/multi:v1")
	admin := apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword)
	ctx := context.Background()
	call := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := admin.Ping.GetPing(ctx, ping.NewGetPingParams())
	call("ping", err)
	_, err = admin.Systeminfo.GetSystemInfo(ctx, systeminfo.NewGetSystemInfoParams())
	call("systeminfo", err)
	scope, relative := "/project/1", true
	_, err = apiClient(t, srv, robotLogin, robotSecret).User.GetCurrentUserPermissions(ctx,
		userapi.NewGetCurrentUserPermissionsParams().WithScope(&scope).WithRelative(&relative))
	call("permissions", err)
	_, err = admin.Project.ListProjects(ctx, projectapi.NewListProjectsParams())
	call("list projects", err)
	name := "created"
	_, err = admin.Project.CreateProject(ctx, projectapi.NewCreateProjectParams().
		WithProject(&models.ProjectReq{ProjectName: name}))
	call("create project", err)
	_, err = admin.Project.HeadProject(ctx, projectapi.NewHeadProjectParams().WithProjectName(name))
	call("head project", err)
	_, err = admin.Project.GetProject(ctx, projectapi.NewGetProjectParams().
		WithProjectNameOrID("demo"))
	call("get project", err)
	severity := "high"
	_, err = admin.Project.UpdateProject(ctx, projectapi.NewUpdateProjectParams().
		WithProjectNameOrID("demo").WithProject(&models.ProjectReq{
		Metadata: &models.ProjectMetadata{Severity: &severity}}))
	call("update project", err)
	_, err = admin.ProjectMetadata.AddProjectMetadatas(ctx, project_metadata.
		NewAddProjectMetadatasParams().WithProjectNameOrID("demo").
		WithMetadata(map[string]string{"prevent_vul": "1"}))
	call("add metadata", err)
	_, err = admin.ProjectMetadata.UpdateProjectMetadata(ctx, project_metadata.
		NewUpdateProjectMetadataParams().WithProjectNameOrID("demo").WithMetaName("auto_scan").
		WithMetadata(map[string]string{"auto_scan": "false"}))
	call("update metadata", err)
	_, err = admin.ProjectMetadata.GetProjectMetadata(ctx, project_metadata.
		NewGetProjectMetadataParams().WithProjectNameOrID("demo").WithMetaName("prevent_vul"))
	call("get metadata", err)
	_, err = admin.ProjectMetadata.ListProjectMetadatas(ctx, project_metadata.
		NewListProjectMetadatasParams().WithProjectNameOrID("demo"))
	call("list metadata", err)
	call("scan", triggerScan(admin, "team/vulnerable", "v1"))
	getArtifact(t, admin, "team/vulnerable", "v1", nil)
	getArtifact(t, admin, "multi", "v1", nil)
	exerciseArtifactRoutes(t, srv, admin)
	exerciseWebhookRoutes(t, admin)
	ruleID := exerciseImmutableRoutes(t, admin)
	_, err = admin.Immutable.UpdateImmuRule(ctx, immutable.NewUpdateImmuRuleParams().
		WithProjectNameOrID("demo").WithImmutableRuleID(ruleID).
		WithImmutableRule(immutableRule("v*", "**")))
	call("update immutable rule", err)
	_, err = admin.Immutable.DeleteImmuRule(ctx, immutable.NewDeleteImmuRuleParams().
		WithProjectNameOrID("demo").WithImmutableRuleID(ruleID))
	call("delete immutable rule", err)
	exercisePolicyRoutes(t, admin)

	covered := srv.Stats().APIRequests
	for _, r := range apiRoutes {
		key := r.method + " " + r.pattern
		if covered[key] == 0 && r.method != http.MethodHead {
			t.Errorf("route %s was not called, so its response was not validated", key)
		}
	}
}

func TestMetadataOneKeyRules(t *testing.T) {
	srv := startServer(t)
	tests := []struct {
		name string
		body string
		want int
		msg  string
	}{
		{name: "two keys", body: `{"auto_scan":"true","public":"false"}`, want: 400,
			msg: "only allow one key/value pair"},
		{name: "unknown key", body: `{"colour":"blue"}`, want: 400, msg: "invalid key: colour"},
		{name: "boolean normalised", body: `{"auto_scan":"1"}`, want: 200},
		{name: "severity lower-cased", body: `{"severity":"Negligible"}`, want: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost,
				srv.URL()+"/api/v2.0/projects/demo/metadatas/", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth(DefaultAdminUser, DefaultAdminPassword)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	_, _, body := rawGet(t, srv, "/api/v2.0/projects/demo/metadatas/", DefaultAdminUser,
		DefaultAdminPassword, nil)
	want := `{"auto_scan":"true","public":"false","severity":"none"}`
	if diff := cmp.Diff(want, string(body)); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
}

func TestSystemInfoByCaller(t *testing.T) {
	srv := startServer(t)
	anonymous, err := apiClient(t, srv, "", "").Systeminfo.GetSystemInfo(context.Background(),
		systeminfo.NewGetSystemInfoParams())
	if err != nil {
		t.Fatal(err)
	}
	if anonymous.Payload.HarborVersion != nil {
		t.Errorf("anonymous harbor_version = %s, want none", *anonymous.Payload.HarborVersion)
	}
	robot, err := apiClient(t, srv, robotLogin, robotSecret).Systeminfo.GetSystemInfo(
		context.Background(), systeminfo.NewGetSystemInfoParams())
	if err != nil {
		t.Fatal(err)
	}
	if robot.Payload.HarborVersion == nil || *robot.Payload.HarborVersion != DefaultHarborVersion {
		t.Errorf("robot harbor_version = %v, want %s", robot.Payload.HarborVersion, DefaultHarborVersion)
	}
}

func TestPermissionsCheckRobotCredentials(t *testing.T) {
	srv := startServer(t)
	scope, relative := "/project/1", true
	params := userapi.NewGetCurrentUserPermissionsParams().WithScope(&scope).WithRelative(&relative)
	_, err := apiClient(t, srv, robotLogin, "wrong").User.GetCurrentUserPermissions(
		context.Background(), params)
	if status := apiStatus(err); status != http.StatusUnauthorized {
		t.Errorf("wrong secret: status = %d, want 401", status)
	}
	got, err := apiClient(t, srv, robotLogin, robotSecret).User.GetCurrentUserPermissions(
		context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for _, p := range got.Payload {
		pairs = append(pairs, p.Resource+":"+p.Action)
	}
	for _, want := range []string{permPush, permPull, permScanCreate, permArtifactRead} {
		if !strings.Contains(strings.Join(pairs, " "), want) {
			t.Errorf("robot permissions %v lack %s", pairs, want)
		}
	}
}

func TestProjectCreateConflict(t *testing.T) {
	srv := startServer(t)
	_, err := apiClient(t, srv, "dev", userSecret).Project.CreateProject(context.Background(),
		projectapi.NewCreateProjectParams().WithProject(&models.ProjectReq{ProjectName: "demo"}))
	if status := apiStatus(err); status != http.StatusConflict {
		t.Errorf("status = %d (error %v), want 409", status, err)
	}
}

func TestTLSServer(t *testing.T) {
	srv := startServer(t, WithTLS())
	if srv.CACertPEM() == nil {
		t.Fatal("CACertPEM() = nil, want the CA")
	}
	if !strings.HasPrefix(srv.URL(), "https://127.0.0.1:") {
		t.Errorf("URL = %s, want https on 127.0.0.1", srv.URL())
	}
	status, _, body := rawGet(t, srv, "/api/v2.0/ping", "", "", nil)
	if status != http.StatusOK || string(body) != "Pong" {
		t.Errorf("ping = %d %q, want 200 Pong", status, body)
	}
	pushImage(t, srv, "demo/app:v1", robotAuth())
}

// exerciseArtifactRoutes calls the artifact routes that the other steps of
// TestAPIRoutesMatchSwagger do not.
func exerciseArtifactRoutes(t *testing.T, srv *Server, admin *v2client.HarborAPI) {
	t.Helper()
	ctx := context.Background()
	repo := "team%2Fvulnerable"
	if _, err := admin.Artifact.ListArtifacts(ctx, artifactapi.NewListArtifactsParams().
		WithProjectName("demo").WithRepositoryName(repo)); err != nil {
		t.Errorf("list artifacts: %v", err)
	}
	if _, err := admin.Artifact.ListAccessories(ctx, artifactapi.NewListAccessoriesParams().
		WithProjectName("demo").WithRepositoryName(repo).WithReference("v1")); err != nil {
		t.Errorf("list accessories: %v", err)
	}

	stop := scanapi.NewStopScanArtifactParams().WithProjectName("demo").
		WithRepositoryName(repo).WithReference("v1").
		WithScanType(&models.ScanType{ScanType: "vulnerability"})
	if _, err := admin.Scan.StopScanArtifact(ctx, stop); err != nil {
		t.Errorf("stop scan: %v", err)
	}

	// go-client cannot decode this addition because the swagger declares a string, so it is
	// read through the validating transport directly.
	client := &http.Client{Transport: &validatingTransport{t: t, base: srv.Client().Transport}}
	req, err := http.NewRequest(http.MethodGet, srv.URL()+
		"/api/v2.0/projects/demo/repositories/team%252Fvulnerable/artifacts/v1/additions/"+
		"vulnerabilities", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(DefaultAdminUser, DefaultAdminPassword)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Unrouted and error responses are validated too.
	if status, _, _ := rawGet(t, srv, "/api/v2.0/nothing", "", "", nil); status != 404 {
		t.Errorf("unknown route: status = %d, want 404", status)
	}
}
