package harbor

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// testDigest is the digest of the artifact that the tests address.
const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// testRef is the artifact that the tests address, in a repository without '/'.
var testRef = ArtifactRef{Project: "proj", Repository: "app", Digest: testDigest}

// artifactPath is the escaped request path of testRef.
const artifactPath = "/api/v2.0/projects/proj/repositories/app/artifacts/" + testDigest

// request is what the fake Harbor recorded of one request.
type request struct {
	Method string
	Path   string // escaped, as sent on the wire
	Query  string
	Header http.Header
	Body   string
}

// fakeHarbor is an HTTP handler that responds like Harbor's REST API on the routes a test
// registers, and records every request. Unregistered routes get Harbor's 404 body.
type fakeHarbor struct {
	mu       sync.Mutex
	routes   map[string]http.HandlerFunc
	requests []request
}

func newFakeHarbor() *fakeHarbor {
	return &fakeHarbor{routes: map[string]http.HandlerFunc{}}
}

// handle registers h for the method and escaped path, such as "GET /api/v2.0/ping".
func (f *fakeHarbor) handle(route string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[route] = h
}

func (f *fakeHarbor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, request{
		Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: string(body),
	})
	h := f.routes[r.Method+" "+r.URL.EscapedPath()]
	f.mu.Unlock()
	if h == nil {
		writeHarborError(w, http.StatusNotFound, "NOT_FOUND", "resource not found")
		return
	}
	h(w, r)
}

// recorded returns a copy of the requests so far.
func (f *fakeHarbor) recorded() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// methods returns "METHOD path" of every request so far.
func (f *fakeHarbor) methods() []string {
	var out []string
	for _, r := range f.recorded() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// startFake starts f on a loopback server and returns a Client for it. The client sends
// every request once, so that tests of the wait count one request per poll. Tests of the
// retries use startFakeWithRetry.
func startFake(t *testing.T, f *fakeHarbor) *Client {
	t.Helper()
	return startFakeWithRetry(t, f, RetryPolicy{MaxAttempts: 1})
}

// startFakeWithRetry starts f on a loopback server and returns a Client for it that
// retries under policy.
func startFakeWithRetry(t *testing.T, f *fakeHarbor, policy RetryPolicy) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := NewClient(Config{URL: srv.URL, Username: "robot$proj+ci", Password: "s3cret",
		Retry: policy})
	if err != nil {
		t.Fatalf("NewClient(%q) error = %v", srv.URL, err)
	}
	return c
}

// writeJSON writes v as Harbor's JSON body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeHarborError writes Harbor's {"errors":[{"code":...,"message":...}]} body.
func writeHarborError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, models.Errors{Errors: []*models.Error{{Code: code, Message: message}}})
}

// replyError returns a handler that writes a Harbor error.
func replyError(status int, code, message string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeHarborError(w, status, code, message)
	}
}

// replyArtifact returns a handler that writes a.
func replyArtifact(a *models.Artifact) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, a) }
}

// sequence returns a handler that uses the handlers in turn and repeats the last one.
func sequence(handlers ...http.HandlerFunc) http.HandlerFunc {
	var (
		mu   sync.Mutex
		next int
	)
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handlers[min(next, len(handlers)-1)]
		next++
		mu.Unlock()
		h(w, r)
	}
}

// scannableArtifact returns testRef's artifact as Harbor returns it for a scannable image,
// with the given scan overview.
func scannableArtifact(overview models.ScanOverview) *models.Artifact {
	a := unscannableArtifact(overview)
	a.AdditionLinks = models.AdditionLinks{
		"build_history": {Href: artifactPath + "/additions/build_history"},
		vulnerabilitiesLink: {
			Href: artifactPath + "/additions/vulnerabilities",
		},
	}
	return a
}

// unscannableArtifact returns testRef's artifact without a vulnerabilities addition link.
func unscannableArtifact(overview models.ScanOverview) *models.Artifact {
	return &models.Artifact{
		ID:                1,
		Digest:            testDigest,
		Type:              "IMAGE",
		ManifestMediaType: "application/vnd.oci.image.manifest.v1+json",
		RepositoryName:    "proj/app",
		ScanOverview:      overview,
	}
}

// inProgress returns an overview of a scan in the given status, with zero times as Harbor
// shows them while a scan is queued.
func inProgress(status ScanStatus) models.ScanOverview {
	return models.ScanOverview{MIMETypeGenericReport: {
		ReportID:   "5f62c830-f996-11e9-957f-0242c0a89008",
		ScanStatus: string(status),
	}}
}

// finished returns an overview of a successful scan under the given report type.
func finished(mimeType string) models.ScanOverview {
	return models.ScanOverview{mimeType: {
		ReportID:        "5f62c830-f996-11e9-957f-0242c0a89008",
		ScanStatus:      "Success",
		Severity:        "High",
		Duration:        14,
		CompletePercent: 100,
		StartTime:       strfmt.DateTime(scanStart),
		EndTime:         strfmt.DateTime(scanStart.Add(14 * time.Second)),
		Scanner:         &models.Scanner{Name: "Trivy", Vendor: "Aqua Security", Version: "v0.69.3"},
		Summary: &models.VulnerabilitySummary{
			Total: 5, Fixable: 3, Summary: map[string]int64{"High": 2, "Medium": 1, "Low": 2},
		},
	}}
}

// scanStart is the start time of the finished scans.
var scanStart = time.Date(2025, 1, 1, 10, 0, 1, 0, time.UTC)

// finishedScan is the Scan that finished(mimeType) converts to.
func finishedScan(mimeType string) Scan {
	return Scan{
		Status:          ScanSuccess,
		ReportID:        "5f62c830-f996-11e9-957f-0242c0a89008",
		Severity:        "High",
		Total:           5,
		Fixable:         3,
		Counts:          map[string]int64{"High": 2, "Medium": 1, "Low": 2},
		CompletePercent: 100,
		Scanner:         "Trivy v0.69.3",
		Start:           scanStart,
		End:             scanStart.Add(14 * time.Second),
		MIMEType:        mimeType,
	}
}

// fakeClock is a Clock whose After returns at once and moves the time forward. It records
// every delay. It is used from the test goroutine only.
type fakeClock struct {
	now    time.Time
	delays []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.delays = append(c.delays, d)
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// total returns the sum of the recorded delays.
func (c *fakeClock) total() time.Duration {
	var sum time.Duration
	for _, d := range c.delays {
		sum += d
	}
	return sum
}
