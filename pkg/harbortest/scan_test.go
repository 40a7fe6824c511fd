package harbortest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	v2client "github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	scanapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/scan"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-cmp/cmp"
)

func triggerScan(client *v2client.HarborAPI, repo, reference string) error {
	params := scanapi.NewScanArtifactParams().WithProjectName("demo").
		WithRepositoryName(url.PathEscape(repo)).WithReference(reference)
	_, err := client.Scan.ScanArtifact(context.Background(), params)
	return err
}

// overviewOf returns the single generic-report entry of an artifact's scan overview.
func overviewOf(t *testing.T, a *models.Artifact) (models.NativeReportSummary, bool) {
	t.Helper()
	summary, ok := a.ScanOverview[MimeGenericReport]
	if ok && len(a.ScanOverview) != 1 {
		t.Errorf("scan_overview keys = %d, want 1", len(a.ScanOverview))
	}
	return summary, ok
}

func TestScanConflictThenRescan(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock))
	pushImage(t, srv, "demo/app:v1", robotAuth())
	client := apiClient(t, srv, robotLogin, robotSecret)

	if err := triggerScan(client, "app", "v1"); err != nil {
		t.Fatalf("first scan: %v", err)
	}
	first, _ := overviewOf(t, getArtifact(t, client, "app", "v1", nil))
	if first.ScanStatus != StatusPending {
		t.Errorf("status after trigger = %s, want Pending", first.ScanStatus)
	}
	clock.Advance(DefaultPending)
	err := triggerScan(client, "app", "v1")
	if status := apiStatus(err); status != http.StatusConflict {
		t.Errorf("scan while Running: status = %d (error %v), want 409", status, err)
	}
	if err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("scan while Running: error = %v, want a 409", err)
	}

	clock.Advance(DefaultRunning)
	done, _ := overviewOf(t, getArtifact(t, client, "app", "v1", nil))
	if done.ScanStatus != StatusSuccess {
		t.Fatalf("status after timing = %s, want Success", done.ScanStatus)
	}
	if err := triggerScan(client, "app", "v1"); err != nil {
		t.Fatalf("rescan after final: %v", err)
	}
	again, _ := overviewOf(t, getArtifact(t, client, "app", "v1", nil))
	if again.ScanStatus != StatusPending {
		t.Errorf("status after rescan = %s, want Pending", again.ScanStatus)
	}
	if again.ReportID == done.ReportID {
		t.Errorf("report id after rescan = %s, want a new report", again.ReportID)
	}
	if got := srv.Stats().ScanTriggers; got != 2 {
		t.Errorf("ScanTriggers = %d, want 2", got)
	}
}

func TestScanConflictMessage(t *testing.T) {
	srv := startServer(t, WithClock(newFakeClock()))
	pushImage(t, srv, "demo/app:v1", robotAuth())
	if err := triggerScan(apiClient(t, srv, robotLogin, robotSecret), "app", "v1"); err != nil {
		t.Fatal(err)
	}
	status, _, body := rawPost(t, srv, "/api/v2.0/projects/demo/repositories/app/artifacts/v1/scan",
		robotLogin, robotSecret)
	if status != http.StatusConflict {
		t.Errorf("status = %d, want 409", status)
	}
	want := `{"errors":[{"code":"CONFLICT","message":"a previous scan process is Pending"}]}` + "\n"
	if diff := cmp.Diff(want, string(body)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestScanWithoutScannerGets412(t *testing.T) {
	tests := []struct {
		name  string
		opts  []Option
		setup func(*Server)
	}{
		{name: "no scanner at start", opts: []Option{WithScanner(false)}},
		{name: "scanner unregistered later", setup: func(s *Server) { s.SetScannerAvailable(false) }},
		{name: "project without scanner", opts: []Option{
			WithProject(Project{Name: "bare", WithoutScanner: true}),
			WithRobot("bare", "ci", robotSecret)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.opts...)
			project := "demo"
			login := robotLogin
			if strings.HasPrefix(tc.name, "project") {
				project, login = "bare", RobotName("bare", "ci")
			}
			pushImage(t, srv, project+"/app:v1", basicAuth(login, robotSecret))
			if tc.setup != nil {
				tc.setup(srv)
			}
			status, _, body := rawPost(t, srv,
				"/api/v2.0/projects/"+project+"/repositories/app/artifacts/v1/scan", login,
				robotSecret)
			if status != http.StatusPreconditionFailed {
				t.Errorf("status = %d, want 412", status)
			}
			if !strings.Contains(string(body), `"code":"PRECONDITION"`) ||
				!strings.Contains(string(body), "no available scanner for project: ") {
				t.Errorf("body = %s, want PRECONDITION no available scanner", body)
			}
		})
	}
}

func TestScanRejectsAccessoryAndUnreachableScanner(t *testing.T) {
	srv := startServer(t)
	img := pushImage(t, srv, "demo/app:v1", robotAuth())
	sigTag := pushCosignSignature(t, srv, "demo/app", digestOf(t, img))
	tests := []struct {
		name      string
		reference string
		setup     func()
		mediaType string
	}{
		{name: "cosign signature", reference: sigTag, setup: func() {},
			mediaType: mediaTypeOCIManifest},
		{name: "scanner unreachable", reference: "v1",
			setup: func() { srv.SetScannerReachable(false) }, mediaType: mediaTypeDockerManifest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			status, _, body := rawPost(t, srv,
				"/api/v2.0/projects/demo/repositories/app/artifacts/"+tc.reference+"/scan",
				robotLogin, robotSecret)
			if status != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", status)
			}
			want := "the configured scanner Trivy does not support scanning artifact with " +
				"mime type " + tc.mediaType
			if !strings.Contains(string(body), want) {
				t.Errorf("body = %s, want message %q", body, want)
			}
		})
	}
}

func TestOverviewAcceptHeader(t *testing.T) {
	srv := startServer(t)
	pushImage(t, srv, "demo/app:v1", robotAuth())
	client := apiClient(t, srv, robotLogin, robotSecret)
	if err := triggerScan(client, "app", "v1"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		header *string
		want   []string
	}{
		{name: "absent header", header: nil, want: []string{MimeGenericReport}},
		{name: "native then generic",
			header: ptr(MimeNativeReport + ", " + MimeGenericReport),
			want:   []string{MimeGenericReport}},
		{name: "only native", header: ptr(MimeNativeReport), want: nil},
		{name: "generic without space falls back to native",
			header: ptr("application/vnd.security.vulnerability.report;version=1.1"), want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := getArtifact(t, client, "app", "v1", tc.header)
			var keys []string
			for key := range got.ScanOverview {
				keys = append(keys, key)
			}
			if diff := cmp.Diff(tc.want, keys); diff != "" {
				t.Errorf("scan_overview keys (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOverviewFieldsByStatus(t *testing.T) {
	clock := newFakeClock()
	fixture := &Fixture{Rules: []Rule{{Vulnerabilities: []Vulnerability{
		{ID: "CVE-1", Package: "openssl", Version: "3.0.0", FixVersion: "3.0.1", Severity: "High"},
		{ID: "CVE-1", Package: "openssl", Version: "3.0.0", FixVersion: "3.0.1", Severity: "High"},
		{ID: "CVE-2", Package: "zlib", Version: "1.0", Severity: "Low"},
	}}}}
	srv := startServer(t, WithClock(clock), WithFixture(fixture))
	pushImage(t, srv, "demo/app:v1", robotAuth())
	if err := triggerScan(apiClient(t, srv, robotLogin, robotSecret), "app", "v1"); err != nil {
		t.Fatal(err)
	}
	zero := "0001-01-01T00:00:00.000Z"
	start := clock.Now().Add(DefaultPending)
	end := start.Add(DefaultRunning)
	tests := []struct {
		name    string
		advance time.Duration
		want    map[string]any
	}{
		{name: "pending", want: map[string]any{
			"scan_status": "Pending", "start_time": zero, "end_time": zero}},
		{name: "running", advance: DefaultPending, want: map[string]any{
			"scan_status": "Running", "start_time": apiTimeText(start), "end_time": zero}},
		{name: "success", advance: DefaultRunning, want: map[string]any{
			"scan_status": "Success", "severity": "High",
			"start_time": apiTimeText(start), "end_time": apiTimeText(end),
			"complete_percent": float64(100),
			"summary": map[string]any{"total": float64(2), "fixable": float64(1),
				"summary": map[string]any{"High": float64(1), "Low": float64(1)}},
			"scanner": map[string]any{"name": "Trivy", "vendor": "Aqua Security",
				"version": "v0.69.3"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock.Advance(tc.advance)
			got := rawOverview(t, srv, "app", "v1")
			if got["report_id"] == "" || got["report_id"] == nil {
				t.Errorf("report_id missing in %v", got)
			}
			delete(got, "report_id")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("overview (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVulnerabilitiesLinkPresence(t *testing.T) {
	srv := startServer(t)
	img := pushImage(t, srv, "demo/app:v1", robotAuth())
	sigTag := pushCosignSignature(t, srv, "demo/app", digestOf(t, img))
	client := apiClient(t, srv, robotLogin, robotSecret)
	if err := triggerScan(client, "app", "v1"); err != nil {
		t.Fatal(err)
	}
	hasLink := func(reference string) bool {
		_, ok := getArtifact(t, client, "app", reference, nil).AdditionLinks["vulnerabilities"]
		return ok
	}
	if !hasLink("v1") {
		t.Error("image: vulnerabilities link missing")
	}
	if hasLink(sigTag) {
		t.Error("cosign signature: vulnerabilities link present, want none")
	}
	srv.SetScannerReachable(false)
	if hasLink("v1") {
		t.Error("scanner unreachable: vulnerabilities link present, want none")
	}
	if got := getArtifact(t, client, "app", "v1", nil).ScanOverview; got != nil {
		t.Errorf("scanner unreachable: scan_overview = %v, want none", got)
	}
}

func TestAutoScanOnPush(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock), WithProject(Project{
		Name: "auto", Metadata: map[string]string{"auto_scan": "true"}}),
		WithRobot("auto", "ci", robotSecret))
	pushImage(t, srv, "auto/app:v1", basicAuth(RobotName("auto", "ci"), robotSecret))
	srv.WaitForAutoScans()

	got := getArtifactIn(t, apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword),
		"auto", "app", "v1")
	summary, ok := got.ScanOverview[MimeGenericReport]
	if !ok || summary.ScanStatus != StatusPending {
		t.Errorf("overview after push = %v, want a Pending report", got.ScanOverview)
	}
	if triggers := srv.Stats().ScanTriggers; triggers != 1 {
		t.Errorf("ScanTriggers = %d, want 1", triggers)
	}
}

func TestStopScan(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock))
	pushImage(t, srv, "demo/app:v1", robotAuth())
	client := apiClient(t, srv, robotLogin, robotSecret)
	stop := func() error {
		params := scanapi.NewStopScanArtifactParams().WithProjectName("demo").
			WithRepositoryName("app").WithReference("v1").
			WithScanType(&models.ScanType{ScanType: "vulnerability"})
		_, err := client.Scan.StopScanArtifact(context.Background(), params)
		return err
	}
	if status := apiStatus(stop()); status != http.StatusBadRequest {
		t.Errorf("stop without scan: status = %d, want 400", status)
	}
	if err := triggerScan(client, "app", "v1"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(DefaultPending)
	if err := stop(); err != nil {
		t.Fatalf("stop running scan: %v", err)
	}
	clock.Advance(time.Hour)
	summary, _ := overviewOf(t, getArtifact(t, client, "app", "v1", nil))
	if summary.ScanStatus != StatusStopped {
		t.Errorf("status after stop = %s, want Stopped", summary.ScanStatus)
	}
}

func TestVulnerabilitiesAddition(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock), WithFixture(DefaultFixture()))
	pushImage(t, srv, "demo/vulnerable-app:v1", robotAuth())
	if err := triggerScan(apiClient(t, srv, robotLogin, robotSecret), "vulnerable-app",
		"v1"); err != nil {
		t.Fatal(err)
	}
	path := "/api/v2.0/projects/demo/repositories/vulnerable-app/artifacts/v1/additions/" +
		"vulnerabilities"
	_, _, pending := rawGet(t, srv, path, robotLogin, robotSecret, nil)
	if got := strings.TrimSpace(string(pending)); got != "{}" {
		t.Errorf("addition before success = %s, want {}", got)
	}
	clock.Advance(time.Hour)
	_, _, body := rawGet(t, srv, path, robotLogin, robotSecret, nil)
	var got map[string]vulnerabilityReport
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	report, ok := got[MimeGenericReport]
	if !ok {
		t.Fatalf("addition = %s, want a %s report", body, MimeGenericReport)
	}
	if report.Severity != "Critical" || len(report.Vulnerabilities) != 4 {
		t.Errorf("report severity %s with %d findings, want Critical with 4",
			report.Severity, len(report.Vulnerabilities))
	}
}

func ptr[T any](v T) *T { return &v }

func apiTimeText(t time.Time) string {
	text, _ := apiTime(t).MarshalText()
	return string(text)
}

// rawOverview reads the generic-report overview as plain JSON, to see which fields exist.
func rawOverview(t *testing.T, srv *Server, repo, reference string) map[string]any {
	t.Helper()
	_, _, body := rawGet(t, srv, "/api/v2.0/projects/demo/repositories/"+repo+"/artifacts/"+
		reference+"?with_scan_overview=true", robotLogin, robotSecret, nil)
	var decoded struct {
		ScanOverview map[string]map[string]any `json:"scan_overview"`
	}
	if err := json.Unmarshal(body, &decoded); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return decoded.ScanOverview[MimeGenericReport]
}
