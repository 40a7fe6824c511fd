package events

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync/atomic"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// DefaultMaxBodyBytes is the default limit of a webhook request body, 1 MiB. A scan event
// of Harbor v2.13 carries one resource and a summary, well under 10 KiB.
const DefaultMaxBodyBytes = 1 << 20

// RejectReason names why the receiver rejected a request, for counters and metrics labels.
type RejectReason string

// Reasons of rejected requests.
const (
	// RejectMethod is a request with a method other than POST, rejected with 405.
	RejectMethod RejectReason = "method_not_allowed"
	// RejectUnauthorized is a missing or wrong Authorization header, rejected with 401.
	RejectUnauthorized RejectReason = "unauthorized"
	// RejectMediaType is a content type other than JSON, rejected with 415.
	RejectMediaType RejectReason = "unsupported_media_type"
	// RejectTooLarge is a body over the limit, rejected with 413.
	RejectTooLarge RejectReason = "body_too_large"
	// RejectMalformed is a body that is no Harbor webhook payload, rejected with 400.
	RejectMalformed RejectReason = "malformed"
)

// rejectReasons lists every RejectReason.
var rejectReasons = []RejectReason{
	RejectMethod, RejectUnauthorized, RejectMediaType, RejectTooLarge, RejectMalformed,
}

// Callback receives each Delivery of an accepted scan event. The receiver calls it on the
// request's goroutine before it responds to Harbor, which gives up after 3 seconds, so the
// callback must not block and should only enqueue work. ctx is the request's context,
// which ends when the response is written.
type Callback func(ctx context.Context, d Delivery)

// ReceiverOption configures a Receiver in NewReceiver.
type ReceiverOption func(*Receiver)

// WithSecret sets the value that the Authorization header must equal, compared in
// constant time. Harbor copies a policy target's auth_header verbatim into that header, so
// the secret includes any scheme, for example "Bearer s3cr3t". The default is empty, and
// a receiver without a secret rejects every request with 401.
func WithSecret(secret string) ReceiverOption {
	return func(r *Receiver) {
		r.hasSecret = secret != ""
		r.secretSum = sha256.Sum256([]byte(secret))
	}
}

// WithCallback sets the function that receives each Delivery. The default discards
// deliveries, which are then only counted.
func WithCallback(callback Callback) ReceiverOption {
	return func(r *Receiver) { r.callback = callback }
}

// WithMaxBodyBytes sets the largest accepted request body in bytes. Larger bodies are
// rejected with 413. The default, also used for values below 1, is DefaultMaxBodyBytes.
func WithMaxBodyBytes(limit int64) ReceiverOption {
	return func(r *Receiver) {
		if limit > 0 {
			r.maxBodyBytes = limit
		}
	}
}

// Receiver is an http.Handler for Harbor webhook deliveries. It accepts only POST requests
// with a JSON body in the Default or the CloudEvents format and an Authorization header
// equal to the configured secret. For each resource of a SCANNING_COMPLETED,
// SCANNING_FAILED or SCANNING_STOPPED event (harbor.scan.completed, harbor.scan.failed or
// harbor.scan.stopped in CloudEvents) it calls the callback once. Other event types are
// acknowledged with 200 and ignored. It is safe for concurrent use and logs nothing.
type Receiver struct {
	hasSecret    bool
	secretSum    [sha256.Size]byte
	callback     Callback
	maxBodyBytes int64

	accepted  atomic.Int64
	delivered atomic.Int64
	ignored   atomic.Int64
	rejected  map[RejectReason]*atomic.Int64 // an entry per reason, made by NewReceiver
}

// NewReceiver returns a Receiver configured by opts.
func NewReceiver(opts ...ReceiverOption) *Receiver {
	r := &Receiver{
		maxBodyBytes: DefaultMaxBodyBytes,
		rejected:     make(map[RejectReason]*atomic.Int64, len(rejectReasons)),
	}
	for _, reason := range rejectReasons {
		r.rejected[reason] = new(atomic.Int64)
	}
	for _, opt := range opts {
		opt(r)
	}
	return r
}

// ReceiverStats counts the requests that a Receiver handled. It contains no request data.
type ReceiverStats struct {
	// Accepted counts scan events that passed every check.
	Accepted int64
	// Delivered counts callback calls, one per resource of an accepted event.
	Delivered int64
	// Ignored counts valid events of other types, acknowledged with 200.
	Ignored int64
	// Rejected counts rejected requests by reason. Every reason has an entry.
	Rejected map[RejectReason]int64
}

// Stats returns a snapshot of the counters.
func (r *Receiver) Stats() ReceiverStats {
	stats := ReceiverStats{
		Accepted:  r.accepted.Load(),
		Delivered: r.delivered.Load(),
		Ignored:   r.ignored.Load(),
		Rejected:  make(map[RejectReason]int64, len(rejectReasons)),
	}
	for reason, count := range r.rejected {
		stats.Rejected[reason] = count.Load()
	}
	return stats
}

// ServeHTTP checks and decodes one webhook request and calls the callback for each
// resource of a scan event.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.reject(w, RejectMethod, http.StatusMethodNotAllowed,
			"method "+req.Method+" is not allowed: send webhooks with POST")
		return
	}
	if !r.authorized(req.Header.Get("Authorization")) {
		r.reject(w, RejectUnauthorized, http.StatusUnauthorized, "missing or wrong "+
			"Authorization header: set the webhook policy's auth_header to the receiver's secret")
		return
	}
	mediaType, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || (mediaType != cloudevents.ApplicationJSON &&
		mediaType != cloudevents.ApplicationCloudEventsJSON) {
		r.reject(w, RejectMediaType, http.StatusUnsupportedMediaType,
			strconv.Quote(req.Header.Get("Content-Type"))+" is not supported: send "+
				"application/json or application/cloudevents+json")
		return
	}
	body, err := r.readBody(w, req)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			r.reject(w, RejectTooLarge, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("body exceeds %d bytes", r.maxBodyBytes))
			return
		}
		r.rejectMalformed(w, fmt.Errorf("reading body: %w", err))
		return
	}
	r.handle(w, req, mediaType, body)
}

// handle decodes a checked request body and passes its deliveries to the callback.
func (r *Receiver) handle(w http.ResponseWriter, req *http.Request, mediaType string,
	body []byte) {
	var n notice
	var err error
	if isCloudEvent(mediaType, req.Header) {
		n, err = decodeCloudEvent(req.Context(), req.Header, body)
	} else {
		n, err = decodeDefault(body)
	}
	if err != nil {
		r.rejectMalformed(w, err)
		return
	}
	if !n.scan {
		r.ignored.Add(1)
		w.WriteHeader(http.StatusOK)
		return
	}
	deliveries, err := n.deliveries()
	if err != nil {
		r.rejectMalformed(w, err)
		return
	}
	r.accepted.Add(1)
	for _, d := range deliveries {
		if r.callback != nil {
			r.callback(req.Context(), d)
		}
		r.delivered.Add(1)
	}
	w.WriteHeader(http.StatusOK)
}

// authorized compares the SHA-256 digests of the header and the secret in constant time,
// so that neither the content nor the length of the secret shows in the response time.
func (r *Receiver) authorized(header string) bool {
	sum := sha256.Sum256([]byte(header))
	match := subtle.ConstantTimeCompare(sum[:], r.secretSum[:]) == 1
	return r.hasSecret && match
}

// readBody reads the body up to the limit. A Content-Length over the limit fails before
// any byte is read.
func (r *Receiver) readBody(w http.ResponseWriter, req *http.Request) ([]byte, error) {
	if req.ContentLength > r.maxBodyBytes {
		return nil, &http.MaxBytesError{Limit: r.maxBodyBytes}
	}
	return io.ReadAll(http.MaxBytesReader(w, req.Body, r.maxBodyBytes))
}

func (r *Receiver) reject(w http.ResponseWriter, reason RejectReason, status int,
	message string) {
	r.rejected[reason].Add(1)
	http.Error(w, message, status)
}

func (r *Receiver) rejectMalformed(w http.ResponseWriter, err error) {
	r.reject(w, RejectMalformed, http.StatusBadRequest,
		err.Error()+": send a Harbor webhook payload in the Default or CloudEvents format")
}
