package hostile

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/druppie/harbor-gate/pkg/events"
)

// webhookSecret is the Authorization value that the receiver under test accepts.
const webhookSecret = "Bearer hook-s3cr3t-Wq19"

// scanEvent returns a Default payload of a finished scan of the given digest, with
// extra members appended to the top-level object.
func scanEvent(digest, extra string) string {
	return `{"type":"SCANNING_COMPLETED","occur_at":1735725615,"operator":"robot$team+ci",` +
		`"event_data":{"resources":[{"digest":"` + digest + `","tag":"v1"}],` +
		`"repository":{"repo_full_name":"team/app"}}` + extra + `}`
}

// webhookCase is one hostile request to the events receiver. The case passes when the
// receiver rejects it with status, counts it under reason, delivers nothing, and responds
// with a body that contains want.
type webhookCase struct {
	name   string
	method string // "" means POST
	// header is added to the request. Authorization defaults to webhookSecret and
	// Content-Type to application/json; an empty value removes the header.
	header map[string]string
	body   func() io.Reader
	// chunked sends the body without Content-Length.
	chunked bool
	status  int
	reason  events.RejectReason
	want    []string
}

var webhookCases = []webhookCase{{
	name:   "GET request",
	method: http.MethodGet,
	body:   text(""),
	status: http.StatusMethodNotAllowed, reason: events.RejectMethod,
	want: []string{"method GET is not allowed", "POST"},
}, {
	name:   "no Authorization header",
	header: map[string]string{"Authorization": ""},
	body:   text(scanEvent(testDigest, "")),
	status: http.StatusUnauthorized, reason: events.RejectUnauthorized,
	want: []string{"missing or wrong Authorization header", "auth_header"},
}, {
	name:   "secret without its scheme",
	header: map[string]string{"Authorization": strings.TrimPrefix(webhookSecret, "Bearer ")},
	body:   text(scanEvent(testDigest, "")),
	status: http.StatusUnauthorized, reason: events.RejectUnauthorized,
	want: []string{"missing or wrong Authorization header", "auth_header"},
}, {
	name:   "secret with a homoglyph",
	header: map[string]string{"Authorization": strings.Replace(webhookSecret, "e", "е", 1)},
	body:   text(scanEvent(testDigest, "")),
	status: http.StatusUnauthorized, reason: events.RejectUnauthorized,
	want: []string{"missing or wrong Authorization header"},
}, {
	name:   "secret with its last byte changed",
	header: map[string]string{"Authorization": webhookSecret[:len(webhookSecret)-1] + "8"},
	body:   text(scanEvent(testDigest, "")),
	status: http.StatusUnauthorized, reason: events.RejectUnauthorized,
	want: []string{"missing or wrong Authorization header"},
}, {
	name:   "plain-text content type",
	header: map[string]string{"Content-Type": "text/plain"},
	body:   text(scanEvent(testDigest, "")),
	status: http.StatusUnsupportedMediaType, reason: events.RejectMediaType,
	want: []string{`"text/plain" is not supported`, "application/json"},
}, {
	name:   "malformed content type",
	header: map[string]string{"Content-Type": "application/json; charset"},
	body:   text(scanEvent(testDigest, "")),
	status: http.StatusUnsupportedMediaType, reason: events.RejectMediaType,
	want: []string{`"application/json; charset"`},
}, {
	name:   "body over the limit with Content-Length",
	body:   endless(`{"type":"`, 'a', events.DefaultMaxBodyBytes+1),
	status: http.StatusRequestEntityTooLarge, reason: events.RejectTooLarge,
	want: []string{"body exceeds 1048576 bytes"},
}, {
	name:    "10 MB body without Content-Length",
	body:    endless(`{"type":"`, 'a', 10<<20),
	chunked: true,
	status:  http.StatusRequestEntityTooLarge, reason: events.RejectTooLarge,
	want: []string{"body exceeds 1048576 bytes"},
}, {
	name:   "truncated JSON",
	body:   text(`{"type":"SCANNING_COMPLETED","event_data":{`),
	status: http.StatusBadRequest, reason: events.RejectMalformed,
	want: []string{"decoding Default payload", "send a Harbor webhook payload"},
}, {
	name:   "type is a number",
	body:   text(`{"type":7}`),
	status: http.StatusBadRequest, reason: events.RejectMalformed,
	want: []string{"cannot unmarshal number", "type"},
}, {
	name:   "no type",
	body:   text(`{"event_data":{"resources":[{"digest":"` + testDigest + `"}]}}`),
	status: http.StatusBadRequest, reason: events.RejectMalformed,
	want: []string{"Default payload has no type"},
}, {
	name:   "scan event without resources",
	body:   text(`{"type":"SCANNING_FAILED","event_data":{"resources":[]}}`),
	status: http.StatusBadRequest, reason: events.RejectMalformed,
	want: []string{"SCANNING_FAILED event has no resources"},
}, {
	name:   "digest with bad hex",
	body:   text(scanEvent("sha256:zz", "")),
	status: http.StatusBadRequest, reason: events.RejectMalformed,
	want: []string{`resource digest "sha256:zz"`},
}, {
	name:   "sha512 digest",
	body:   text(scanEvent("sha512:"+strings.Repeat("ab", 64), "")),
	status: http.StatusBadRequest, reason: events.RejectMalformed,
	want: []string{`"sha512:` + strings.Repeat("ab", 64) + `" is not a sha256 digest`},
}, {
	name:   "digest with a right-to-left override",
	body:   text(scanEvent(testDigest[:20]+`\u202e`+testDigest[21:], "")),
	status: http.StatusBadRequest, reason: events.RejectMalformed,
	want: []string{`\u202e`},
}, {
	name:   "digest with a NUL",
	body:   text(scanEvent(testDigest+`\u0000`, "")),
	status: http.StatusBadRequest, reason: events.RejectMalformed,
	want: []string{`\x00"`},
}, {
	name:   "digest in invalid UTF-8",
	body:   text(scanEvent(testDigest[:20]+"\xff"+testDigest[21:], "")),
	status: http.StatusBadRequest, reason: events.RejectMalformed,
	want: []string{"b2e\ufffd3a38"},
}, {
	name: "duplicated digest, the last is malformed",
	body: text(`{"type":"SCANNING_COMPLETED","event_data":{"resources":[{"digest":"` +
		testDigest + `","digest":"sha256:../../etc"}]}}`),
	status: http.StatusBadRequest, reason: events.RejectMalformed,
	want: []string{`"sha256:../../etc"`},
}, {
	name:   "CloudEvent without id",
	header: map[string]string{"Content-Type": "application/cloudevents+json"},
	body: text(`{"specversion":"1.0","source":"/p","type":"harbor.scan.completed",` +
		`"data":{"resources":[{"digest":"` + testDigest + `"}]}}`),
	status: http.StatusBadRequest, reason: events.RejectMalformed,
	want: []string{"decoding CloudEvent", "id"},
}, {
	name:   "CloudEvent data is a string",
	header: map[string]string{"Content-Type": "application/cloudevents+json"},
	body: text(`{"specversion":"1.0","id":"e-1","source":"/p","type":"harbor.scan.completed",` +
		`"datacontenttype":"application/json","data":"x"}`),
	status: http.StatusBadRequest, reason: events.RejectMalformed,
	want: []string{"decoding data of CloudEvent e-1"},
}}

func TestWebhookDeliveries(t *testing.T) {
	for _, tc := range webhookCases {
		t.Run(tc.name, func(t *testing.T) {
			delivered := 0
			receiver := events.NewReceiver(events.WithSecret(webhookSecret),
				events.WithCallback(func(_ context.Context, _ events.Delivery) { delivered++ }))
			srv := httptest.NewServer(recoverPanics(t, receiver))
			t.Cleanup(srv.Close)

			status, body := sendWebhook(t, srv.URL, tc)
			if status != tc.status {
				t.Errorf("status = %d, want %d", status, tc.status)
			}
			checkFragments(t, "the response body", body, tc.want)
			if strings.Contains(body, strings.TrimPrefix(webhookSecret, "Bearer ")) {
				t.Errorf("the response body contains the secret:\n%s", body)
			}
			if delivered != 0 {
				t.Errorf("the callback received %d deliveries, want none", delivered)
			}
			if got := receiver.Stats().Rejected[tc.reason]; got != 1 {
				t.Errorf("Rejected[%s] = %d, want 1", tc.reason, got)
			}
		})
	}
}

// recoverPanics wraps h so that a panic fails the test rather than being logged by
// net/http, which would only close the connection.
func recoverPanics(t *testing.T, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				t.Errorf("the handler panicked: %v", v)
				w.WriteHeader(http.StatusInternalServerError)
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// sendWebhook sends tc's request and returns the status and body of the response.
func sendWebhook(t *testing.T, url string, tc webhookCase) (int, string) {
	t.Helper()
	method := tc.method
	if method == "" {
		method = http.MethodPost
	}
	body := tc.body()
	if !tc.chunked {
		data, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		body = strings.NewReader(string(data))
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if tc.chunked {
		req.ContentLength = -1
	}
	req.Header.Set("Authorization", webhookSecret)
	req.Header.Set("Content-Type", "application/json")
	for name, value := range tc.header {
		if value == "" {
			req.Header.Del(name)
			continue
		}
		req.Header.Set(name, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("sending the webhook: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	return resp.StatusCode, string(data)
}
