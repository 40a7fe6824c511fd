package harbor

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// artifactJSON returns testRef's artifact with a generic report overview whose members,
// without braces, are overview.
func artifactJSON(overview string) string {
	return `{"id":1,"digest":"` + testDigest + `","type":"IMAGE",` +
		`"addition_links":{"vulnerabilities":{"href":"/v","absolute":false}},` +
		`"scan_overview":{"` + MIMETypeGenericReport + `":{` + overview + `}}}`
}

// cleanOverview is the overview members of a finished scan without findings.
const cleanOverview = `"scan_status":"Success","severity":"None",` +
	`"summary":{"total":0,"fixable":0,"summary":{}},"complete_percent":100`

// replyBody returns a handler that writes body with the given status and Content-Type.
func replyBody(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// paddedArtifact returns a clean artifact body of exactly size bytes.
func paddedArtifact(size int) string {
	body := artifactJSON(cleanOverview)
	padding := size - len(body) - len(`,"x":""`)
	return strings.TrimSuffix(body, "}") + `,"x":"` + strings.Repeat("a", padding) + `"}`
}

func TestScanRejectsUnreadableBody(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		want        []string
	}{
		{name: "truncated JSON", body: `{"id":1,"digest":"` + testDigest,
			want: []string{"could not be decoded: unexpected EOF", "proxy"}},
		{name: "HTML page", contentType: "text/html", body: "<html>502 Bad Gateway</html>",
			want: []string{`Content-Type "text/html"`, "could not be decoded"}},
		{name: "unknown Content-Type", contentType: "application/x-unknown", body: "{}",
			want: []string{`Content-Type "application/x-unknown"`, "is not JSON or text"}},
		{name: "scan_status is a number", body: artifactJSON(`"scan_status":7`),
			want: []string{"could not be decoded", "scan_status"}},
		{name: "count is a string",
			body: artifactJSON(strings.Replace(cleanOverview, `"summary":{}`,
				`"summary":{"Critical":"0"}`, 1)),
			want: []string{"could not be decoded"}},
		{name: "complete_percent out of range",
			body: artifactJSON(`"scan_status":"Success","complete_percent":1e999`),
			want: []string{"could not be decoded"}},
		{name: "body over the limit", body: paddedArtifact(MaxResponseBody + 1),
			want: []string{"longer than the limit of 4194304 bytes"}},
		{name: "duplicated count",
			body: artifactJSON(strings.Replace(cleanOverview, `"summary":{}`,
				`"summary":{"Critical":4,"Critical":0}`, 1)),
			want: []string{`the key "Critical" occurs twice in the object at .scan_overview` +
				`["` + MIMETypeGenericReport + `"].summary.summary`}},
		{name: "scan_status in another case",
			body: artifactJSON(`"scan_status":"Error",` + cleanOverview[len(`"scan_status":"Success",`):] +
				`,"SCAN_STATUS":"Success"`),
			want: []string{`the key "SCAN_STATUS" occurs twice`}},
		{name: "scan_overview twice",
			body: strings.TrimSuffix(artifactJSON(`"scan_status":"Error"`), "}") +
				`,"scan_overview":{"` + MIMETypeGenericReport + `":{` + cleanOverview + `}}}`,
			want: []string{`the key "scan_overview" occurs twice in the object at .`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			contentType := tt.contentType
			if contentType == "" {
				contentType = "application/json"
			}
			fake := newFakeHarbor()
			fake.handle("GET "+artifactPath, replyBody(http.StatusOK, contentType, tt.body))
			c := startFakeWithRetry(t, fake, testRetryPolicy)
			waits := recordWaits(c)

			_, err := c.Scan(context.Background(), testRef)
			if !errors.Is(err, ErrUnexpectedResponse) {
				t.Fatalf("Scan() error = %v, want ErrUnexpectedResponse", err)
			}
			want := append([]string{"getting artifact " + testRef.String() +
				": unexpected response from Harbor: "}, tt.want...)
			for _, fragment := range want {
				if !strings.Contains(err.Error(), fragment) {
					t.Errorf("Scan() error = %q, want it to contain %q", err, fragment)
				}
			}
			if n := len(fake.recorded()); n != 1 {
				t.Errorf("requests = %d, want 1 because the same body would arrive again", n)
			}
			if len(*waits) != 0 {
				t.Errorf("waits = %v, want none", *waits)
			}
		})
	}
}

func TestScanAcceptsBodyAtLimit(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET "+artifactPath,
		replyBody(http.StatusOK, "application/json", paddedArtifact(MaxResponseBody)))
	c := startFake(t, fake)

	s, err := c.Scan(context.Background(), testRef)
	if err != nil {
		t.Fatalf("Scan() error = %v, want nil for a body of exactly MaxResponseBody bytes", err)
	}
	if s.Status != ScanSuccess {
		t.Errorf("Scan() status = %s, want Success", s.Status)
	}
}

func TestArtifactRetriesBrokenBody(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET "+artifactPath, sequence(truncateBody, replySuccess))
	c := startFakeWithRetry(t, fake, testRetryPolicy)
	waits := recordWaits(c)

	if _, err := c.Artifact(context.Background(), testRef); err != nil {
		t.Fatalf("Artifact() error = %v, want nil after the connection broke once", err)
	}
	if diff := cmp.Diff([]time.Duration{10 * time.Millisecond}, *waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

func TestUndecodableErrorBodyKeepsStatus(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		sentinel    error
		wantCalls   int
	}{
		{name: "HTML 500 is retried", status: http.StatusInternalServerError,
			contentType: "text/html", body: "<html>Internal Server Error</html>", wantCalls: 3},
		{name: "problem JSON 503 is retried", status: http.StatusServiceUnavailable,
			contentType: "application/problem+json", body: `{"title":"down"}`, wantCalls: 3},
		{name: "truncated JSON 404", status: http.StatusNotFound,
			contentType: "application/json", body: `{"errors":[`, sentinel: ErrNotFound,
			wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeHarbor()
			fake.handle("GET "+artifactPath, replyBody(tt.status, tt.contentType, tt.body))
			c := startFakeWithRetry(t, fake, testRetryPolicy)
			recordWaits(c)

			_, err := c.Artifact(context.Background(), testRef)
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("Artifact() error = %v, want an *APIError", err)
			}
			if apiErr.StatusCode != tt.status {
				t.Errorf("StatusCode = %d, want %d", apiErr.StatusCode, tt.status)
			}
			if want := http.StatusText(tt.status); apiErr.Message != want {
				t.Errorf("Message = %q, want the status text %q", apiErr.Message, want)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("Artifact() error = %v, want %v", err, tt.sentinel)
			}
			if n := len(fake.recorded()); n != tt.wantCalls {
				t.Errorf("requests = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestAPIErrorEscapesHarborText(t *testing.T) {
	tests := []struct {
		name    string
		code    string
		message string
		want    string
	}{
		{name: "plain", code: "NOT_FOUND", message: "artifact not found",
			want: "artifact not found (HTTP 404 NOT_FOUND"},
		{name: "terminal escape", code: "NOT_FOUND", message: "boom\x1b[2J",
			want: `boom\x1b[2J (HTTP 404`},
		{name: "bidirectional override", code: "NOT_FOUND", message: "abc\u202edef",
			want: `abc\u202edef (HTTP 404`},
		{name: "NUL and newline", code: "NOT_FOUND", message: "a\x00b\nc",
			want: `a\x00b\nc (HTTP 404`},
		{name: "non-ASCII kept", code: "NOT_FOUND", message: "Größe ☃",
			want: "Größe ☃ (HTTP 404"},
		{name: "escape in code", code: "NOT\x1bFOUND", message: "m",
			want: `m (HTTP 404 NOT\x1bFOUND`},
		{name: "long message cut", code: "NOT_FOUND", message: strings.Repeat("x", 5000),
			want: strings.Repeat("x", maxShownText) + "... (cut at 1024 of 5000 bytes) (HTTP 404"},
		{name: "long code cut", code: strings.Repeat("C", 100), message: "m",
			want: "(HTTP 404 " + strings.Repeat("C", maxShownCode) + "... (cut at 64 of 100 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeHarbor()
			fake.handle("GET "+artifactPath, replyError(http.StatusNotFound, tt.code, tt.message))
			c := startFake(t, fake)

			_, err := c.Artifact(context.Background(), testRef)
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("Artifact() error = %v, want an *APIError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Error() = %q, want it to contain %q", err, tt.want)
			}
			if apiErr.Message != tt.message {
				t.Errorf("Message = %q, want Harbor's message unchanged %q", apiErr.Message,
					tt.message)
			}
			for _, r := range err.Error() {
				if r < ' ' || r == 0x7f || r == '\u202e' {
					t.Errorf("Error() = %q contains the character %U", err, r)
				}
			}
		})
	}
}

func TestPrintable(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		limit int
		want  string
	}{
		{name: "printable", text: "Größe ☃ \"q\"", limit: 100, want: "Größe ☃ \"q\""},
		{name: "invalid UTF-8", text: "a\xff\xfeb", limit: 100, want: `a\xff\xfeb`},
		{name: "tab and DEL", text: "a\tb\x7f", limit: 100, want: `a\tb\x7f`},
		{name: "zero-width space", text: "a\u200bb", limit: 100, want: `a\u200bb`},
		{name: "cut before a multibyte rune", text: "ab☃", limit: 4,
			want: "ab... (cut at 2 of 5 bytes)"},
		{name: "cut before an escape", text: "abc\x1b", limit: 5,
			want: "abc... (cut at 3 of 4 bytes)"},
		{name: "at the limit", text: "abcd", limit: 4, want: "abcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := printable(tt.text, tt.limit); got != tt.want {
				t.Errorf("printable(%q, %d) = %q, want %q", tt.text, tt.limit, got, tt.want)
			}
		})
	}
}

func TestCheckUniqueKeys(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string // empty for no error
	}{
		{name: "no duplicates", body: artifactJSON(cleanOverview)},
		{name: "scalar", body: `7`},
		{name: "empty body", body: ``},
		{name: "same key in sibling objects", body: `{"a":{"k":1},"b":{"k":1}}`},
		{name: "same key in array elements", body: `[{"k":1},{"k":2}]`},
		{name: "case variants in a map", body: `{"extra_attrs":{"Label":1,"label":2}}`},
		{name: "case variants of severities",
			body: `{"scan_overview":{"t":{"summary":{"summary":{"Critical":1,"critical":0}}}}}`},
		{name: "top-level duplicate", body: `{"digest":"a","digest":"b"}`,
			wantErr: `the key "digest" occurs twice in the object at .`},
		{name: "duplicate in an array element", body: `{"tags":[{"n":1},{"n":1,"n":2}]}`,
			wantErr: `the key "n" occurs twice in the object at .tags[1]`},
		{name: "duplicate under a quoted key", body: `{"a b":{"c-d":{"k":1,"k":2}}}`,
			wantErr: `the key "k" occurs twice in the object at ["a b"]["c-d"]`},
		{name: "escaped key", body: `{"scan_status":1,"scan\u005fstatus":2}`,
			wantErr: `the key "scan_status" occurs twice`},
		{name: "case variant in the artifact", body: `{"Digest":"a","digest":"b"}`,
			wantErr: `the key "digest" occurs twice in the object at .`},
		{name: "Kelvin sign in a report overview",
			body:    `{"scan_overview":{"t":{"kind":1,"\u212aind":2}}}`,
			wantErr: "the key \"\u212aind\" occurs twice in the object at .scan_overview.t"},
		{name: "long s in a summary",
			body:    `{"Scan_Overview":{"t":{"summary":{"total":1,"\u017fummary":{},"Summary":{}}}}}`,
			wantErr: `the key "Summary" occurs twice in the object at .Scan_Overview.t.summary`},
		{name: "control character in a key", body: `{"a\u001b":1,"a\u001b":2}`,
			wantErr: `the key "a\x1b" occurs twice`},
		{name: "trailing data ignored", body: `{"a":1} {"a":1,"a":2}`},
		{name: "invalid JSON", body: `{"a":}`, wantErr: "reading JSON: invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkUniqueKeys([]byte(tt.body))
			if tt.wantErr == "" && err != nil {
				t.Errorf("checkUniqueKeys(%s) error = %v, want nil", tt.body, err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkUniqueKeys(%s) error = %v, want one containing %q", tt.body, err,
					tt.wantErr)
			}
		})
	}
}

func TestVulnerabilitiesRetriesBrokenBody(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET "+vulnerabilitiesPath, sequence(truncateBody,
		replyBody(http.StatusOK, "application/json",
			`{"`+MIMETypeGenericReport+`":{"vulnerabilities":[]}}`)))
	c := startFakeWithRetry(t, fake, testRetryPolicy)
	waits := recordWaits(c)

	got, err := c.Vulnerabilities(context.Background(), nestedRef)
	if err != nil {
		t.Fatalf("Vulnerabilities() error = %v, want nil after the connection broke once", err)
	}
	if len(got) != 0 {
		t.Errorf("Vulnerabilities() = %v, want none", got)
	}
	if diff := cmp.Diff([]time.Duration{10 * time.Millisecond}, *waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

func TestReadBodyLimit(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		limit   int64
		wantErr error
	}{
		{name: "under the limit", body: "abc", limit: 4},
		{name: "at the limit", body: "abcd", limit: 4},
		{name: "one byte over", body: "abcde", limit: 4, wantErr: errBodyTooLarge},
		{name: "empty", body: "", limit: 0},
		{name: "over a zero limit", body: "a", limit: 0, wantErr: errBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := readBody(strings.NewReader(tt.body), tt.limit)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("readBody(%q, %d) error = %v, want %v", tt.body, tt.limit, err,
					tt.wantErr)
			}
			if tt.wantErr == nil && string(data) != tt.body {
				t.Errorf("readBody(%q, %d) = %q, want the whole body", tt.body, tt.limit, data)
			}
		})
	}
}

func TestCappedReaderKeepsReadError(t *testing.T) {
	broken := io.MultiReader(strings.NewReader("ab"), iotest.ErrReader(io.ErrUnexpectedEOF))
	r := &cappedReader{r: broken, remaining: 10}
	if _, err := io.ReadAll(r); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadAll error = %v, want io.ErrUnexpectedEOF", err)
	}
	if !errors.Is(r.readErr, io.ErrUnexpectedEOF) {
		t.Errorf("readErr = %v, want io.ErrUnexpectedEOF", r.readErr)
	}
}
