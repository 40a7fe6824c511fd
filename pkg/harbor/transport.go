package harbor

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// maxErrorBody is the number of bytes of an error response body that are kept. Harbor's error
// bodies are a few hundred bytes.
const maxErrorBody = 64 << 10

// roundTripper sets the User-Agent header and keeps the body of every non-2xx response
// readable after go-openapi's runtime has closed it. go-client does not parse bodies of
// statuses that Harbor's swagger does not list for an operation, and the runtime closes the
// response before the caller sees the resulting *runtime.APIError.
type roundTripper struct {
	next      http.RoundTripper
	userAgent string
}

// RoundTrip implements http.RoundTripper.
func (t *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("User-Agent", t.userAgent)

	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}

	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	closeErr := resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading HTTP %d response body: %w", resp.StatusCode, err)
	}
	if closeErr != nil {
		return nil, fmt.Errorf("closing HTTP %d response body: %w", resp.StatusCode, closeErr)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}
