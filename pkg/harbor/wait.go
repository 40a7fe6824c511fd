package harbor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Defaults of WaitOptions.
const (
	// DefaultGrace is how long an artifact may stay unscanned before StartScan is called.
	// Harbor starts the scan on push in a goroutine, so the overview can be absent for a
	// moment even when a scan will start.
	DefaultGrace = 10 * time.Second
	// DefaultPollInterval is the delay after the first poll.
	DefaultPollInterval = 2 * time.Second
	// DefaultMaxInterval is the longest delay between two polls.
	DefaultMaxInterval = 30 * time.Second
	// DefaultScanTimeout is the time limit of a wait. Harbor v2.13 fails a scan job that has
	// not finished after 30 minutes (checkTimeout in src/pkg/scan/job.go).
	DefaultScanTimeout = 30 * time.Minute
)

const (
	// backoffFactor is the growth of the delay from one poll to the next.
	backoffFactor = 1.5
	// jitterFraction is the largest relative change of a delay by jitter (+-20%).
	jitterFraction = 0.2
)

// Clock is the source of time of a wait. Tests replace it to run a wait without sleeping.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

// realClock is the Clock of the time package.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// WaitOptions configures WaitForScan and PollScan. A zero field takes its default.
type WaitOptions struct {
	// Grace is how long the artifact may have no scan before StartScan is called, and how
	// long after a scan request the request is repeated if the scan still has not started.
	// The default is DefaultGrace.
	Grace time.Duration
	// PollInterval is the delay after the first poll. Each further delay is 1.5 times the
	// previous one, changed by a random jitter of up to +-20%. The default is
	// DefaultPollInterval.
	PollInterval time.Duration
	// MaxInterval is the longest delay between polls, jitter included. It must not be less
	// than PollInterval. The default is DefaultMaxInterval.
	MaxInterval time.Duration
	// Timeout is counted from the first poll. After it the wait ends with ErrScanTimeout.
	// The default is DefaultScanTimeout.
	Timeout time.Duration
	// Clock is the source of time. The default uses the time package.
	Clock Clock
	// OnPoll, when set, is called with every scan summary that was read, for progress
	// reports. It is nil by default.
	OnPoll func(Scan)

	// random returns a number in [0, 1) for the jitter. The default is math/rand/v2.Float64.
	random func() float64
}

// withDefaults returns o with every zero field set to its default, or an error for an
// invalid field.
func (o WaitOptions) withDefaults() (WaitOptions, error) {
	durations := []struct {
		name  string
		value *time.Duration
		def   time.Duration
	}{
		{"grace period", &o.Grace, DefaultGrace},
		{"poll interval", &o.PollInterval, DefaultPollInterval},
		{"maximum poll interval", &o.MaxInterval, DefaultMaxInterval},
		{"scan timeout", &o.Timeout, DefaultScanTimeout},
	}
	for _, d := range durations {
		if *d.value < 0 {
			return o, fmt.Errorf("invalid %s %s: it must not be negative", d.name, *d.value)
		}
		if *d.value == 0 {
			*d.value = d.def
		}
	}
	if o.MaxInterval < o.PollInterval {
		return o, fmt.Errorf("invalid maximum poll interval %s: "+
			"it is less than the poll interval %s", o.MaxInterval, o.PollInterval)
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.random == nil {
		o.random = rand.Float64
	}
	return o, nil
}

// backoff returns the delay after the given poll, counted from 1.
func (o WaitOptions) backoff(poll int) time.Duration {
	base := float64(o.PollInterval) * math.Pow(backoffFactor, float64(poll-1))
	base = min(base, float64(o.MaxInterval))
	jittered := base * (1 - jitterFraction + 2*jitterFraction*o.random())
	return min(time.Duration(jittered), o.MaxInterval)
}

// WaitState is the progress of a wait between two calls of PollScan. A controller keeps it
// in its status, so it has JSON tags.
type WaitState struct {
	// FirstSeen is the time of the first poll. The grace period and the timeout count from it.
	FirstSeen time.Time `json:"firstSeen,omitzero"`
	// ScanRequested is the time of the last StartScan call that Harbor accepted or rejected
	// with 409 because a scan was already in progress.
	ScanRequested time.Time `json:"scanRequested,omitzero"`
	// Polls is the number of polls so far.
	Polls int `json:"polls,omitempty"`
	// LastStatus is the status read by the last successful poll.
	LastStatus ScanStatus `json:"lastStatus,omitempty"`
	// LastError is the message of the last poll if it failed with an error that is retried,
	// such as an HTTP 5xx status or a network error. A successful poll clears it.
	LastError string `json:"lastError,omitempty"`
	// NotBefore, when set, is a time on Harbor's clock from before the push. A final report
	// whose scan started earlier is stale and does not end the wait: it describes an
	// earlier push. Harbor's scan on push replaces such a report with a Pending one shortly
	// after the push, and when scan on push is off PollScan requests a scan once the grace
	// period has passed. The zero time accepts any final report.
	NotBefore time.Time `json:"notBefore,omitzero"`
}

// PollScan does one step of a wait for the artifact's scan and returns the scan read, the
// new state and the delay until the next step. Pass the zero WaitState to the first call and
// the returned state to each later one.
//
// A step reads the scan overview once. If no scan has started when the grace period has
// passed, it calls StartScan, and so it does for a stale report (see WaitState.NotBefore). A zero delay means that the wait is over: either the returned
// error is set, or the status is final. A final Error or Stopped status is no error of the
// wait. The error wraps ErrNotScannable when Harbor will never scan the artifact and
// ErrScanTimeout after opts.Timeout.
//
// An HTTP 5xx or 429 status, a network error and a malformed response are retried. The step
// then returns a zero Scan, a nil error and a delay, and records the error in
// WaitState.LastError. Any other error, such as HTTP 401, 403 or 404, ends the wait.
func (c *Client) PollScan(ctx context.Context, ref ArtifactRef, state WaitState,
	opts WaitOptions) (Scan, WaitState, time.Duration, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Scan{}, state, 0, fmt.Errorf("waiting for scan of %s: %w", ref, err)
	}
	now := opts.Clock.Now()
	if state.FirstSeen.IsZero() {
		state.FirstSeen = now
	}
	state.Polls++

	s, err := c.Scan(ctx, ref)
	stale := err == nil && s.startedBefore(state.NotBefore)
	if err == nil && (s.Status == ScanNotStarted || stale) {
		err = c.startScanAfterGrace(ctx, ref, &state, now, opts)
	}
	if err != nil {
		return c.pollFailed(ctx, ref, state, now, opts, err)
	}

	state.LastStatus = s.Status
	state.LastError = ""
	if opts.OnPoll != nil {
		opts.OnPoll(s)
	}
	switch {
	case s.Status == ScanNotScannable:
		return s, state, 0, fmt.Errorf("waiting for scan of %s: %w: it has no scan overview "+
			"and no vulnerabilities addition link, so Harbor has no usable scanner or the "+
			"scanner does not support this artifact", ref, ErrNotScannable)
	case s.Status.Final() && !stale:
		return s, state, 0, nil
	}
	deadline := state.FirstSeen.Add(opts.Timeout)
	if !now.Before(deadline) {
		return s, state, 0, timeoutError(ref, state, opts)
	}

	delay := opts.backoff(state.Polls)
	if s.Status == ScanNotStarted || stale {
		// Poll again when the grace period ends, so that the scan is requested in time.
		delay = min(delay, graceEnd(state, opts).Sub(now))
	}
	return s, state, min(delay, deadline.Sub(now)), nil
}

// startedBefore reports whether s is a final report of a scan that started before
// notBefore, and so of an earlier push. A zero notBefore never makes a report stale.
func (s Scan) startedBefore(notBefore time.Time) bool {
	if notBefore.IsZero() || !s.Status.Final() || s.Status == ScanNotScannable {
		return false
	}
	started := s.Start
	if started.IsZero() {
		started = s.End
	}
	return !started.IsZero() && started.Before(notBefore)
}

// graceEnd returns the time from which StartScan is called for an artifact without a scan.
func graceEnd(state WaitState, opts WaitOptions) time.Time {
	if !state.ScanRequested.IsZero() {
		return state.ScanRequested.Add(opts.Grace)
	}
	return state.FirstSeen.Add(opts.Grace)
}

// startScanAfterGrace calls StartScan once the grace period has passed and records the
// request in state.
func (c *Client) startScanAfterGrace(ctx context.Context, ref ArtifactRef, state *WaitState,
	now time.Time, opts WaitOptions) error {
	if now.Before(graceEnd(*state, opts)) {
		return nil
	}
	err := c.StartScan(ctx, ref)
	if err != nil && !errors.Is(err, ErrScanInProgress) {
		return err
	}
	state.ScanRequested = now
	return nil
}

// pollFailed returns the result of a step whose request failed: the end of the wait, or a
// delay before the request is repeated.
func (c *Client) pollFailed(ctx context.Context, ref ArtifactRef, state WaitState, now time.Time,
	opts WaitOptions, err error) (Scan, WaitState, time.Duration, error) {
	wrapped := fmt.Errorf("waiting for scan of %s: %w", ref, err)
	if errors.Is(err, ErrNotScannable) {
		state.LastStatus = ScanNotScannable
		state.LastError = ""
		return Scan{Status: ScanNotScannable}, state, 0, wrapped
	}
	if ctx.Err() != nil || !isRetryable(err) {
		return Scan{}, state, 0, wrapped
	}

	state.LastError = err.Error()
	deadline := state.FirstSeen.Add(opts.Timeout)
	if !now.Before(deadline) {
		return Scan{}, state, 0, timeoutError(ref, state, opts)
	}
	return Scan{}, state, min(opts.backoff(state.Polls), deadline.Sub(now)), nil
}

// isRetryable reports whether a failed request may succeed when repeated.
func isRetryable(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Temporary()
	}
	// A context error here is a request timeout, because the caller's context has been
	// checked before. A TLS verification failure will not heal by itself.
	return !errors.Is(err, ErrUntrustedCertificate) && !errors.Is(err, context.Canceled)
}

// timeoutError returns the error of a wait that passed its timeout.
func timeoutError(ref ArtifactRef, state WaitState, opts WaitOptions) error {
	status := string(state.LastStatus)
	if status == "" {
		status = "unknown"
	}
	err := fmt.Errorf("waiting for scan of %s: %w after %s and %d polls, last status %s",
		ref, ErrScanTimeout, opts.Timeout, state.Polls, status)
	if state.LastError != "" {
		err = fmt.Errorf("%w, last error: %s", err, state.LastError)
	}
	return err
}

// WaitForScan polls the artifact's scan until its status is final and returns the last scan
// read. It is a loop over PollScan, whose documentation describes the steps, the errors and
// which failures are retried. A final Error or Stopped status is returned with a nil error.
func (c *Client) WaitForScan(ctx context.Context, ref ArtifactRef, opts WaitOptions) (Scan, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Scan{}, fmt.Errorf("waiting for scan of %s: %w", ref, err)
	}
	var state WaitState
	for {
		s, next, delay, err := c.PollScan(ctx, ref, state, opts)
		state = next
		if err != nil || delay == 0 {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("waiting for scan of %s, last status %s: %w",
				ref, state.LastStatus, context.Cause(ctx))
		case <-opts.Clock.After(delay):
		}
	}
}
