package harbor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/go-openapi/runtime"
)

// Defaults of RetryPolicy.
const (
	// DefaultMaxAttempts is the number of times a request is sent at most, the first time
	// included.
	DefaultMaxAttempts = 4
	// DefaultRetryDelay is the delay before the first repetition, before jitter.
	DefaultRetryDelay = 250 * time.Millisecond
	// DefaultMaxRetryDelay is the longest delay before a repetition. A Retry-After header
	// that requests a longer wait ends the retries.
	DefaultMaxRetryDelay = 10 * time.Second
)

// maxRetryAfterSeconds is the largest Retry-After that is read, one day.
const maxRetryAfterSeconds = 24 * 60 * 60

// scanArtifactID is go-client's operation ID of POST .../artifacts/{reference}/scan.
//
// NOTE: when a scan request reached Harbor but its response was lost, and the scan ended
// before the repetition arrives, Harbor replaces the finished report with a new scan of the
// same digest. The wait then follows the new scan, so the verdict is unchanged, but Harbor
// scans once more.
const scanArtifactID = "scanArtifact"

// RetryPolicy sets how a Client repeats requests that failed on the way or in Harbor.
//
// A request is repeated when it is a GET or a scan request and it failed with HTTP 429, a
// 5xx status, a reset or refused connection, an early end of the response, or its own
// timeout (Config.Timeout). Other 4xx statuses are never repeated: 401 and 403 are about
// the credentials, 412 is a project policy. Harbor responds to a scan request with 409
// while a scan of the digest is Pending or Running. So a repeated scan request whose first
// attempt reached Harbor gets 409, which StartScan reports as ErrScanInProgress, and no
// second scan starts. A zero field takes its default.
type RetryPolicy struct {
	// MaxAttempts is the number of times a request is sent at most, the first included.
	// 1 turns retries off. The default is DefaultMaxAttempts.
	MaxAttempts int
	// Delay is the delay before the first repetition. It doubles with each further one,
	// and a random jitter shortens each delay by up to half. The default is
	// DefaultRetryDelay.
	Delay time.Duration
	// MaxDelay is the longest delay. When Harbor sends Retry-After with a longer wait, the
	// request is not repeated and its error carries the requested wait. The default is
	// DefaultMaxRetryDelay.
	MaxDelay time.Duration
}

// withDefaults returns p with every zero field set to its default, or an error for an
// invalid field.
func (p RetryPolicy) withDefaults() (RetryPolicy, error) {
	if p.MaxAttempts < 0 || p.Delay < 0 || p.MaxDelay < 0 {
		return p, fmt.Errorf("invalid Harbor retry policy %+v: no field may be negative", p)
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.Delay == 0 {
		p.Delay = DefaultRetryDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = DefaultMaxRetryDelay
	}
	if p.MaxDelay < p.Delay {
		return p, fmt.Errorf("invalid Harbor retry policy: the maximum delay %s is less than "+
			"the delay %s", p.MaxDelay, p.Delay)
	}
	return p, nil
}

// retryTransport repeats go-client operations under a RetryPolicy. It works on whole
// operations rather than on HTTP requests, so each attempt builds its request anew from the
// operation's parameters, with its own timeout.
type retryTransport struct {
	next   runtime.ClientTransport
	policy RetryPolicy
	// wait blocks for d or until ctx ends. Tests replace it to run without sleeping.
	wait func(ctx context.Context, d time.Duration) error
	// random returns a number in [0, 1) for the jitter.
	random func() float64
}

func newRetryTransport(next runtime.ClientTransport, policy RetryPolicy) *retryTransport {
	return &retryTransport{next: next, policy: policy, wait: sleep, random: rand.Float64}
}

// Submit implements runtime.ClientTransport.
func (t *retryTransport) Submit(op *runtime.ClientOperation) (any, error) {
	ctx := op.Context
	if ctx == nil {
		ctx = context.Background()
	}
	repeatable := op.Method == http.MethodGet || op.ID == scanArtifactID
	for attempt := 1; ; attempt++ {
		result, err := t.next.Submit(op)
		if err == nil || !repeatable || attempt >= t.policy.MaxAttempts ||
			ctx.Err() != nil || !retryable(err) {
			return result, err
		}
		delay, ok := t.delay(attempt, err)
		if !ok {
			return result, err
		}
		if t.wait(ctx, delay) != nil {
			return result, err
		}
	}
}

// delay returns the wait before the repetition after the given attempt, counted from 1,
// and false when a Retry-After header requests more than the maximum delay.
func (t *retryTransport) delay(attempt int, err error) (time.Duration, bool) {
	backoff := t.policy.Delay << min(attempt-1, 30)
	if backoff <= 0 || backoff > t.policy.MaxDelay {
		backoff = t.policy.MaxDelay
	}
	jittered := backoff - time.Duration(float64(backoff)/2*t.random())
	requested := retryAfterOf(err)
	if requested > t.policy.MaxDelay {
		return 0, false
	}
	return max(jittered, requested), true
}

// retryable reports whether a failed go-client operation may succeed when sent again.
func retryable(err error) bool {
	if errors.Is(err, ErrUnexpectedResponse) {
		// The same response would arrive again.
		return false
	}
	if status := statusOfClientError(err); status != 0 {
		return status == http.StatusTooManyRequests || status >= 500
	}
	if _, ok := certificateCause(err); ok {
		return false
	}
	var netErr net.Error
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &netErr) && netErr.Timeout())
}

// statusOfClientError returns the HTTP status of a go-client error response, or 0 for a
// transport error.
func statusOfClientError(err error) int {
	var undocumented *runtime.APIError
	if errors.As(err, &undocumented) {
		return undocumented.Code
	}
	var typed typedError
	if errors.As(err, &typed) {
		return statusOf(typed)
	}
	return 0
}

// retryAfterOf returns the wait that the Retry-After header of an error response requests,
// or 0.
func retryAfterOf(err error) time.Duration {
	var undocumented *runtime.APIError
	if !errors.As(err, &undocumented) {
		return 0
	}
	resp, ok := undocumented.Response.(runtime.ClientResponse)
	if !ok {
		return 0
	}
	return parseRetryAfter(resp.GetHeader("Retry-After"), time.Now())
}

// parseRetryAfter reads a Retry-After value in delay-seconds or HTTP-date form (RFC 9110
// section 10.2.3). It returns 0 for an empty or invalid value or a date in the past.
func parseRetryAfter(value string, now time.Time) time.Duration {
	if value == "" {
		return 0
	}
	if seconds, err := strconv.ParseInt(value, 10, 64); err == nil {
		if seconds <= 0 {
			return 0
		}
		// The cap keeps the multiplication from overflowing.
		return time.Duration(min(seconds, maxRetryAfterSeconds)) * time.Second
	}
	if date, err := http.ParseTime(value); err == nil && date.After(now) {
		return date.Sub(now)
	}
	return 0
}

// sleep waits for d or until ctx ends, and returns ctx's error in that case.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
