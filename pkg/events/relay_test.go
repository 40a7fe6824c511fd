package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock is a Clock whose After fires at once and records the requested delays.
type fakeClock struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (c *fakeClock) Now() time.Time { return time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC) }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delays = append(c.delays, d)
	fired := make(chan time.Time, 1)
	fired <- c.Now().Add(d)
	return fired
}

func (c *fakeClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.delays...)
}

// sinkRequest is one request that a sink received.
type sinkRequest struct {
	header http.Header
	body   map[string]any
}

// sink is a CloudEvents sink on a loopback httptest server. It responds with the statuses
// given to newSink in order, then with 202. With a release channel it holds each request until the
// channel is closed.
type sink struct {
	url      string
	requests chan sinkRequest

	mu       sync.Mutex
	statuses []int
}

func newSink(t *testing.T, release <-chan struct{}, statuses ...int) *sink {
	t.Helper()
	s := &sink{requests: make(chan sinkRequest, 32), statuses: statuses}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(data, &body); err != nil {
			t.Errorf("sink body %q: %v", data, err)
		}
		s.requests <- sinkRequest{header: r.Header.Clone(), body: body}
		if release != nil {
			<-release
		}
		s.mu.Lock()
		status := http.StatusAccepted
		if len(s.statuses) > 0 {
			status, s.statuses = s.statuses[0], s.statuses[1:]
		}
		s.mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte("sink says hello"))
	}))
	t.Cleanup(server.Close)
	s.url = server.URL + "/events"
	return s
}

func (s *sink) received() []sinkRequest {
	var out []sinkRequest
	for {
		select {
		case req := <-s.requests:
			out = append(out, req)
		default:
			return out
		}
	}
}

func (s *sink) await(t *testing.T) sinkRequest {
	t.Helper()
	guard := time.NewTimer(time.Minute)
	defer guard.Stop()
	select {
	case req := <-s.requests:
		return req
	case <-guard.C:
		t.Fatal("no request reached the sink within a minute")
		return sinkRequest{}
	}
}

// fixedJitter makes the jitter take the middle of its range.
func fixedJitter(c *relayConfig) { c.random = func() float64 { return 0.5 } }

func newTestRelay(t *testing.T, url string, opts ...RelayOption) (*Relay, *fakeClock) {
	t.Helper()
	clock := &fakeClock{}
	base := []RelayOption{WithClock(clock), WithBackoff(100*time.Millisecond, time.Second),
		fixedJitter}
	r, err := NewRelay(url, append(base, opts...)...)
	if err != nil {
		t.Fatalf("NewRelay() error = %v", err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r, clock
}

func verdictEvent(id string) Event {
	return Event{
		ID:     id,
		Source: CustomRunSource("team-a", "build-42-gate"),
		Data: VerdictData{
			Image: "registry.druppie.local/team/app", Digest: testDigest,
			Verdict: VerdictFail, Reason: "2 Critical vulnerabilities, threshold 0",
			Counts:      map[string]int64{"Critical": 2, "High": 0},
			PipelineRun: "build-42", Namespace: "team-a",
			ArtifactURL: "https://registry.druppie.local/harbor/projects/1/repositories/app",
		},
	}
}

func ids(requests []sinkRequest) []string {
	var out []string
	for _, req := range requests {
		id, _ := req.body["id"].(string)
		out = append(out, id)
	}
	return out
}

func TestRelaySendNowStructuredEvent(t *testing.T) {
	s := newSink(t, nil)
	r, _ := newTestRelay(t, s.url, WithSinkHeader("Authorization", "Bearer sink-token"))
	if err := r.SendNow(context.Background(), verdictEvent("run-uid-1")); err != nil {
		t.Fatalf("SendNow() error = %v", err)
	}
	got := s.await(t)
	if ct := got.header.Get("Content-Type"); ct != "application/cloudevents+json" {
		t.Errorf("Content-Type = %q, want structured mode", ct)
	}
	if auth := got.header.Get("Authorization"); auth != "Bearer sink-token" {
		t.Errorf("Authorization = %q, want the sink header", auth)
	}
	want := map[string]any{
		"specversion": "1.0", "id": "run-uid-1", "type": EventTypeScanCompleted,
		"source":          "/apis/tekton.dev/v1beta1/namespaces/team-a/customruns/build-42-gate",
		"subject":         "registry.druppie.local/team/app@" + testDigest,
		"time":            "2025-01-01T10:00:00Z",
		"datacontenttype": "application/json",
		"data": map[string]any{
			"image": "registry.druppie.local/team/app", "digest": testDigest,
			"verdict": "FAIL", "reason": "2 Critical vulnerabilities, threshold 0",
			"counts":      map[string]any{"Critical": float64(2), "High": float64(0)},
			"pipelineRun": "build-42", "namespace": "team-a",
			"artifactURL": "https://registry.druppie.local/harbor/projects/1/repositories/app",
		},
	}
	if diff := cmp.Diff(want, got.body); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
}

func TestRelayRetries(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		wantErr  error
		attempts int
		delays   []time.Duration
	}{
		{name: "fails twice then succeeds", statuses: []int{503, 500}, attempts: 3,
			delays: []time.Duration{75 * time.Millisecond, 150 * time.Millisecond}},
		{name: "429 is retried", statuses: []int{429}, attempts: 2,
			delays: []time.Duration{75 * time.Millisecond}},
		{name: "408 is retried", statuses: []int{408}, attempts: 2,
			delays: []time.Duration{75 * time.Millisecond}},
		{name: "400 gives up", statuses: []int{400}, attempts: 1, wantErr: ErrRejected},
		{name: "403 gives up", statuses: []int{403}, attempts: 1, wantErr: ErrRejected},
		{name: "attempts run out", statuses: []int{500, 500, 500, 500}, attempts: 4,
			wantErr: ErrAttemptsExhausted, delays: []time.Duration{75 * time.Millisecond,
				150 * time.Millisecond, 300 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink(t, nil, tc.statuses...)
			r, clock := newTestRelay(t, s.url, WithMaxAttempts(4))
			err := r.SendNow(context.Background(), verdictEvent("e-1"))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("SendNow() error = %v, want %v", err, tc.wantErr)
			}
			if got := len(s.received()); got != tc.attempts {
				t.Errorf("sink received %d requests, want %d", got, tc.attempts)
			}
			if diff := cmp.Diff(tc.delays, clock.recorded()); diff != "" {
				t.Errorf("backoff delays (-want +got):\n%s", diff)
			}
			stats := r.Stats()
			if stats.Attempts != int64(tc.attempts) {
				t.Errorf("Stats().Attempts = %d, want %d", stats.Attempts, tc.attempts)
			}
		})
	}
}

func TestRelayRetriesNetworkErrors(t *testing.T) {
	server := httptest.NewServer(http.NotFoundHandler())
	url := server.URL
	server.Close()
	r, clock := newTestRelay(t, url, WithMaxAttempts(3))
	err := r.SendNow(context.Background(), verdictEvent("e-1"))
	if !errors.Is(err, ErrAttemptsExhausted) {
		t.Fatalf("SendNow() error = %v, want ErrAttemptsExhausted", err)
	}
	if got := len(clock.recorded()); got != 2 {
		t.Errorf("backoff waits = %d, want 2", got)
	}
}

func TestRelayNetworkErrorHidesQuery(t *testing.T) {
	server := httptest.NewServer(http.NotFoundHandler())
	sinkURL := strings.Replace(server.URL, "http://", "http://core:hunter2@", 1) +
		"/events?access_token=tok3n#frag-tok3n"
	server.Close()
	r, _ := newTestRelay(t, sinkURL, WithMaxAttempts(2))
	err := r.SendNow(context.Background(), verdictEvent("e-1"))
	if !errors.Is(err, ErrAttemptsExhausted) {
		t.Fatalf("SendNow() error = %v, want ErrAttemptsExhausted", err)
	}
	for _, secret := range []string{"hunter2", "tok3n"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error contains %q: %v", secret, err)
		}
	}
	if !strings.Contains(err.Error(), "/events?(query not shown)#(fragment not shown)") {
		t.Errorf("error = %v, want it to name the sink without its query", err)
	}
}

func TestRelayBackoffCapped(t *testing.T) {
	r, _ := newTestRelay(t, "http://127.0.0.1:1/events")
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{failures: 1, want: 75 * time.Millisecond},
		{failures: 3, want: 300 * time.Millisecond},
		{failures: 4, want: 600 * time.Millisecond},
		{failures: 5, want: 750 * time.Millisecond},
		{failures: 50, want: 750 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := r.backoff(tc.failures); got != tc.want {
			t.Errorf("backoff(%d) = %s, want %s", tc.failures, got, tc.want)
		}
	}
}

func TestRelaySendQueuesAndCloseDrains(t *testing.T) {
	s := newSink(t, nil, 500)
	r, _ := newTestRelay(t, s.url)
	for _, id := range []string{"e-1", "e-2"} {
		if err := r.Send(verdictEvent(id)); err != nil {
			t.Fatalf("Send(%s) error = %v", id, err)
		}
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	if diff := cmp.Diff([]string{"e-1", "e-1", "e-2"}, ids(s.received())); diff != "" {
		t.Errorf("sink requests by event id (-want +got):\n%s", diff)
	}
	want := RelayStats{Sent: 2, Attempts: 3}
	if diff := cmp.Diff(want, r.Stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if err := r.Send(verdictEvent("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: error = %v, want ErrClosed", err)
	}
	if err := r.SendNow(context.Background(), verdictEvent("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("SendNow after Close: error = %v, want ErrClosed", err)
	}
}

func TestRelayDropsOldestWhenFull(t *testing.T) {
	release := make(chan struct{})
	s := newSink(t, release)
	r, _ := newTestRelay(t, s.url, WithQueueSize(2))
	if err := r.Send(verdictEvent("e-1")); err != nil {
		t.Fatal(err)
	}
	s.await(t) // the worker holds e-1 in flight, so later events queue
	for _, id := range []string{"e-2", "e-3", "e-4"} {
		if err := r.Send(verdictEvent(id)); err != nil {
			t.Fatalf("Send(%s) error = %v", id, err)
		}
	}
	if stats := r.Stats(); stats.Dropped != 1 || stats.Queued != 2 {
		t.Errorf("dropped = %d, queued = %d while full, want 1 and 2", stats.Dropped,
			stats.Queued)
	}
	close(release)
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	if diff := cmp.Diff([]string{"e-3", "e-4"}, ids(s.received())); diff != "" {
		t.Errorf("events after e-1 (-want +got):\n%s", diff)
	}
}

func TestRelayCloseGivesUpAtDeadline(t *testing.T) {
	release := make(chan struct{})
	s := newSink(t, release)
	t.Cleanup(func() { close(release) })
	r, _ := newTestRelay(t, s.url)
	for _, id := range []string{"e-1", "e-2"} {
		if err := r.Send(verdictEvent(id)); err != nil {
			t.Fatal(err)
		}
	}
	s.await(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := r.Close(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Close() error = %v, want context.Canceled", err)
	}
	stats := r.Stats()
	if stats.Dropped != 1 || stats.Failed != 1 || stats.Queued != 0 {
		t.Errorf("dropped = %d, failed = %d, queued = %d, want 1, 1 and 0", stats.Dropped,
			stats.Failed, stats.Queued)
	}
}

func TestRelayErrorHandlerAndNoSecrets(t *testing.T) {
	s := newSink(t, nil, 400)
	userinfoURL := strings.Replace(s.url, "http://", "http://core:hunter2@", 1)
	failures := make(chan error, 1)
	r, _ := newTestRelay(t, userinfoURL, WithSinkHeader("Authorization", "Bearer tok3n"),
		WithErrorHandler(func(err error) { failures <- err }))
	if err := r.Send(verdictEvent("e-1")); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-failures:
	default:
		t.Fatal("error handler was not called")
	}
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "e-1") {
		t.Errorf("error = %v, want ErrRejected naming the event", err)
	}
	output := err.Error() + fmt.Sprintf("%+v", r.Stats())
	for _, secret := range []string{"hunter2", "tok3n"} {
		if strings.Contains(output, secret) {
			t.Errorf("output contains %q: %s", secret, output)
		}
	}
}

func TestRelayRejectsInvalidInput(t *testing.T) {
	tests := []struct {
		name string
		sink string
		opts []RelayOption
	}{
		{name: "ftp sink", sink: "ftp://core.example/events"},
		{name: "relative sink", sink: "/events"},
		{name: "empty sink", sink: ""},
		{name: "zero queue", sink: "https://core:hunter2@core.example", opts: []RelayOption{
			WithQueueSize(0)}},
		{name: "zero attempts", sink: "https://core.example", opts: []RelayOption{
			WithMaxAttempts(0)}},
		{name: "inverted backoff", sink: "https://core.example", opts: []RelayOption{
			WithBackoff(time.Second, time.Millisecond)}},
		{name: "nil client", sink: "https://core.example", opts: []RelayOption{
			WithHTTPClient(nil)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRelay(tc.sink, tc.opts...)
			if !errors.Is(err, ErrInvalidConfig) {
				if r != nil {
					_ = r.Close(context.Background())
				}
				t.Fatalf("NewRelay() error = %v, want ErrInvalidConfig", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error contains the sink password: %v", err)
			}
		})
	}
	r, _ := newTestRelay(t, "http://127.0.0.1:1/events")
	noSource := verdictEvent("e-1")
	noSource.Source = ""
	if err := r.Send(noSource); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("Send without source: error = %v, want ErrInvalidEvent", err)
	}
	if err := r.SendNow(context.Background(), noSource); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("SendNow without source: error = %v, want ErrInvalidEvent", err)
	}
}

func TestRelayDefaultsIDAndTime(t *testing.T) {
	s := newSink(t, nil)
	r, _ := newTestRelay(t, s.url)
	ev := verdictEvent("")
	ev.Source = SourceCLI
	if err := r.SendNow(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	got := s.await(t).body
	if id, _ := got["id"].(string); len(id) != 36 {
		t.Errorf("id = %v, want a UUID", got["id"])
	}
	if got["time"] != "2025-01-01T10:00:00Z" || got["source"] != SourceCLI {
		t.Errorf("time = %v, source = %v, want the clock's time and %s", got["time"],
			got["source"], SourceCLI)
	}
}
