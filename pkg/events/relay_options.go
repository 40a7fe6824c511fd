package events

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// Defaults of a Relay.
const (
	// DefaultQueueSize is how many events wait for the worker before the oldest is dropped.
	DefaultQueueSize = 100
	// DefaultMaxAttempts is how many times the relay posts an event before it gives up.
	DefaultMaxAttempts = 5
	// DefaultInitialBackoff is the delay before the second attempt, before jitter.
	DefaultInitialBackoff = 500 * time.Millisecond
	// DefaultMaxBackoff caps the delay between two attempts.
	DefaultMaxBackoff = 30 * time.Second
	// DefaultAttemptTimeout limits one attempt of the default HTTP client.
	DefaultAttemptTimeout = 10 * time.Second
)

// Clock is the relay's source of time for event times and backoff delays. Tests replace it
// to observe the delays without sleeping.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// systemClock is the Clock of the time package.
type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// RelayOption configures a Relay in NewRelay.
type RelayOption func(*relayConfig)

type relayConfig struct {
	queueSize      int
	maxAttempts    int
	initialBackoff time.Duration
	maxBackoff     time.Duration
	client         *http.Client
	clock          Clock
	headers        http.Header
	onError        func(error)
	random         func() float64 // in [0, 1), for jitter
	errs           []error
}

func defaultRelayConfig() relayConfig {
	return relayConfig{
		queueSize:      DefaultQueueSize,
		maxAttempts:    DefaultMaxAttempts,
		initialBackoff: DefaultInitialBackoff,
		maxBackoff:     DefaultMaxBackoff,
		client:         &http.Client{Timeout: DefaultAttemptTimeout},
		clock:          systemClock{},
		headers:        http.Header{},
		random:         rand.Float64,
	}
}

// WithQueueSize sets how many events may wait for the worker. When the queue is full, Send
// drops the oldest event and counts it in RelayStats.Dropped. The default is
// DefaultQueueSize.
func WithQueueSize(size int) RelayOption {
	return func(c *relayConfig) {
		if size < 1 {
			c.errs = append(c.errs, fmt.Errorf("queue size %d: use at least 1", size))
			return
		}
		c.queueSize = size
	}
}

// WithMaxAttempts sets how many times the relay posts an event, the first attempt
// included, before it gives up. The default is DefaultMaxAttempts.
func WithMaxAttempts(attempts int) RelayOption {
	return func(c *relayConfig) {
		if attempts < 1 {
			c.errs = append(c.errs, fmt.Errorf("max attempts %d: use at least 1", attempts))
			return
		}
		c.maxAttempts = attempts
	}
}

// WithBackoff sets the delay after the first failed attempt and the cap of all delays.
// The delay doubles after each failure up to the cap, and a random jitter then shortens it
// by up to half. The defaults are DefaultInitialBackoff and DefaultMaxBackoff.
func WithBackoff(initial, maximum time.Duration) RelayOption {
	return func(c *relayConfig) {
		if initial <= 0 || maximum < initial {
			c.errs = append(c.errs, fmt.Errorf("backoff from %s to %s: use a positive "+
				"initial delay and a maximum of at least that", initial, maximum))
			return
		}
		c.initialBackoff, c.maxBackoff = initial, maximum
	}
}

// WithHTTPClient sets the HTTP client that posts events, for example to trust a private
// CA. Its Timeout limits each attempt. The default is a client with a Timeout of
// DefaultAttemptTimeout and the default transport.
func WithHTTPClient(client *http.Client) RelayOption {
	return func(c *relayConfig) {
		if client == nil {
			c.errs = append(c.errs, fmt.Errorf("HTTP client is nil: pass a client or "+
				"leave the option out"))
			return
		}
		c.client = client
	}
}

// WithClock sets the source of time for event times and backoff delays. The default is the
// system clock.
func WithClock(clock Clock) RelayOption {
	return func(c *relayConfig) {
		if clock == nil {
			c.errs = append(c.errs, fmt.Errorf("clock is nil: pass a clock or leave the "+
				"option out"))
			return
		}
		c.clock = clock
	}
}

// WithSinkHeader adds a header to every request to the sink, for example an Authorization
// header that the core service requires. Its value never appears in errors or stats. By
// default the relay sends only the CloudEvents headers.
func WithSinkHeader(name, value string) RelayOption {
	return func(c *relayConfig) { c.headers.Add(name, value) }
}

// WithErrorHandler sets a function that receives the error of each event that the worker
// gave up on, so that the caller can log it. The worker calls it on its own goroutine, so
// it must return quickly. By default such errors are only counted in RelayStats.Failed.
func WithErrorHandler(handle func(error)) RelayOption {
	return func(c *relayConfig) { c.onError = handle }
}
