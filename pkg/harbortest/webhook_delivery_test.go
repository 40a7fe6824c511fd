package harbortest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	scanapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/scan"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"
)

// hookRequest is one webhook request that a hookRecorder received.
type hookRequest struct {
	header http.Header
	body   map[string]any
}

// hookRecorder is a webhook target on a loopback httptest server. It responds with the
// statuses given to newHookRecorder in order, then with 200.
type hookRecorder struct {
	url      string
	requests chan hookRequest

	mu       sync.Mutex
	statuses []int
}

func newHookRecorder(t *testing.T, statuses ...int) *hookRecorder {
	t.Helper()
	h := &hookRecorder{requests: make(chan hookRequest, 32), statuses: statuses}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		var body map[string]any
		if err == nil {
			err = json.Unmarshal(data, &body)
		}
		if err != nil {
			t.Errorf("webhook body %q: %v", data, err)
		}
		h.requests <- hookRequest{header: r.Header.Clone(), body: body}
		h.mu.Lock()
		status := http.StatusOK
		if len(h.statuses) > 0 {
			status, h.statuses = h.statuses[0], h.statuses[1:]
		}
		h.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(server.Close)
	h.url = server.URL + "/hook"
	return h
}

// received returns the requests received so far without waiting.
func (h *hookRecorder) received() []hookRequest {
	var out []hookRequest
	for {
		select {
		case req := <-h.requests:
			out = append(out, req)
		default:
			return out
		}
	}
}

// await waits for the next request, failing the test after a minute.
func (h *hookRecorder) await(t *testing.T) hookRequest {
	t.Helper()
	guard := time.NewTimer(time.Minute)
	defer guard.Stop()
	select {
	case req := <-h.requests:
		return req
	case <-guard.C:
		t.Fatal("no webhook arrived within a minute")
		return hookRequest{}
	}
}

// scanAndAnnounce scans demo/<repo>:<reference> as the robot, moves the fake clock past the
// scan's end and sends one request, which starts the webhooks, then waits for them.
func scanAndAnnounce(t *testing.T, srv *Server, clock *fakeClock, repo, reference string) {
	t.Helper()
	client := apiClient(t, srv, robotLogin, robotSecret)
	if err := triggerScan(client, repo, reference); err != nil {
		t.Fatalf("scanning %s:%s: %v", repo, reference, err)
	}
	clock.Advance(DefaultPending + DefaultRunning)
	rawGet(t, srv, "/api/v2.0/ping", "", "", nil)
	srv.WaitForWebhooks()
}

func decodeJSON(t *testing.T, text string) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// expectedEventData is the event_data of a clean scan of demo/app:v1 that started at the
// fake clock's start.
func expectedEventData(t *testing.T, srv *Server, digest, reportID string) map[string]any {
	t.Helper()
	data, err := json.Marshal(map[string]any{
		"resources": []any{map[string]any{
			"digest": digest, "tag": "v1", "resource_url": srv.Host() + "/demo/app:v1",
			"scan_overview": map[string]any{MimeGenericReport: map[string]any{
				"report_id": reportID, "scan_status": "Success", "severity": "None",
				"duration":   0,
				"summary":    map[string]any{"total": 0, "fixable": 0, "summary": map[string]any{}},
				"start_time": "2025-01-01T10:00:00.1Z", "end_time": "2025-01-01T10:00:00.5Z",
				"scanner": map[string]any{
					"name": "Trivy", "vendor": "Aqua Security", "version": "v0.69.3"},
				"complete_percent": 100,
			}},
		}},
		"repository": map[string]any{"name": "app", "namespace": "demo",
			"repo_full_name": "demo/app", "repo_type": "private"},
		"scan": map[string]any{"scan_type": "vulnerability"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, string(data))
}

func TestWebhookDefaultPayload(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock))
	hook := newHookRecorder(t)
	if _, err := srv.AddWebhookPolicy("demo", *scanPolicy(hook.url, "")); err != nil {
		t.Fatal(err)
	}
	digest := digestOf(t, pushImage(t, srv, "demo/app:v1", robotAuth()))
	scanAndAnnounce(t, srv, clock, "app", "v1")

	requests := hook.received()
	if len(requests) != 1 {
		t.Fatalf("received %d webhooks, want 1", len(requests))
	}
	got := requests[0]
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if auth := got.header.Get("Authorization"); auth != "Bearer s3cr3t" {
		t.Errorf("Authorization = %q, want the auth_header verbatim", auth)
	}
	overview, _ := overviewOf(t, getArtifact(t, apiClient(t, srv, robotLogin, robotSecret),
		"app", "v1", nil))
	want := map[string]any{
		"type": EventScanningCompleted, "occur_at": float64(1735725600),
		"operator":   robotLogin,
		"event_data": expectedEventData(t, srv, digest, overview.ReportID),
	}
	if diff := cmp.Diff(want, got.body); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

func TestWebhookCloudEventsPayload(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock))
	hook := newHookRecorder(t)
	id, err := srv.AddWebhookPolicy("demo", *scanPolicy(hook.url, PayloadFormatCloudEvents))
	if err != nil {
		t.Fatal(err)
	}
	digest := digestOf(t, pushImage(t, srv, "demo/app:v1", robotAuth()))
	scanAndAnnounce(t, srv, clock, "app", "v1")

	requests := hook.received()
	if len(requests) != 1 {
		t.Fatalf("received %d webhooks, want 1", len(requests))
	}
	got := requests[0]
	if ct := got.header.Get("Content-Type"); ct != "application/cloudevents+json" {
		t.Errorf("Content-Type = %q, want application/cloudevents+json", ct)
	}
	if auth := got.header.Get("Authorization"); auth != "Bearer s3cr3t" {
		t.Errorf("Authorization = %q, want the auth_header verbatim", auth)
	}
	for _, key := range []string{"id", "requestid"} {
		if value, _ := got.body[key].(string); len(value) != 36 {
			t.Errorf("%s = %v, want a UUID", key, got.body[key])
		}
		delete(got.body, key)
	}
	overview, _ := overviewOf(t, getArtifact(t, apiClient(t, srv, robotLogin, robotSecret),
		"app", "v1", nil))
	want := map[string]any{
		"specversion": "1.0", "type": "harbor.scan.completed",
		"source":          "/projects/1/webhook/policies/" + jsonNumber(id),
		"datacontenttype": "application/json", "time": "2025-01-01T10:00:00Z",
		"operator": robotLogin,
		"data":     expectedEventData(t, srv, digest, overview.ReportID),
	}
	if diff := cmp.Diff(want, got.body); diff != "" {
		t.Errorf("CloudEvent (-want +got):\n%s", diff)
	}
}

func jsonNumber(n int64) string {
	data, _ := json.Marshal(n)
	return string(data)
}

func TestWebhookOnePerIndexChild(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock))
	hook := newHookRecorder(t)
	if _, err := srv.AddWebhookPolicy("demo", *scanPolicy(hook.url, "")); err != nil {
		t.Fatal(err)
	}
	_, children := pushIndex(t, srv, "demo/multi:v1")
	scanAndAnnounce(t, srv, clock, "multi", "v1")

	var digests []string
	for _, req := range hook.received() {
		data, _ := req.body["event_data"].(map[string]any)
		resources, _ := data["resources"].([]any)
		if len(resources) != 1 {
			t.Fatalf("resources = %v, want one", resources)
		}
		resource := resources[0].(map[string]any)
		digest, _ := resource["digest"].(string)
		digests = append(digests, digest)
		if tag, ok := resource["tag"]; ok {
			t.Errorf("child %s has tag %v, want none", digest, tag)
		}
		if url := resource["resource_url"]; url != srv.Host()+"/demo/multi@"+digest {
			t.Errorf("resource_url = %v, want the child by digest", url)
		}
	}
	if diff := cmp.Diff(sorted(children), sorted(digests)); diff != "" {
		t.Errorf("webhook digests (-want +got):\n%s", diff)
	}
}

func TestWebhookDisabledPolicySendsNothing(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock))
	enabled, disabled := newHookRecorder(t), newHookRecorder(t)
	off := scanPolicy(disabled.url, "")
	off.Enabled = false
	for _, policy := range []*models.WebhookPolicy{off, scanPolicy(enabled.url, "")} {
		if _, err := srv.AddWebhookPolicy("demo", *policy); err != nil {
			t.Fatal(err)
		}
	}
	pushImage(t, srv, "demo/app:v1", robotAuth())
	scanAndAnnounce(t, srv, clock, "app", "v1")

	if got := len(enabled.received()); got != 1 {
		t.Errorf("enabled policy received %d webhooks, want 1", got)
	}
	if got := len(disabled.received()); got != 0 {
		t.Errorf("disabled policy received %d webhooks, want 0", got)
	}
	if got := srv.Stats().WebhookAttempts; got != 1 {
		t.Errorf("WebhookAttempts = %d, want 1", got)
	}
}

func TestWebhookEventTypeByFinalStatus(t *testing.T) {
	fixture, err := ParseFixture([]byte(`rules:
- repository: demo/broken
  status: Error
`))
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock), WithFixture(fixture))
	all, completedOnly := newHookRecorder(t), newHookRecorder(t)
	only := scanPolicy(completedOnly.url, "")
	only.EventTypes = []string{EventScanningCompleted}
	for _, policy := range []*models.WebhookPolicy{scanPolicy(all.url, ""), only} {
		if _, err := srv.AddWebhookPolicy("demo", *policy); err != nil {
			t.Fatal(err)
		}
	}
	pushImage(t, srv, "demo/broken:v1", robotAuth())
	scanAndAnnounce(t, srv, clock, "broken", "v1")
	pushImage(t, srv, "demo/halted:v1", robotAuth())
	client := apiClient(t, srv, robotLogin, robotSecret)
	if err := triggerScan(client, "halted", "v1"); err != nil {
		t.Fatal(err)
	}
	stop := scanapi.NewStopScanArtifactParams().WithProjectName("demo").
		WithRepositoryName("halted").WithReference("v1").
		WithScanType(&models.ScanType{ScanType: "vulnerability"})
	if _, err := client.Scan.StopScanArtifact(context.Background(), stop); err != nil {
		t.Fatalf("stop: %v", err)
	}
	srv.WaitForWebhooks()

	type event struct{ Type, Status, Severity string }
	var got []event
	for _, req := range all.received() {
		data := req.body["event_data"].(map[string]any)
		resource := data["resources"].([]any)[0].(map[string]any)
		for _, summary := range resource["scan_overview"].(map[string]any) {
			fields := summary.(map[string]any)
			got = append(got, event{req.body["type"].(string), fields["scan_status"].(string),
				fields["severity"].(string)})
			for _, key := range []string{"summary", "complete_percent", "duration"} {
				if _, present := fields[key]; !present {
					t.Errorf("%s overview lacks %s, which Harbor never omits", fields["scan_status"],
						key)
				}
			}
		}
	}
	want := []event{
		{EventScanningFailed, StatusError, ""},
		{EventScanningStopped, StatusStopped, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if n := len(completedOnly.received()); n != 0 {
		t.Errorf("policy for SCANNING_COMPLETED received %d webhooks, want 0", n)
	}
}

func TestWebhookRetries(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		want     Stats
		delays   []int
	}{
		{name: "succeeds on third attempt", statuses: []int{500, 503},
			want: Stats{WebhookAttempts: 3, WebhookDeliveries: 1}, delays: []int{1, 2}},
		{name: "gives up after three", statuses: []int{500, 404, 502},
			want: Stats{WebhookAttempts: 3, WebhookFailures: 1}, delays: []int{1, 2}},
		{name: "first attempt succeeds", want: Stats{WebhookAttempts: 1, WebhookDeliveries: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var delays []int
			retryDelay := func(failures int) time.Duration {
				mu.Lock()
				defer mu.Unlock()
				delays = append(delays, failures)
				return 0
			}
			clock := newFakeClock()
			srv := startServer(t, WithClock(clock), WithWebhookRetryDelay(retryDelay))
			hook := newHookRecorder(t, tc.statuses...)
			if _, err := srv.AddWebhookPolicy("demo", *scanPolicy(hook.url, "")); err != nil {
				t.Fatal(err)
			}
			pushImage(t, srv, "demo/app:v1", robotAuth())
			scanAndAnnounce(t, srv, clock, "app", "v1")

			stats := srv.Stats()
			got := Stats{WebhookAttempts: stats.WebhookAttempts,
				WebhookDeliveries: stats.WebhookDeliveries, WebhookFailures: stats.WebhookFailures}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if n := len(hook.received()); n != tc.want.WebhookAttempts {
				t.Errorf("target received %d requests, want %d", n, tc.want.WebhookAttempts)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tc.delays, delays); diff != "" {
				t.Errorf("retry delays by failures (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHarborRetryDelayRange(t *testing.T) {
	bounds := map[int][2]time.Duration{1: {16 * time.Second, 74 * time.Second},
		2: {31 * time.Second, 118 * time.Second}}
	for failures, bound := range bounds {
		for range 200 {
			if d := harborRetryDelay(failures); d < bound[0] || d > bound[1] {
				t.Fatalf("harborRetryDelay(%d) = %s, want %s to %s", failures, d, bound[0],
					bound[1])
			}
		}
	}
	srv := startServer(t)
	if got := srv.sender.client.Timeout; got != 3*time.Second {
		t.Errorf("webhook client timeout = %s, want 3s", got)
	}
}

func TestWebhookFiresAtScanEndWithAfterClock(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC))
	srv := startServer(t, WithClock(clock))
	hook := newHookRecorder(t)
	if _, err := srv.AddWebhookPolicy("demo", *scanPolicy(hook.url, "")); err != nil {
		t.Fatal(err)
	}
	digest := digestOf(t, pushImage(t, srv, "demo/app:v1", robotAuth()))
	if err := triggerScan(apiClient(t, srv, robotLogin, robotSecret), "app", "v1"); err != nil {
		t.Fatal(err)
	}
	clock.Step(DefaultPending + DefaultRunning)

	got := hook.await(t)
	data := got.body["event_data"].(map[string]any)
	resource := data["resources"].([]any)[0].(map[string]any)
	if resource["digest"] != digest {
		t.Errorf("digest = %v, want %s", resource["digest"], digest)
	}
}

func TestCloseCancelsWebhookRetries(t *testing.T) {
	clock := newFakeClock()
	srv, err := New(WithClock(clock), WithProject(Project{Name: "demo"}),
		WithRobot("demo", "ci", robotSecret),
		WithWebhookRetryDelay(func(int) time.Duration { return time.Hour }))
	if err != nil {
		t.Fatal(err)
	}
	hook := newHookRecorder(t, 500, 500, 500)
	if _, err := srv.AddWebhookPolicy("demo", *scanPolicy(hook.url, "")); err != nil {
		t.Fatal(err)
	}
	pushImage(t, srv, "demo/app:v1", robotAuth())
	if err := triggerScan(apiClient(t, srv, robotLogin, robotSecret), "app", "v1"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(DefaultPending + DefaultRunning)
	rawGet(t, srv, "/api/v2.0/ping", "", "", nil)
	hook.await(t)

	if err := srv.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	stats := srv.Stats()
	if stats.WebhookAttempts != 1 || stats.WebhookFailures != 0 {
		t.Errorf("attempts = %d, failures = %d after Close, want 1 and 0",
			stats.WebhookAttempts, stats.WebhookFailures)
	}
}
