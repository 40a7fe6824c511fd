package harbor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"

	"github.com/go-openapi/runtime"
)

// MaxResponseBody is the largest body of a 2xx response that a Client reads, in bytes,
// except for the vulnerabilities addition, whose limit is 256 MiB. A longer body fails the
// call with an error that wraps ErrUnexpectedResponse, instead of being read until the
// request timeout.
//
// NOTE: the limit is a guess with a wide margin, not a measurement. An artifact body grows
// with the tags and accessories that Harbor lists in it, and its size for an artifact with
// very many of them was not measured against a real Harbor.
const MaxResponseBody = 4 << 20

// guardTransport reads every response of the operations it submits through guardedReader.
// It is the next transport of retryTransport, so that retryTransport receives the
// classified errors.
type guardTransport struct {
	next runtime.ClientTransport
}

// Submit implements runtime.ClientTransport. It restores op.Reader afterwards, because
// retryTransport submits the same operation again.
func (t guardTransport) Submit(op *runtime.ClientOperation) (any, error) {
	generated := op.Reader
	defer func() { op.Reader = generated }()
	op.Reader = guardedReader{operation: op.ID, generated: generated}
	return t.next.Submit(op)
}

// guardedReader caps the body of a 2xx response, rejects duplicated JSON object keys in
// it and turns a failed decoding into an error that wraps ErrUnexpectedResponse. An error
// body that the generated reader cannot decode, such as a proxy's HTML page, becomes a
// *runtime.APIError, so that the status is kept and retryTransport can repeat a 5xx.
type guardedReader struct {
	operation string
	generated runtime.ClientResponseReader
}

// ReadResponse implements runtime.ClientResponseReader.
func (r guardedReader) ReadResponse(resp runtime.ClientResponse,
	consumer runtime.Consumer) (any, error) {
	if resp.Code() < 200 || resp.Code() > 299 {
		return r.readError(resp, consumer)
	}
	if r.operation == getVulnerabilitiesAdditionID {
		// additionReader streams this body through its own, larger limit.
		return r.generated.ReadResponse(resp, consumer)
	}
	body, err := readBody(resp.Body(), MaxResponseBody)
	if errors.Is(err, errBodyTooLarge) {
		return nil, &responseError{status: resp.Code(), cause: err}
	}
	if err != nil {
		// A connection that breaks during the body is a transport error, which may be
		// repeated.
		return nil, err
	}
	buffered := bufferedResponse{ClientResponse: resp, body: body}
	result, err := r.generated.ReadResponse(buffered, consumer)
	if err != nil {
		if errors.Is(err, ErrUnexpectedResponse) {
			return nil, err
		}
		return nil, &responseError{status: resp.Code(), contentType: resp.GetHeader("Content-Type"),
			cause: err}
	}
	if isJSON(resp.GetHeader("Content-Type")) {
		if err := checkUniqueKeys(body); err != nil {
			return nil, &responseError{status: resp.Code(), duplicate: true, cause: err}
		}
	}
	return result, nil
}

// readError passes an error response to the generated reader with its body kept, so that
// Client's error mapping can read Harbor's error code and message afterwards.
func (r guardedReader) readError(resp runtime.ClientResponse,
	consumer runtime.Consumer) (any, error) {
	// roundTripper has already cut the body to maxErrorBody.
	body, err := io.ReadAll(resp.Body())
	if err != nil {
		return nil, fmt.Errorf("reading HTTP %d response body: %w", resp.Code(), err)
	}
	buffered := bufferedResponse{ClientResponse: resp, body: body}
	result, err := r.generated.ReadResponse(buffered, consumer)
	if err == nil || statusOfClientError(err) != 0 {
		return result, err
	}
	// The generated reader failed to decode the error body.
	return nil, runtime.NewAPIError(r.operation, buffered, resp.Code())
}

// errBodyTooLarge is returned by readBody for a body over its limit.
var errBodyTooLarge = errors.New("response body too large")

// readBody reads all of body, or fails with errBodyTooLarge after limit bytes.
func readBody(body io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(&cappedReader{r: body, remaining: limit})
	if errors.Is(err, errBodyTooLarge) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("reading the response body: %w", err)
	}
	return data, nil
}

// cappedReader reads from r and fails with errBodyTooLarge once more than remaining bytes
// arrive, where io.LimitReader would end the body early without an error.
type cappedReader struct {
	r         io.Reader
	remaining int64
	// readErr is the first error of r other than io.EOF, such as a broken connection.
	readErr error
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.remaining < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > c.remaining+1 {
		p = p[:c.remaining+1]
	}
	n, err := c.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && c.readErr == nil {
		c.readErr = err
	}
	c.remaining -= int64(n)
	if c.remaining < 0 {
		return n, errBodyTooLarge
	}
	return n, err
}

// isJSON reports whether contentType is application/json. An empty Content-Type counts as
// JSON, because go-openapi's runtime then decodes the body as JSON.
func isJSON(contentType string) bool {
	if contentType == "" {
		return true
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	return err == nil && mediaType == runtime.JSONMime
}

// bufferedResponse is a response whose body has been read into memory. Each Body call
// returns a reader from the start of the body.
type bufferedResponse struct {
	runtime.ClientResponse
	body []byte
}

// Body implements runtime.ClientResponse.
func (r bufferedResponse) Body() io.ReadCloser {
	return io.NopCloser(bytes.NewReader(r.body))
}

// unsupportedMediaTypeConsumer is go-openapi's consumer for a Content-Type that it has no
// other consumer for. Without it the runtime fails before any reader sees the status.
var unsupportedMediaTypeConsumer = runtime.ConsumerFunc(func(io.Reader, any) error {
	return errors.New("the Content-Type is not JSON or text")
})

// responseError is a 2xx response whose body could not be read or decoded. It wraps
// ErrUnexpectedResponse and its cause.
type responseError struct {
	status      int
	contentType string
	// duplicate means that the body is valid JSON with a key that occurs twice in an object.
	duplicate bool
	cause     error
}

func (e *responseError) Error() string {
	const check = "check that no proxy between this client and Harbor changes the " +
		"responses, and that the URL points to Harbor v2"
	cause := printable(e.cause.Error(), maxShownText)
	switch {
	case e.duplicate:
		return fmt.Sprintf("%s: the HTTP %d response body is ambiguous because %s, and "+
			"Harbor never sends a duplicate key; %s", ErrUnexpectedResponse, e.status, cause, check)
	case errors.Is(e.cause, errBodyTooLarge):
		return fmt.Sprintf("%s: the HTTP %d response body is longer than the limit of %d "+
			"bytes; %s", ErrUnexpectedResponse, e.status, MaxResponseBody, check)
	}
	return fmt.Sprintf("%s: the HTTP %d response body (Content-Type %q) could not be "+
		"decoded: %s; %s", ErrUnexpectedResponse, e.status, printable(e.contentType, 200),
		cause, check)
}

// Unwrap returns ErrUnexpectedResponse and the cause.
func (e *responseError) Unwrap() []error { return []error{ErrUnexpectedResponse, e.cause} }
