package hostile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/policy"
)

const (
	testDigest = "sha256:4b7e1ad8f6b2e63a38c1c7a0fb2a5e0cb8e4a0b9d2e1f3a4b5c6d7e8f9a0b1c2"
	// otherDigest is a valid digest that no test artifact has.
	otherDigest = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
	// harborHost is the registry host in the artifact references of the Harbor cases. The
	// client does not compare it with its URL.
	harborHost = "harbor.example"
)

// artifactBody returns an artifact of testDigest whose generic scan overview is
// overview, an object's members without the braces.
func artifactBody(overview string) string {
	return `{"id":1,"digest":"` + testDigest + `","type":"IMAGE",` +
		`"addition_links":{"vulnerabilities":{"href":"/v","absolute":false}},` +
		`"scan_overview":{"` + harbor.MIMETypeGenericReport + `":{` + overview + `}}}`
}

// successOverview returns a finished scan's overview members with the given summary
// counts and complete_percent.
func successOverview(counts, percent string) string {
	return `"report_id":"r-1","scan_status":"Success","severity":"None",` +
		`"summary":{"total":0,"fixable":0,"summary":{` + counts + `}},` +
		`"complete_percent":` + percent
}

// harborCase is one hostile response of Harbor's artifact endpoint, which Client.Scan
// reads. The case passes when Scan fails, or when the default policy fails the scan it
// returns, with a message that contains want.
type harborCase struct {
	name string
	// ref is the artifact reference to read; empty means team/app@testDigest.
	ref string
	// status is the HTTP status of the response; 0 means 200.
	status int
	// body returns the response body; the server streams it without Content-Length.
	body func() io.Reader
	want []string
	// forbid lists text that the message must not contain.
	forbid []string
	// refused means the reference must be rejected before any request is sent.
	refused bool
	// unexpected means that Scan must fail with an error that wraps
	// harbor.ErrUnexpectedResponse.
	unexpected bool
	gap        knownGap
}

// text returns a body function for s.
func text(s string) func() io.Reader {
	return func() io.Reader { return strings.NewReader(s) }
}

// endless returns a body function for n bytes that start with prefix and repeat fill.
func endless(prefix string, fill byte, n int64) func() io.Reader {
	return func() io.Reader {
		return io.MultiReader(strings.NewReader(prefix),
			io.LimitReader(repeatReader(fill), n-int64(len(prefix))))
	}
}

// repeatReader returns the same byte forever.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

var harborCases = []harborCase{{
	name: "truncated JSON",
	body: text(`{"id":1,"digest":"` + testDigest),
	want: []string{"getting artifact team/app@" + testDigest,
		"could not be decoded"},
	unexpected: true,
}, {
	name: "body is not JSON",
	body: text("<html><body>502 Bad Gateway</body></html>"),
	want: []string{"getting artifact team/app@" + testDigest,
		"could not be decoded"},
	unexpected: true,
}, {
	name: "scan_status is a number",
	body: text(artifactBody(`"scan_status":7`)),
	want: []string{"getting artifact team/app@" + testDigest,
		"could not be decoded"},
	unexpected: true,
}, {
	name: "complete_percent is a string",
	body: text(artifactBody(`"scan_status":"Success","severity":"None",` +
		`"summary":{"summary":{}},"complete_percent":"100"`)),
	want: []string{"getting artifact team/app@" + testDigest,
		"could not be decoded"},
	unexpected: true,
}, {
	name: "count is a string",
	body: text(artifactBody(`"scan_status":"Success","severity":"None",` +
		`"summary":{"summary":{"Critical":"0"}},"complete_percent":100`)),
	want: []string{"getting artifact team/app@" + testDigest,
		"could not be decoded"},
	unexpected: true,
}, {
	name: "complete_percent over the int64 range",
	body: text(artifactBody(`"scan_status":"Success","complete_percent":1e999`)),
	want: []string{"getting artifact team/app@" + testDigest,
		"could not be decoded"},
	unexpected: true,
}, {
	name: "complete_percent over 100",
	body: text(artifactBody(successOverview("", "101"))),
	want: []string{"101% complete", "Harbor never sends"},
}, {
	name: "complete_percent below 100",
	body: text(artifactBody(successOverview("", "99"))),
	want: []string{"99% of the image's platforms"},
}, {
	name: "negative count",
	body: text(artifactBody(successOverview(`"Critical":-1,"High":0`, "100"))),
	want: []string{"-1 Critical", "Harbor never sends", "scan the image again"},
}, {
	name: "negative count next to a finding",
	body: text(artifactBody(successOverview(`"Critical":-5,"Medium":3`, "100"))),
	want: []string{"-5 Critical"},
}, {
	name: "Success without summary",
	body: text(artifactBody(`"scan_status":"Success","severity":"None","complete_percent":100`)),
	want: []string{"scan_status Success but no severity or summary"},
}, {
	name: "lower-case scan_status",
	body: text(artifactBody(`"scan_status":"success","severity":"None",` +
		`"summary":{"summary":{}},"complete_percent":100`)),
	want: []string{`"success"`},
}, {
	name: "scan_status with a right-to-left override",
	body: text(artifactBody(`"scan_status":"Succ\u202eess","severity":"None",` +
		`"summary":{"summary":{}},"complete_percent":100`)),
	want: []string{`"Succ\u202eess"`},
}, {
	name: "scan_status with a NUL",
	body: text(artifactBody(`"scan_status":"Success\u0000","severity":"None",` +
		`"summary":{"summary":{}},"complete_percent":100`)),
	want: []string{`"Success\x00"`},
}, {
	name: "scan_status in invalid UTF-8",
	body: text(artifactBody("\"scan_status\":\"Succ\xffess\",\"severity\":\"None\"," +
		`"summary":{"summary":{}},"complete_percent":100`)),
	want: []string{`"Succ` + "\ufffd" + `ess"`},
}, {
	name: "homoglyph severity",
	body: text(artifactBody(successOverview(`"Сritical":1`, "100"))),
	want: []string{"1 Сritical finding(s)"},
}, {
	name: "severity key with a NUL",
	body: text(artifactBody(successOverview(`"Critical\u0000":2`, "100"))),
	want: []string{"2 Critical\x00 finding(s)"},
}, {
	name: "duplicated scan_status, the last is Error",
	body: text(artifactBody(`"scan_status":"Success","severity":"None",` +
		`"summary":{"summary":{}},"complete_percent":100,"scan_status":"Error"`)),
	want:       []string{`the key "scan_status" occurs twice`},
	unexpected: true,
}, {
	name:       "duplicated count, the last is a finding",
	body:       text(artifactBody(successOverview(`"Critical":0,"Critical":4`, "100"))),
	want:       []string{`the key "Critical" occurs twice`, ".summary.summary"},
	unexpected: true,
}, {
	name:       "duplicated count, the last is zero",
	body:       text(artifactBody(successOverview(`"Critical":4,"Critical":0`, "100"))),
	want:       []string{`the key "Critical" occurs twice`, ".summary.summary"},
	unexpected: true,
}, {
	name: "scan_status twice in different case",
	body: text(artifactBody(`"scan_status":"Error","severity":"None",` +
		`"summary":{"summary":{}},"complete_percent":100,"Scan_Status":"Success"`)),
	want:       []string{`the key "Scan_Status" occurs twice`},
	unexpected: true,
}, {
	name: "other artifact's digest",
	body: text(strings.Replace(artifactBody(successOverview("", "100")), testDigest,
		otherDigest, 1)),
	want: []string{"Harbor returned the artifact " + otherDigest},
}, {
	name: "no digest",
	body: text(`{"id":1,"scan_overview":null}`),
	want: []string{"the body has no artifact digest"},
}, {
	name: "only unknown report types",
	body: text(`{"id":1,"digest":"` + testDigest + `","scan_overview":` +
		`{"application/vnd.other":{"scan_status":"Success"}}}`),
	want: []string{`["application/vnd.other"]`, harbor.MIMETypeGenericReport},
}, {
	name: "10 MB body without Content-Length",
	body: endless(`{"id":1,"digest":"`+testDigest+`","x":"`, 'a', 10<<20),
	want: []string{"getting artifact team/app@" + testDigest,
		"longer than the limit"},
	unexpected: true,
}, {
	name: "10 MB of NUL bytes",
	body: endless("", 0, 10<<20),
	want: []string{"getting artifact team/app@" + testDigest,
		"longer than the limit"},
	unexpected: true,
}, {
	name:   "error body with terminal escapes",
	status: http.StatusInternalServerError,
	body: text(`{"errors":[{"code":"INTERNAL","message":"boom` + "\\u001b[2J" +
		`\u202e"}]}`),
	want:   []string{"HTTP 500", `boom\x1b[2J\u202e`},
	forbid: []string{"\x1b", "\u202e"},
}, {
	name:   "huge error body",
	status: http.StatusBadGateway,
	body:   endless("", 'x', 10<<20),
	want:   []string{"HTTP 502", "Bad Gateway"},
}, {
	name:    "path trick: .. as the repository",
	ref:     harborHost + "/team/..@" + testDigest,
	want:    []string{"team/..@"},
	refused: true,
}, {
	name:    "path trick: .. inside the repository",
	ref:     harborHost + "/team/../app@" + testDigest,
	want:    []string{"team/../app@"},
	refused: true,
}, {
	name:    "path trick: escaped slash",
	ref:     harborHost + "/team%2Fapp@" + testDigest,
	refused: true,
	want:    []string{"team%2Fapp"},
}, {
	name:    "path trick: empty path component",
	ref:     harborHost + "/team//app@" + testDigest,
	refused: true,
	want:    []string{"team//app"},
}, {
	name:    "path trick: upper case",
	ref:     harborHost + "/team/App@" + testDigest,
	refused: true,
	want:    []string{"team/App"},
}, {
	name:    "path trick: 256 characters",
	ref:     harborHost + "/team/" + strings.Repeat("a", 256) + "@" + testDigest,
	refused: true,
	want:    []string{strings.Repeat("a", 256)},
}}

func TestHarborResponses(t *testing.T) {
	for _, tc := range harborCases {
		t.Run(tc.name, func(t *testing.T) {
			srv, paths := newHostileHarbor(t, tc)
			var message string
			var wrapped, passed bool
			callSafely(t, func() { message, wrapped, passed = scanMessage(t, srv.URL, tc) })
			checkFragments(t, "the message", message, tc.want)

			var problems []string
			if passed {
				problems = append(problems, "the default policy passed the scan")
			}
			if tc.unexpected && !wrapped {
				problems = append(problems, "the error does not wrap ErrUnexpectedResponse")
			}
			for _, text := range tc.forbid {
				if strings.Contains(message, text) {
					problems = append(problems, fmt.Sprintf("the message contains %q", text))
				}
			}
			if got := paths(); tc.refused && len(got) > 0 {
				problems = append(problems, fmt.Sprintf("Harbor received %q", got))
			}
			tc.gap.check(t, len(problems) == 0, "%s:\n%s", strings.Join(problems, "; "),
				message)
		})
	}
}

// scanMessage reads the artifact of tc through a Client and returns the error or the
// default policy's verdict on the scan. It also returns whether the error wraps
// ErrUnexpectedResponse and whether the verdict is PASS.
func scanMessage(t *testing.T, url string, tc harborCase) (message string, wrapped,
	passed bool) {
	t.Helper()
	client, err := harbor.NewClient(harbor.Config{URL: url, Username: "robot$team+ci",
		Password: "s3cr3t-robot-Zq81", Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	refText := tc.ref
	if refText == "" {
		refText = harborHost + "/team/app@" + testDigest
	}
	ref, err := harbor.ParseArtifactRef(refText)
	if err != nil {
		return err.Error(), false, false
	}
	s, err := client.Scan(context.Background(), ref)
	if err != nil {
		return err.Error(), errors.Is(err, harbor.ErrUnexpectedResponse), false
	}
	verdict := policy.DefaultPolicy().Evaluate(policy.Report{
		Status: string(s.Status), Counts: s.Counts, CompletePercent: s.CompletePercent,
	})
	message = fmt.Sprintf("%s %s: %s", verdict.Result, verdict.Reason, verdict.Message())
	return message, false, verdict.Passed()
}

// newHostileHarbor serves tc's response on every request and returns the server and a
// function that lists the escaped paths it received.
func newHostileHarbor(t *testing.T, tc harborCase) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.EscapedPath())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if tc.body == nil {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"errors":[{"code":"NOT_FOUND","message":"not found"}]}`)
			return
		}
		status := tc.status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = io.Copy(w, tc.body())
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), paths...)
	}
}
