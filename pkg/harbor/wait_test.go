package harbor

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-cmp/cmp"
)

// scanPath is the escaped path of POST .../scan for testRef.
const scanPath = artifactPath + "/scan"

// testWaitOptions returns the default options with clock and a jitter factor of exactly 1.
func testWaitOptions(clock Clock) WaitOptions {
	return WaitOptions{Clock: clock, random: func() float64 { return 0.5 }}
}

// replyStatus returns a handler that writes testRef's artifact with a scan in status.
func replyStatus(status ScanStatus) http.HandlerFunc {
	return replyArtifact(scannableArtifact(inProgress(status)))
}

// replySuccess writes testRef's artifact with a finished scan.
var replySuccess = replyArtifact(scannableArtifact(finished(MIMETypeGenericReport)))

// truncateBody sends the start of a 200 response and then aborts the connection, like a
// proxy that crashes mid-response. The client cannot retry it transparently.
func truncateBody(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "1000")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`{"digest":`))
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

func TestWaitForScanStartsScanAfterGrace(t *testing.T) {
	fake := newFakeHarbor()
	var requested atomic.Bool
	afterRequest := sequence(replyStatus(ScanPending), replyStatus(ScanRunning), replySuccess)
	fake.handle("GET "+artifactPath, func(w http.ResponseWriter, r *http.Request) {
		if requested.Load() {
			afterRequest(w, r)
			return
		}
		replyArtifact(scannableArtifact(nil))(w, r)
	})
	fake.handle("POST "+scanPath, func(w http.ResponseWriter, _ *http.Request) {
		requested.Store(true)
		w.WriteHeader(http.StatusAccepted)
	})
	c := startFake(t, fake)
	clock := newFakeClock()
	opts := testWaitOptions(clock)
	var seen []ScanStatus
	opts.OnPoll = func(s Scan) { seen = append(seen, s.Status) }

	got, err := c.WaitForScan(context.Background(), testRef, opts)
	if err != nil {
		t.Fatalf("WaitForScan() error = %v", err)
	}
	if diff := cmp.Diff(finishedScan(MIMETypeGenericReport), got); diff != "" {
		t.Errorf("WaitForScan() (-want +got):\n%s", diff)
	}

	get, post := "GET "+artifactPath, "POST "+scanPath
	wantRequests := []string{get, get, get, get, get, post, get, get, get}
	if diff := cmp.Diff(wantRequests, fake.methods()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	// The first four delays add up to the 10s grace period, so the fifth poll starts the scan.
	// The next poll comes one grace period after the request at the latest.
	wantDelays := []time.Duration{
		2 * time.Second, 3 * time.Second, 4500 * time.Millisecond, 500 * time.Millisecond,
		10 * time.Second, 15187500 * time.Microsecond, 22781250 * time.Microsecond,
	}
	if diff := cmp.Diff(wantDelays, clock.delays); diff != "" {
		t.Errorf("delays (-want +got):\n%s", diff)
	}
	wantSeen := []ScanStatus{ScanNotStarted, ScanNotStarted, ScanNotStarted, ScanNotStarted,
		ScanNotStarted, ScanPending, ScanRunning, ScanSuccess}
	if diff := cmp.Diff(wantSeen, seen); diff != "" {
		t.Errorf("OnPoll statuses (-want +got):\n%s", diff)
	}
}

func TestWaitForScanStartScanConflict(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET "+artifactPath, sequence(
		replyArtifact(scannableArtifact(nil)), replyStatus(ScanRunning), replySuccess))
	fake.handle("POST "+scanPath, replyError(http.StatusConflict, "CONFLICT",
		"a previous scan process is Running"))
	c := startFake(t, fake)
	opts := testWaitOptions(newFakeClock())
	opts.Grace = time.Nanosecond // Request the scan at the first poll that finds none.

	got, err := c.WaitForScan(context.Background(), testRef, opts)
	if err != nil {
		t.Fatalf("WaitForScan() error = %v, want nil after a 409 on POST .../scan", err)
	}
	if got.Status != ScanSuccess {
		t.Errorf("WaitForScan() status = %s, want Success", got.Status)
	}
}

func TestWaitForScanNotScannable(t *testing.T) {
	tests := []struct {
		name     string
		artifact *models.Artifact
		scan     http.HandlerFunc
		wantText string
		wantPost int
	}{
		{
			name:     "no vulnerabilities link",
			artifact: unscannableArtifact(nil),
			wantText: "no vulnerabilities addition link",
		},
		{
			name:     "no scanner",
			artifact: scannableArtifact(nil),
			scan: replyError(http.StatusPreconditionFailed, "PRECONDITION",
				"no available scanner for project: 7"),
			wantText: "no available scanner for project: 7",
			wantPost: 1,
		},
		{
			name:     "scanner unreachable",
			artifact: scannableArtifact(nil),
			scan: replyError(http.StatusBadRequest, "BAD_REQUEST",
				"the configured scanner Trivy does not support scanning artifact with mime type x"),
			wantText: "does not support scanning",
			wantPost: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeHarbor()
			fake.handle("GET "+artifactPath, replyArtifact(tt.artifact))
			var posts atomic.Int32
			fake.handle("POST "+scanPath, func(w http.ResponseWriter, r *http.Request) {
				posts.Add(1)
				tt.scan(w, r)
			})
			c := startFake(t, fake)

			got, err := c.WaitForScan(context.Background(), testRef, testWaitOptions(newFakeClock()))
			if !errors.Is(err, ErrNotScannable) {
				t.Fatalf("WaitForScan() error = %v, want ErrNotScannable", err)
			}
			if !strings.Contains(err.Error(), tt.wantText) || !strings.Contains(err.Error(), testDigest) {
				t.Errorf("WaitForScan() error = %q, want it to contain %q and the digest", err, tt.wantText)
			}
			if got.Status != ScanNotScannable {
				t.Errorf("WaitForScan() status = %s, want NotScannable", got.Status)
			}
			if int(posts.Load()) != tt.wantPost {
				t.Errorf("POST .../scan requests = %d, want %d", posts.Load(), tt.wantPost)
			}
		})
	}
}

func TestWaitForScanFinalFailureIsNoError(t *testing.T) {
	for _, status := range []ScanStatus{ScanError, ScanStopped} {
		t.Run(string(status), func(t *testing.T) {
			fake := newFakeHarbor()
			fake.handle("GET "+artifactPath, sequence(replyStatus(ScanRunning), replyStatus(status)))
			c := startFake(t, fake)

			got, err := c.WaitForScan(context.Background(), testRef, testWaitOptions(newFakeClock()))
			if err != nil {
				t.Fatalf("WaitForScan() error = %v, want nil", err)
			}
			if got.Status != status {
				t.Errorf("WaitForScan() status = %s, want %s", got.Status, status)
			}
		})
	}
}

func TestWaitForScanTimeout(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET "+artifactPath, replyStatus(ScanRunning))
	c := startFake(t, fake)
	clock := newFakeClock()
	opts := testWaitOptions(clock)
	opts.Timeout = time.Minute

	got, err := c.WaitForScan(context.Background(), testRef, opts)
	if !errors.Is(err, ErrScanTimeout) {
		t.Fatalf("WaitForScan() error = %v, want ErrScanTimeout", err)
	}
	for _, want := range []string{testDigest, "last status Running", "1m0s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("WaitForScan() error = %q, want it to contain %q", err, want)
		}
	}
	if got.Status != ScanRunning {
		t.Errorf("WaitForScan() status = %s, want Running", got.Status)
	}
	// The last delay is cut short so that the final poll happens at the deadline.
	if clock.total() != time.Minute {
		t.Errorf("time waited = %s, want exactly the 1m timeout", clock.total())
	}
	if n := len(fake.recorded()); n != 8 {
		t.Errorf("polls = %d, want 8", n)
	}
}

func TestWaitForScanTimeoutAfterErrors(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET "+artifactPath, replyError(http.StatusServiceUnavailable, "UNKNOWN",
		"internal server error"))
	c := startFake(t, fake)
	opts := testWaitOptions(newFakeClock())
	opts.Timeout = 20 * time.Second

	_, err := c.WaitForScan(context.Background(), testRef, opts)
	if !errors.Is(err, ErrScanTimeout) {
		t.Fatalf("WaitForScan() error = %v, want ErrScanTimeout", err)
	}
	if !strings.Contains(err.Error(), "last error: getting artifact") ||
		!strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("WaitForScan() error = %q, want it to name the last HTTP 503 error", err)
	}
}

func TestWaitForScanRetriesTransientErrors(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET "+artifactPath, sequence(
		replyError(http.StatusInternalServerError, "UNKNOWN", "internal server error"),
		replyError(http.StatusServiceUnavailable, "UNKNOWN", "internal server error"),
		replyError(http.StatusTooManyRequests, "TOO_MANY_REQUEST", "too many requests"),
		truncateBody,
		replyArtifact(scannableArtifact(models.ScanOverview{MIMETypeGenericReport: {
			ScanStatus: "Success", Severity: "High", // no summary: malformed
		}})),
		replySuccess,
	))
	c := startFake(t, fake)
	clock := newFakeClock()

	got, err := c.WaitForScan(context.Background(), testRef, testWaitOptions(clock))
	if err != nil {
		t.Fatalf("WaitForScan() error = %v, want nil after transient errors", err)
	}
	if got.Status != ScanSuccess {
		t.Errorf("WaitForScan() status = %s, want Success", got.Status)
	}
	if n := len(fake.recorded()); n != 6 {
		t.Errorf("polls = %d, want 6", n)
	}
	if n := len(clock.delays); n != 5 {
		t.Errorf("delays = %d, want 5", n)
	}
}

func TestWaitForScanEndsOnClientError(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		code     string
		sentinel error
	}{
		{name: "unauthorized", status: http.StatusUnauthorized, code: "UNAUTHORIZED", sentinel: ErrUnauthorized},
		{name: "forbidden", status: http.StatusForbidden, code: "FORBIDDEN", sentinel: ErrForbidden},
		{name: "not found", status: http.StatusNotFound, code: "NOT_FOUND", sentinel: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeHarbor()
			fake.handle("GET "+artifactPath, replyError(tt.status, tt.code, strings.ToLower(tt.name)))
			c := startFake(t, fake)
			clock := newFakeClock()

			_, err := c.WaitForScan(context.Background(), testRef, testWaitOptions(clock))
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("WaitForScan() error = %v, want %v", err, tt.sentinel)
			}
			if n := len(fake.recorded()); n != 1 {
				t.Errorf("polls = %d, want 1", n)
			}
			if len(clock.delays) != 0 {
				t.Errorf("delays = %v, want none", clock.delays)
			}
		})
	}
}

// blockingClock is a Clock whose After never fires.
type blockingClock struct{ fakeClock }

func (*blockingClock) After(time.Duration) <-chan time.Time { return nil }

func TestWaitForScanContextCanceled(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET "+artifactPath, replyStatus(ScanRunning))
	c := startFake(t, fake)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := testWaitOptions(&blockingClock{*newFakeClock()})
	opts.OnPoll = func(Scan) { cancel() }

	got, err := c.WaitForScan(ctx, testRef, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitForScan() error = %v, want context.Canceled", err)
	}
	if got.Status != ScanRunning {
		t.Errorf("WaitForScan() status = %s, want Running", got.Status)
	}
}

func TestWaitOptionsRejected(t *testing.T) {
	tests := []struct {
		name    string
		opts    WaitOptions
		wantErr string
	}{
		{name: "negative grace", opts: WaitOptions{Grace: -time.Second}, wantErr: "invalid grace period -1s"},
		{name: "negative timeout", opts: WaitOptions{Timeout: -time.Minute}, wantErr: "invalid scan timeout"},
		{
			name:    "maximum below initial",
			opts:    WaitOptions{PollInterval: 10 * time.Second, MaxInterval: 5 * time.Second},
			wantErr: "less than the poll interval 10s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeHarbor()
			c := startFake(t, fake)

			_, err := c.WaitForScan(context.Background(), testRef, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("WaitForScan() error = %v, want one containing %q", err, tt.wantErr)
			}
			if n := len(fake.recorded()); n != 0 {
				t.Errorf("requests = %d, want 0", n)
			}
		})
	}
}

func TestBackoffGrowthAndJitterBounds(t *testing.T) {
	tests := []struct {
		poll     int
		wantLow  time.Duration // with the smallest jitter
		wantHigh time.Duration // with the largest jitter
	}{
		{poll: 1, wantLow: 1600 * time.Millisecond, wantHigh: 2400 * time.Millisecond},
		{poll: 2, wantLow: 2400 * time.Millisecond, wantHigh: 3600 * time.Millisecond},
		{poll: 3, wantLow: 3600 * time.Millisecond, wantHigh: 5400 * time.Millisecond},
		{poll: 5, wantLow: 8100 * time.Millisecond, wantHigh: 12150 * time.Millisecond},
		{poll: 7, wantLow: 18225 * time.Millisecond, wantHigh: 27337500 * time.Microsecond},
		{poll: 8, wantLow: 24 * time.Second, wantHigh: 30 * time.Second},
		{poll: 1000, wantLow: 24 * time.Second, wantHigh: 30 * time.Second},
	}
	low, err := WaitOptions{random: func() float64 { return 0 }}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	high := low
	high.random = func() float64 { return math.Nextafter(1, 0) }
	real, err := WaitOptions{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range tests {
		if got := low.backoff(tt.poll); !within(got, tt.wantLow, time.Microsecond) {
			t.Errorf("backoff(%d) with the smallest jitter = %s, want %s", tt.poll, got, tt.wantLow)
		}
		if got := high.backoff(tt.poll); !within(got, tt.wantHigh, time.Microsecond) {
			t.Errorf("backoff(%d) with the largest jitter = %s, want %s", tt.poll, got, tt.wantHigh)
		}
		distinct := map[time.Duration]bool{}
		for range 200 {
			got := real.backoff(tt.poll)
			distinct[got] = true
			if got < tt.wantLow || got > tt.wantHigh {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", tt.poll, got, tt.wantLow, tt.wantHigh)
			}
		}
		if len(distinct) < 2 {
			t.Errorf("backoff(%d) returned one value in 200 calls, want jitter", tt.poll)
		}
	}
}

// within reports whether got is at most tolerance away from want.
func within(got, want, tolerance time.Duration) bool {
	return got >= want-tolerance && got <= want+tolerance
}

func TestPollScanState(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET "+artifactPath, sequence(
		replyArtifact(scannableArtifact(nil)),
		replyArtifact(scannableArtifact(nil)),
		replyError(http.StatusBadGateway, "", ""),
		replySuccess,
	))
	fake.handle("POST "+scanPath, replyError(http.StatusConflict, "CONFLICT",
		"a previous scan process is Pending"))
	c := startFake(t, fake)
	clock := newFakeClock()
	start := clock.now
	opts := testWaitOptions(clock)
	ctx := context.Background()

	// The first poll finds no scan, inside the grace period.
	s, state, delay, err := c.PollScan(ctx, testRef, WaitState{}, opts)
	if err != nil || s.Status != ScanNotStarted || delay != 2*time.Second {
		t.Fatalf("poll 1 = (%s, %s, %v), want (NotStarted, 2s, nil)", s.Status, delay, err)
	}
	want := WaitState{FirstSeen: start, Polls: 1, LastStatus: ScanNotStarted}
	if diff := cmp.Diff(want, state); diff != "" {
		t.Errorf("state after poll 1 (-want +got):\n%s", diff)
	}

	// After the grace period the poll requests a scan. The 409 counts as requested.
	clock.now = start.Add(DefaultGrace)
	_, state, _, err = c.PollScan(ctx, testRef, state, opts)
	if err != nil {
		t.Fatalf("poll 2 error = %v", err)
	}
	want = WaitState{FirstSeen: start, ScanRequested: clock.now, Polls: 2, LastStatus: ScanNotStarted}
	if diff := cmp.Diff(want, state); diff != "" {
		t.Errorf("state after poll 2 (-want +got):\n%s", diff)
	}

	// A 502 is retried: no error, a delay, and the error in the state.
	s, state, delay, err = c.PollScan(ctx, testRef, state, opts)
	if err != nil || delay <= 0 || s.Status != "" {
		t.Fatalf("poll 3 = (%q, %s, %v), want (\"\", a delay, nil)", s.Status, delay, err)
	}
	if !strings.Contains(state.LastError, "HTTP 502") || state.LastStatus != ScanNotStarted {
		t.Errorf("state after poll 3 = %+v, want LastError with HTTP 502 and LastStatus NotStarted", state)
	}

	// The state survives a JSON round trip, as a controller stores it in its status.
	data, err := json.Marshal(state)
	if err != nil {
		t.Fatalf("json.Marshal(state) error = %v", err)
	}
	var decoded WaitState
	if err := json.Unmarshal(data, &decoded); err != nil {
		t.Fatalf("json.Unmarshal(%s) error = %v", data, err)
	}
	if diff := cmp.Diff(state, decoded); diff != "" {
		t.Errorf("state after JSON round trip (-want +got):\n%s", diff)
	}

	// A final status ends the wait with a zero delay and clears the error.
	s, state, delay, err = c.PollScan(ctx, testRef, decoded, opts)
	if err != nil || s.Status != ScanSuccess || delay != 0 {
		t.Fatalf("poll 4 = (%s, %s, %v), want (Success, 0, nil)", s.Status, delay, err)
	}
	if state.LastError != "" || state.LastStatus != ScanSuccess || state.Polls != 4 {
		t.Errorf("state after poll 4 = %+v, want no LastError, LastStatus Success, 4 polls", state)
	}
}
