package harbor

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testRetryPolicy retries three times in all with delays of 10ms and 20ms before jitter.
var testRetryPolicy = RetryPolicy{MaxAttempts: 3, Delay: 10 * time.Millisecond,
	MaxDelay: 5 * time.Second}

// recordWaits makes c's retries record their delays instead of sleeping, with no jitter.
func recordWaits(c *Client) *[]time.Duration {
	var waits []time.Duration
	retries := c.api.Transport.(*retryTransport)
	retries.random = func() float64 { return 0 }
	retries.wait = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	return &waits
}

// replyRetryAfter writes 429 with a Retry-After header.
func replyRetryAfter(value string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", value)
		replyError(http.StatusTooManyRequests, "TOO_MANY_REQUEST", "too many requests")(w, r)
	}
}

// resetConnection closes the connection with a TCP reset instead of responding.
func resetConnection(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.(*net.TCPConn).SetLinger(0)
	_ = conn.Close()
}

func TestRetryPing(t *testing.T) {
	tests := []struct {
		name      string
		responses []http.HandlerFunc
		wantErr   string // empty for success
		wantCalls int
		wantWaits []time.Duration
	}{
		{name: "5xx burst then success",
			responses: []http.HandlerFunc{
				replyError(http.StatusServiceUnavailable, "UNKNOWN", "internal server error"),
				replyError(http.StatusBadGateway, "", ""), replyPong},
			wantCalls: 3, wantWaits: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}},
		{name: "connection reset then success",
			responses: []http.HandlerFunc{resetConnection, replyPong},
			wantCalls: 2, wantWaits: []time.Duration{10 * time.Millisecond}},
		{name: "429 waits for Retry-After",
			responses: []http.HandlerFunc{replyRetryAfter("3"), replyPong},
			wantCalls: 2, wantWaits: []time.Duration{3 * time.Second}},
		{name: "Retry-After above the maximum delay ends the retries",
			responses: []http.HandlerFunc{replyRetryAfter("60"), replyPong},
			wantErr:   "HTTP 429 TOO_MANY_REQUEST, request ID", wantCalls: 1},
		{name: "5xx on every attempt",
			responses: []http.HandlerFunc{replyError(http.StatusInternalServerError, "UNKNOWN",
				"internal server error")},
			wantErr: "HTTP 500", wantCalls: 3,
			wantWaits: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}},
		{name: "401 is not retried",
			responses: []http.HandlerFunc{replyError(http.StatusUnauthorized, "UNAUTHORIZED",
				"unauthorized"), replyPong},
			wantErr: "HTTP 401", wantCalls: 1},
		{name: "403 is not retried",
			responses: []http.HandlerFunc{replyError(http.StatusForbidden, "FORBIDDEN",
				"forbidden"), replyPong},
			wantErr: "HTTP 403", wantCalls: 1},
		{name: "412 is not retried",
			responses: []http.HandlerFunc{replyError(http.StatusPreconditionFailed,
				"PRECONDITION", "policy"), replyPong},
			wantErr: "HTTP 412", wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeHarbor()
			fake.handle("GET /api/v2.0/ping", sequence(tc.responses...))
			c := startFakeWithRetry(t, fake, testRetryPolicy)
			waits := recordWaits(c)

			err := c.Ping(context.Background())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Ping() error = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Ping() error = %v, want one containing %q", err, tc.wantErr)
			}
			if got := len(fake.recorded()); got != tc.wantCalls {
				t.Errorf("requests = %d, want %d", got, tc.wantCalls)
			}
			if diff := cmp.Diff(tc.wantWaits, *waits); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRetryAfterAboveMaximumKeepsWait(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET /api/v2.0/ping", replyRetryAfter("60"))
	c := startFakeWithRetry(t, fake, testRetryPolicy)
	recordWaits(c)

	err := c.Ping(context.Background())
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("Ping() error = %v, want an *APIError", err)
	}
	if apiErr.RetryAfter != time.Minute {
		t.Errorf("RetryAfter = %s, want 1m0s", apiErr.RetryAfter)
	}
	if !strings.Contains(err.Error(), "Retry-After 1m0s") {
		t.Errorf("Ping() error = %q, want it to name the requested wait", err)
	}
}

func TestRetryStartScan(t *testing.T) {
	tests := []struct {
		name      string
		responses []http.HandlerFunc
		wantErr   error // nil for success
		wantCalls int
	}{
		{name: "503 then accepted",
			responses: []http.HandlerFunc{replyError(http.StatusServiceUnavailable, "UNKNOWN",
				"internal server error"), replyAccepted},
			wantCalls: 2},
		// The first attempt reached Harbor, which queued the scan before it failed, so the
		// repetition finds the scan running and starts no second one.
		{name: "500 then already running",
			responses: []http.HandlerFunc{replyError(http.StatusInternalServerError, "UNKNOWN",
				"internal server error"), replyError(http.StatusConflict, "CONFLICT",
				"a previous scan process is Pending")},
			wantErr: ErrScanInProgress, wantCalls: 2},
		{name: "reset then accepted",
			responses: []http.HandlerFunc{resetConnection, replyAccepted},
			wantCalls: 2},
		{name: "400 is not retried",
			responses: []http.HandlerFunc{replyError(http.StatusBadRequest, "BAD_REQUEST",
				"the configured scanner Trivy does not support scanning artifact"),
				replyAccepted},
			wantErr: ErrNotScannable, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFakeHarbor()
			fake.handle("POST "+scanPath, sequence(tc.responses...))
			c := startFakeWithRetry(t, fake, testRetryPolicy)
			recordWaits(c)

			err := c.StartScan(context.Background(), testRef)
			if tc.wantErr == nil && err != nil {
				t.Errorf("StartScan() error = %v, want nil", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("StartScan() error = %v, want %v", err, tc.wantErr)
			}
			if got := len(fake.recorded()); got != tc.wantCalls {
				t.Errorf("requests = %d, want %d", got, tc.wantCalls)
			}
		})
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET "+artifactPath, replyError(http.StatusServiceUnavailable, "UNKNOWN",
		"internal server error"))
	c := startFakeWithRetry(t, fake, testRetryPolicy)
	ctx, cancel := context.WithCancel(context.Background())
	retries := c.api.Transport.(*retryTransport)
	retries.wait = func(context.Context, time.Duration) error {
		cancel()
		return context.Canceled
	}

	_, err := c.Artifact(ctx, testRef)
	if !strings.Contains(fmtErr(err), "HTTP 503") {
		t.Errorf("Artifact() error = %v, want the 503", err)
	}
	if got := len(fake.recorded()); got != 1 {
		t.Errorf("requests = %d, want 1", got)
	}
}

func TestRetryPolicyRejectsInvalid(t *testing.T) {
	tests := []struct {
		name   string
		policy RetryPolicy
	}{
		{name: "negative attempts", policy: RetryPolicy{MaxAttempts: -1}},
		{name: "negative delay", policy: RetryPolicy{Delay: -time.Second}},
		{name: "maximum below delay", policy: RetryPolicy{Delay: time.Minute,
			MaxDelay: time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewClient(Config{URL: "http://127.0.0.1:1", Retry: tc.policy}); err == nil {
				t.Errorf("NewClient(Retry: %+v) error = nil, want an error", tc.policy)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"7", 7 * time.Second},
		{"99999999999", 24 * time.Hour},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tc := range tests {
		if got := parseRetryAfter(tc.value, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.value, got, tc.want)
		}
	}
}

func replyAccepted(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusAccepted)
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
