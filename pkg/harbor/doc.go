// Package harbor is a narrow client for the parts of Harbor's v2.0 REST API that harbor-gate
// uses: ping and system information, projects, artifacts by digest and their vulnerability
// scans. It wraps the generated client in github.com/goharbor/go-client and works around its
// traps:
//
//   - TLS is always verified against the system roots plus an optional CA bundle. go-client's
//     own harbor.NewClientSet skips verification whenever no transport is given.
//   - The API base path /api/v2.0 is added to the configured URL exactly once, and a trailing
//     '/' is removed. go-client's harbor.NewClientSet adds the base path only to a URL without
//     a path, so "https://h/" loses it, and client.New uses the URL's path unchanged.
//   - Repository names that contain '/' are escaped once before go-client escapes them again,
//     so the request path carries a%252Fb as Harbor requires.
//   - Statuses that Harbor's swagger does not list for an operation, such as 409 and 412 on
//     POST .../scan or 403 on GET /projects/{name}, arrive from go-client as
//     *runtime.APIError with an unread body. This package keeps such bodies readable and maps
//     every failure to an *APIError that carries the HTTP status and Harbor's error code.
//   - go-client declares the vulnerabilities addition a string, so its generated reader fails
//     on the JSON object Harbor sends. Vulnerabilities decodes the object itself.
//   - go-client returns the raw encoding/json error for a 2xx body that does not decode, and
//     reads a body of any length. This package caps 2xx bodies at MaxResponseBody, rejects
//     a JSON object with a duplicated key, which encoding/json would resolve by keeping the
//     last one, and wraps every such failure in ErrUnexpectedResponse. An error body that
//     does not decode, such as a proxy's HTML page, still yields an *APIError with the
//     status. APIError.Error escapes control and format characters in Harbor's message.
//   - No cookie jar is used. Harbor sets a session cookie even on Basic-auth responses, and a
//     client that sends it back must then pass a CSRF token on every POST, PUT and DELETE.
//
// Each GET and each scan request is sent up to four times when it fails with HTTP 429, a 5xx
// status, a reset or refused connection or its own timeout. The delays grow exponentially
// with jitter and honour Retry-After up to a cap (Config.Retry, RetryPolicy). Other 4xx
// statuses are never repeated.
//
// WaitForScan waits for Harbor's scan of one digest to finish. It is a loop over PollScan,
// which does one step of the wait and returns the delay until the next step, so that a
// Kubernetes reconciler can drive the same wait without blocking a worker.
//
// The package logs nothing. Every call takes a context.Context.
package harbor
