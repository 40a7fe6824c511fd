package harbortest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	v2client "github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	projectapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	sysallowlist "github.com/goharbor/go-client/pkg/sdk/v2.0/client/system_cve_allowlist"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-cmp/cmp"
)

func allowlistBody(projectID int64, expiresAt *int64, cves ...string) *models.CVEAllowlist {
	list := &models.CVEAllowlist{ProjectID: projectID, ExpiresAt: expiresAt,
		Items: []*models.CVEAllowlistItem{}}
	for _, cve := range cves {
		list.Items = append(list.Items, &models.CVEAllowlistItem{CVEID: cve})
	}
	return list
}

func setProjectAllowlist(t *testing.T, client *v2client.HarborAPI, list *models.CVEAllowlist) {
	t.Helper()
	_, err := client.Project.UpdateProject(context.Background(), projectapi.
		NewUpdateProjectParams().WithProjectNameOrID("demo").
		WithProject(&models.ProjectReq{CVEAllowlist: list}))
	if err != nil {
		t.Fatalf("UpdateProject(cve_allowlist) error = %v", err)
	}
}

// TestAllowlistLetsPullsThrough scans an image with a High and a Low finding under
// prevention at High, and checks which allowlists let its pull through.
func TestAllowlistLetsPullsThrough(t *testing.T) {
	fixture, err := ParseFixture([]byte(policyFixture))
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	srv := startServer(t, WithFixture(fixture), WithClock(clock))
	img := pushImage(t, srv, "demo/vulnerable:v1", robotAuth())
	ref := "demo/vulnerable@" + digestOf(t, img)
	for key, value := range map[string]string{"prevent_vul": "true", "severity": "high"} {
		if err := srv.SetProjectMetadata("demo", key, value); err != nil {
			t.Fatal(err)
		}
	}
	admin := apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword)
	if err := triggerScan(admin, "vulnerable", "v1"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Second)
	past, future := clock.Now().Unix()-1, clock.Now().Add(time.Hour).Unix()
	const agent = "go-containerregistry/test"
	pull := func(name string, wantStatus int, wantCount string) {
		t.Helper()
		status, _, message := policyRefusal(pullManifest(t, srv, ref, http.MethodGet, agent,
			robotAuth()))
		if status != wantStatus {
			t.Errorf("%s: status %d, want %d", name, status, wantStatus)
		}
		if wantCount != "" && !strings.HasPrefix(message, "current image with "+wantCount) {
			t.Errorf("%s: message %q, want the count %q", name, message, wantCount)
		}
	}

	pull("no allowlist", 412, "2 vulnerabilities")
	err = pullManifest(t, srv, ref, http.MethodHead, agent, robotAuth())
	if status, _, _ := policyRefusal(err); status != http.StatusPreconditionFailed {
		t.Errorf("HEAD without allowlist: status %d, want 412", status)
	}
	setProjectAllowlist(t, admin, allowlistBody(1, nil, "CVE-2024-0002"))
	pull("Low finding allowlisted", 412, "1 vulnerability")
	setProjectAllowlist(t, admin, allowlistBody(0, &future, "CVE-2024-0001"))
	pull("critical finding allowlisted", 0, "")
	setProjectAllowlist(t, admin, allowlistBody(1, &past, "CVE-2024-0001"))
	pull("expired allowlist", 412, "2 vulnerabilities")

	setProjectAllowlist(t, admin, allowlistBody(1, nil, "CVE-2024-0001"))
	if err := srv.SetProjectMetadata("demo", "reuse_sys_cve_allowlist", "true"); err != nil {
		t.Fatal(err)
	}
	pull("system list reused and empty", 412, "2 vulnerabilities")
	_, err = admin.SystemCVEAllowlist.PutSystemCVEAllowlist(context.Background(),
		sysallowlist.NewPutSystemCVEAllowlistParams().
			WithAllowlist(allowlistBody(0, nil, "CVE-2024-0001")))
	if err != nil {
		t.Fatalf("PutSystemCVEAllowlist() error = %v", err)
	}
	pull("system list reused", 0, "")
}

func TestProjectAllowlistShownAndChecked(t *testing.T) {
	srv := startServer(t)
	admin := apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword)
	expires := int64(1767225600)
	setProjectAllowlist(t, admin, allowlistBody(1, &expires, "CVE-2024-1", "CVE-2024-2"))
	got, err := admin.Project.GetProject(context.Background(),
		projectapi.NewGetProjectParams().WithProjectNameOrID("demo"))
	if err != nil {
		t.Fatal(err)
	}
	list := got.Payload.CVEAllowlist
	var ids []string
	for _, item := range list.Items {
		ids = append(ids, item.CVEID)
	}
	if diff := cmp.Diff([]string{"CVE-2024-1", "CVE-2024-2"}, ids); diff != "" {
		t.Errorf("allowlist items (-want +got):\n%s", diff)
	}
	if list.ExpiresAt == nil || *list.ExpiresAt != expires {
		t.Errorf("expires_at = %v, want %d", list.ExpiresAt, expires)
	}
	if list.ProjectID != 1 {
		t.Errorf("project_id = %d, want 1", list.ProjectID)
	}

	tests := []struct {
		name    string
		list    *models.CVEAllowlist
		message string
	}{
		{"other project id", allowlistBody(7, nil, "CVE-1"), "must be 1 but it's 7"},
		{"duplicate id", allowlistBody(1, nil, "CVE-1", "CVE-1"), "duplicate cve_id CVE-1"},
		{"empty id", allowlistBody(1, nil, ""), "empty cve_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawJSON(t, srv, http.MethodPut, "/api/v2.0/projects/demo",
				DefaultAdminUser, DefaultAdminPassword, &models.ProjectReq{CVEAllowlist: tc.list})
			if status != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", status)
			}
			if !strings.Contains(string(body), tc.message) {
				t.Errorf("body %s does not contain %q", body, tc.message)
			}
		})
	}
}

func TestSystemAllowlistAccess(t *testing.T) {
	srv := startServer(t)
	robot := apiClient(t, srv, robotLogin, robotSecret)
	ctx := context.Background()
	if _, err := robot.SystemCVEAllowlist.GetSystemCVEAllowlist(ctx,
		sysallowlist.NewGetSystemCVEAllowlistParams()); err != nil {
		t.Errorf("GET as robot: %v", err)
	}
	_, err := robot.SystemCVEAllowlist.PutSystemCVEAllowlist(ctx,
		sysallowlist.NewPutSystemCVEAllowlistParams().WithAllowlist(allowlistBody(0, nil)))
	if status := apiStatus(err); status != http.StatusForbidden {
		t.Errorf("PUT as robot: status %d, want 403", status)
	}
	anonymous := apiClient(t, srv, "", "")
	_, err = anonymous.SystemCVEAllowlist.GetSystemCVEAllowlist(ctx,
		sysallowlist.NewGetSystemCVEAllowlistParams())
	if status := apiStatus(err); status != http.StatusUnauthorized {
		t.Errorf("GET as anonymous: status %d, want 401", status)
	}
}
