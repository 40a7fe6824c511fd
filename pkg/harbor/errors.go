package harbor

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-openapi/runtime"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// Sentinel errors that an *APIError unwraps to, by HTTP status.
var (
	// ErrUnauthorized is returned for HTTP 401. Harbor runs a request with wrong credentials
	// as anonymous, so a 401 also means that the credentials were rejected.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden is returned for HTTP 403. Harbor also returns 403 to a user who is not a
	// system administrator when the project does not exist.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound is returned for HTTP 404.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned for HTTP 409.
	ErrConflict = errors.New("conflict")
	// ErrPrecondition is returned for HTTP 412.
	ErrPrecondition = errors.New("precondition failed")
)

// Errors of the scan operations.
var (
	// ErrScanInProgress is returned by StartScan when a scan of the digest is already Pending
	// or Running. Harbor keys scan reports by digest, so the scan may have been started from
	// another repository or by Harbor's scan on push.
	ErrScanInProgress = errors.New("scan already in progress")
	// ErrNotScannable is returned when Harbor will never scan the artifact: no scanner is
	// configured or reachable, or the artifact is not an image the scanner supports.
	ErrNotScannable = errors.New("artifact cannot be scanned")
	// ErrScanTimeout is returned when a scan has not finished before WaitOptions.Timeout.
	ErrScanTimeout = errors.New("timed out waiting for scan")
	// ErrUnexpectedResponse is returned when Harbor's response does not have the documented
	// shape, such as a successful scan without a summary.
	ErrUnexpectedResponse = errors.New("unexpected response from Harbor")
	// ErrUntrustedCertificate is returned when Harbor's TLS certificate cannot be verified.
	ErrUntrustedCertificate = errors.New("untrusted TLS certificate")
)

// APIError is an error response from Harbor's REST API.
type APIError struct {
	// Op is the action that failed, such as "getting artifact proj/app@sha256:...".
	Op string
	// Project is the project that the request addressed, or empty.
	Project string
	// StatusCode is the HTTP status code.
	StatusCode int
	// Code is Harbor's error code, such as "NOT_FOUND", or empty when the body had none.
	Code string
	// Message is Harbor's error message as it arrived, or the HTTP status text when the body
	// had none. It may contain control characters, so Error shows it escaped and cut to
	// maxShownText bytes.
	Message string
	// RequestID is the X-Request-Id header that this client sent. Harbor writes it to its
	// logs.
	RequestID string
	// RetryAfter is the wait that the response's Retry-After header asked for, or zero.
	RetryAfter time.Duration
}

// Error implements error. It escapes the characters of Harbor's code and message that are
// not printable, such as terminal escape sequences and bidirectional overrides.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	switch {
	case e.StatusCode == http.StatusForbidden && e.Project != "":
		fmt.Fprintf(&b, "project %q does not exist or the user lacks access to it: ", e.Project)
	case e.StatusCode == http.StatusUnauthorized:
		b.WriteString("check the username and password, or the robot account's name and secret: ")
	}
	b.WriteString(printable(e.Message, maxShownText))
	fmt.Fprintf(&b, " (HTTP %d", e.StatusCode)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", printable(e.Code, maxShownCode))
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, ", request ID %s", e.RequestID)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", Retry-After %s", e.RetryAfter)
	}
	b.WriteString(")")
	return b.String()
}

// Unwrap returns the sentinel error for the HTTP status, or nil when there is none.
func (e *APIError) Unwrap() error {
	switch e.StatusCode {
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrConflict
	case http.StatusPreconditionFailed:
		return ErrPrecondition
	}
	return nil
}

// Temporary reports whether the request may succeed when repeated unchanged: true for
// HTTP 429 and for every 5xx status.
func (e *APIError) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// call describes one API call, for error messages.
type call struct {
	op        string
	project   string
	requestID string
	baseURL   string
}

// newCall returns a call with a fresh request ID.
func (c *Client) newCall(project, format string, args ...any) call {
	return call{
		op:        fmt.Sprintf(format, args...),
		project:   project,
		requestID: newRequestID(),
		baseURL:   c.URL(),
	}
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error.
	return hex.EncodeToString(b[:])
}

// typedError is the interface of go-client's generated error responses, such as
// *artifact.GetArtifactNotFound.
type typedError interface {
	error
	IsCode(code int) bool
}

// payloadError is a typedError with Harbor's error body.
type payloadError interface {
	GetPayload() *models.Errors
}

// wrap turns an error from go-client into an *APIError, a certificate error or a wrapped
// transport error.
func (cl call) wrap(err error) error {
	if err == nil {
		return nil
	}
	var undocumented *runtime.APIError
	if errors.As(err, &undocumented) {
		e := cl.apiError(undocumented.Code)
		if resp, ok := undocumented.Response.(runtime.ClientResponse); ok {
			e.fill(readErrors(resp.Body()))
		}
		e.RetryAfter = retryAfterOf(err)
		return e
	}
	var typed typedError
	if errors.As(err, &typed) {
		if status := statusOf(typed); status != 0 {
			e := cl.apiError(status)
			if p, ok := typed.(payloadError); ok {
				e.fill(p.GetPayload())
			}
			return e
		}
	}
	if cause, ok := certificateCause(err); ok {
		return &certificateError{op: cl.op, url: cl.baseURL, cause: cause, err: err}
	}
	return fmt.Errorf("%s: %w", cl.op, err)
}

func (cl call) apiError(status int) *APIError {
	return &APIError{
		Op:         cl.op,
		Project:    cl.project,
		StatusCode: status,
		Message:    http.StatusText(status),
		RequestID:  cl.requestID,
	}
}

// fill copies Harbor's error code and message from body. Harbor always sends one element.
func (e *APIError) fill(body *models.Errors) {
	if body == nil {
		return
	}
	var codes, messages []string
	for _, item := range body.Errors {
		if item == nil || (item.Code == "" && item.Message == "") {
			continue
		}
		codes = append(codes, item.Code)
		messages = append(messages, item.Message)
	}
	if len(codes) == 0 {
		return
	}
	e.Code = strings.Join(codes, ",")
	e.Message = strings.Join(messages, "; ")
}

// readErrors parses Harbor's {"errors":[{"code":..., "message":...}]} body, or returns nil.
func readErrors(body io.Reader) *models.Errors {
	if body == nil {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(body, maxErrorBody))
	if err != nil {
		return nil
	}
	var parsed models.Errors
	if json.Unmarshal(data, &parsed) != nil {
		return nil
	}
	return &parsed
}

// statusOf finds the status code of a generated error response, which exposes it only
// through IsCode.
func statusOf(typed typedError) int {
	for status := 400; status < 600; status++ {
		if typed.IsCode(status) {
			return status
		}
	}
	return 0
}

// certificateCause returns the TLS certificate verification error inside err, if any.
func certificateCause(err error) (error, bool) {
	var (
		verification *tls.CertificateVerificationError
		authority    x509.UnknownAuthorityError
		hostname     x509.HostnameError
		invalid      x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &verification):
		return verification.Err, true
	case errors.As(err, &authority):
		return authority, true
	case errors.As(err, &hostname):
		return hostname, true
	case errors.As(err, &invalid):
		return invalid, true
	}
	return nil, false
}

// certificateError is a failed TLS certificate verification. It unwraps to
// ErrUntrustedCertificate and to the transport error.
type certificateError struct {
	op    string
	url   string
	cause error // the verification error, for the message
	err   error // the whole transport error
}

func (e *certificateError) Error() string {
	return fmt.Sprintf("%s: the TLS certificate of Harbor at %s is not trusted (%v), so "+
		"pass the PEM certificate of the CA that issued it as the CA bundle (--ca-bundle)",
		e.op, e.url, e.cause)
}

func (e *certificateError) Unwrap() []error { return []error{ErrUntrustedCertificate, e.err} }
