package events

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// Errors of the relay, for errors.Is.
var (
	// ErrInvalidConfig means that the sink URL or an option of NewRelay is invalid.
	ErrInvalidConfig = errors.New("invalid relay configuration")
	// ErrInvalidEvent means that an Event cannot become a valid CloudEvent.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrRejected means that the sink responded with a 4xx status other than 408 and 429,
	// which the relay does not retry.
	ErrRejected = errors.New("sink rejected the event")
	// ErrAttemptsExhausted means that every attempt failed with a network error, a 408,
	// a 429 or a 5xx status.
	ErrAttemptsExhausted = errors.New("all attempts to send the event failed")
	// ErrClosed means that the relay was closed before the event was queued.
	ErrClosed = errors.New("relay is closed")
)

// Relay sends verdicts as CloudEvents to one sink URL over HTTP in structured mode, so each
// request has Content-Type application/cloudevents+json and carries the whole event as its
// body. Send queues an event for a worker goroutine and returns at once, while SendNow
// sends synchronously. Both retry with exponential backoff and jitter. Close stops the worker
// after it has drained the queue. A Relay is safe for concurrent use and logs nothing.
type Relay struct {
	sink string // the sink URL for messages, by displaySink
	// hide replaces the sink URL's query and fragment in net/http's errors, which hide
	// the password but not a token in the query.
	hide   *strings.Replacer
	client cloudevents.Client
	cfg    relayConfig

	ctx    context.Context // ends the worker's attempts when Close gives up waiting
	cancel context.CancelFunc
	wake   chan struct{} // has a value when the worker should look at the queue
	done   chan struct{} // closed when the worker has returned

	mu     sync.Mutex
	queue  []cloudevents.Event
	closed bool

	sent     atomic.Int64
	failed   atomic.Int64
	dropped  atomic.Int64
	attempts atomic.Int64
}

// RelayStats counts what a Relay did. It contains no event data.
type RelayStats struct {
	// Queued is the number of events waiting for the worker.
	Queued int
	// Sent counts events that the sink accepted with a 2xx status.
	Sent int64
	// Failed counts events that the relay gave up on.
	Failed int64
	// Dropped counts events that were never attempted: the oldest of a full queue, events
	// sent after Close, and events left when Close gave up waiting.
	Dropped int64
	// Attempts counts HTTP requests to the sink.
	Attempts int64
}

// NewRelay returns a Relay that sends to sink, an absolute http or https URL, and starts
// its worker. Call Close to stop the worker.
func NewRelay(sink string, opts ...RelayOption) (*Relay, error) {
	target, err := url.Parse(sink)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") ||
		target.Host == "" {
		// The URL is left out of the message because it may contain a password.
		return nil, fmt.Errorf("%w: sink URL is not an absolute http or https URL: use "+
			"for example https://core.example/events", ErrInvalidConfig)
	}

	cfg := defaultRelayConfig()
	for _, opt := range opts {
		opt(&cfg)
	}
	if err := errors.Join(cfg.errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}

	protocolOpts := []cehttp.Option{cehttp.WithTarget(sink), cehttp.WithClient(*cfg.client)}
	for name, values := range cfg.headers {
		for _, value := range values {
			protocolOpts = append(protocolOpts, cehttp.WithHeader(name, value))
		}
	}
	protocol, err := cehttp.New(protocolOpts...)
	if err != nil {
		return nil, fmt.Errorf("creating CloudEvents HTTP protocol: %w", err)
	}
	client, err := cloudevents.NewClient(protocol)
	if err != nil {
		return nil, fmt.Errorf("creating CloudEvents client: %w", err)
	}

	r := &Relay{
		sink: displaySink(*target), hide: queryReplacer(*target), client: client, cfg: cfg,
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.run()
	return r, nil
}

// Send queues the event for the worker and returns at once. When the queue is full it
// drops the oldest queued event. It returns an error wrapping ErrInvalidEvent for an event
// that cannot be sent, and one wrapping ErrClosed after Close.
func (r *Relay) Send(ev Event) error {
	ce, err := ev.cloudEvent(r.cfg.clock.Now())
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.dropped.Add(1)
		return fmt.Errorf("queueing event %s: %w", ce.ID(), ErrClosed)
	}
	if len(r.queue) >= r.cfg.queueSize {
		r.queue = append(r.queue[:0], r.queue[1:]...)
		r.dropped.Add(1)
	}
	r.queue = append(r.queue, ce)
	r.mu.Unlock()
	r.signal()
	return nil
}

// SendNow sends the event and waits until the sink accepted it, every attempt failed, or
// ctx ended. It does not use the queue, so it works until Close is called.
func (r *Relay) SendNow(ctx context.Context, ev Event) error {
	ce, err := ev.cloudEvent(r.cfg.clock.Now())
	if err != nil {
		return err
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return fmt.Errorf("sending event %s: %w", ce.ID(), ErrClosed)
	}
	return r.deliver(ctx, ce)
}

// Close stops accepting events and waits until the worker has sent or given up on every
// queued event. When ctx ends first, it cancels the attempt in flight, drops the rest of
// the queue and returns an error wrapping ctx.Err(). Later calls return nil.
func (r *Relay) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.signal()
	defer r.cancel()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
	}
	r.cancel()
	<-r.done
	r.mu.Lock()
	left := len(r.queue)
	r.queue = nil
	r.mu.Unlock()
	r.dropped.Add(int64(left))
	return fmt.Errorf("closing relay to %s: %d queued events not sent: %w", r.sink, left,
		ctx.Err())
}

// Stats returns a snapshot of the counters.
func (r *Relay) Stats() RelayStats {
	r.mu.Lock()
	queued := len(r.queue)
	r.mu.Unlock()
	return RelayStats{
		Queued:   queued,
		Sent:     r.sent.Load(),
		Failed:   r.failed.Load(),
		Dropped:  r.dropped.Load(),
		Attempts: r.attempts.Load(),
	}
}

func (r *Relay) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run is the worker. It sends queued events one at a time until Close.
func (r *Relay) run() {
	defer close(r.done)
	for {
		ce, ok := r.next()
		if !ok {
			return
		}
		if err := r.deliver(r.ctx, ce); err != nil && r.cfg.onError != nil {
			r.cfg.onError(err)
		}
	}
}

// next waits for the oldest queued event. It returns false once the relay is closed and
// the queue is empty, or when Close gave up waiting.
func (r *Relay) next() (cloudevents.Event, bool) {
	for {
		if r.ctx.Err() != nil {
			return cloudevents.Event{}, false
		}
		r.mu.Lock()
		if len(r.queue) > 0 {
			ce := r.queue[0]
			r.queue = append(r.queue[:0], r.queue[1:]...)
			r.mu.Unlock()
			return ce, true
		}
		closed := r.closed
		r.mu.Unlock()
		if closed {
			return cloudevents.Event{}, false
		}
		select {
		case <-r.wake:
		case <-r.ctx.Done():
		}
	}
}

// deliver posts the event until the sink accepts it, rejects it, the attempts run out or
// ctx ends, and counts the outcome.
func (r *Relay) deliver(ctx context.Context, ce cloudevents.Event) error {
	err := r.attempt(ctx, ce)
	if err != nil {
		r.failed.Add(1)
		err = r.hideQuery(err)
		return fmt.Errorf("sending event %s to %s: %w", ce.ID(), r.sink, err)
	}
	r.sent.Add(1)
	return nil
}

func (r *Relay) attempt(ctx context.Context, ce cloudevents.Event) error {
	structured := cloudevents.WithEncodingStructured(ctx)
	for attempt := 1; ; attempt++ {
		r.attempts.Add(1)
		retry, err := classify(r.client.Send(structured, ce))
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("attempt %d: %w", attempt, ctx.Err())
		case !retry:
			return err
		case attempt == r.cfg.maxAttempts:
			return fmt.Errorf("%w: %d attempts, the last: %w", ErrAttemptsExhausted, attempt,
				err)
		}
		select {
		case <-r.cfg.clock.After(r.backoff(attempt)):
		case <-ctx.Done():
			return fmt.Errorf("waiting to retry after attempt %d: %w", attempt, ctx.Err())
		}
	}
}

// classify sorts the result of one attempt into success, a failure to retry and a final
// rejection. Network errors, 408, 429 and 5xx are retried. Other statuses outside 2xx are
// final.
func classify(result error) (retry bool, err error) {
	if cloudevents.IsACK(result) {
		return false, nil
	}
	var httpResult *cehttp.Result
	if !cloudevents.ResultAs(result, &httpResult) {
		return true, result
	}
	switch status := httpResult.StatusCode; {
	case status == 408 || status == 429 || status >= 500:
		return true, fmt.Errorf("sink responded with status %d: %w", status, result)
	default:
		return false, fmt.Errorf("%w with status %d: %w", ErrRejected, status, result)
	}
}

// displaySink returns the sink URL with its password hidden and without its query and
// fragment, either of which may carry a token.
func displaySink(u url.URL) string {
	base := u
	base.RawQuery, base.ForceQuery, base.Fragment, base.RawFragment = "", false, "", ""
	text := base.Redacted()
	if u.RawQuery != "" || u.ForceQuery {
		text += "?(query not shown)"
	}
	if u.Fragment != "" {
		text += "#(fragment not shown)"
	}
	return text
}

// queryReplacer returns a replacer of the query and fragment of u, as u.String writes
// them, by the placeholders of displaySink.
func queryReplacer(u url.URL) *strings.Replacer {
	var pairs []string
	if u.RawQuery != "" {
		pairs = append(pairs, "?"+u.RawQuery, "?(query not shown)")
	}
	if u.Fragment != "" {
		pairs = append(pairs, "#"+u.EscapedFragment(), "#(fragment not shown)")
	}
	return strings.NewReplacer(pairs...)
}

// queryHiddenError is an error whose message has the sink URL's query and fragment
// replaced. It unwraps to the original error.
type queryHiddenError struct {
	message string
	err     error
}

func (e *queryHiddenError) Error() string { return e.message }
func (e *queryHiddenError) Unwrap() error { return e.err }

// hideQuery replaces the sink URL's query and fragment in err's message.
func (r *Relay) hideQuery(err error) error {
	message := r.hide.Replace(err.Error())
	if message == err.Error() {
		return err
	}
	return &queryHiddenError{message: message, err: err}
}

// backoff returns the delay after the given number of failed attempts. The initial delay
// doubles per earlier failure up to the maximum. A random part of up to half is then taken
// off ("equal jitter"), so that many relays do not retry in step.
func (r *Relay) backoff(failures int) time.Duration {
	delay := r.cfg.initialBackoff
	for i := 1; i < failures && delay < r.cfg.maxBackoff; i++ {
		delay *= 2
	}
	delay = min(delay, r.cfg.maxBackoff)
	half := delay / 2
	return half + time.Duration(r.cfg.random()*float64(delay-half))
}
