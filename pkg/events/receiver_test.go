package events

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	testSecret = "Bearer hook-s3cr3t"
	testDigest = "sha256:4b7e1ad8f6b2e63a38c1c7a0fb2a5e0cb8e4a0b9d2e1f3a4b5c6d7e8f9a0b1c2"
)

// defaultBody is a Default payload of a finished scan, shaped as Harbor v2.13 sends it.
var defaultBody = `{"type":"SCANNING_COMPLETED","occur_at":1735725615,"operator":"robot$proj+ci",
 "event_data":{
   "resources":[{"digest":"` + testDigest + `","tag":"v1.2.3",
     "resource_url":"harbor.example.com/proj/app:v1.2.3",
     "scan_overview":{"application/vnd.security.vulnerability.report; version=1.1":{
        "report_id":"r-1","scan_status":"Success","severity":"High","duration":14,
        "summary":{"total":5,"fixable":3,"summary":{"High":2,"Low":3}},
        "start_time":"2025-01-01T10:00:01Z","end_time":"2025-01-01T10:00:15.123456789Z",
        "scanner":{"name":"Trivy","vendor":"Aqua Security","version":"v0.69.3"},
        "complete_percent":100}}}],
   "repository":{"name":"app","namespace":"proj","repo_full_name":"proj/app",
     "repo_type":"private"},
   "scan":{"scan_type":"vulnerability"}}}`

// cloudEventBody is a structured CloudEvent of a failed scan, shaped as Harbor v2.13 sends
// it: data is event_data alone, operator and requestid are extensions.
var cloudEventBody = `{"specversion":"1.0","id":"4b2f89a6-548d-4c12-9993-a1f5790b97d2",
 "requestid":"2eedfab8-61d3-4f3c-8ec3-8f82d1ec4c84","source":"/projects/1/webhook/policies/3",
 "type":"harbor.scan.failed","datacontenttype":"application/json",
 "time":"2025-01-01T10:00:15Z","operator":"robot$proj+ci",
 "data":{"resources":[{"digest":"` + testDigest + `",
   "resource_url":"harbor.example.com/proj/app@` + testDigest + `",
   "scan_overview":{"application/vnd.security.vulnerability.report; version=1.1":{
     "report_id":"r-2","scan_status":"Error","severity":"","duration":0,"summary":null,
     "start_time":"0001-01-01T00:00:00Z","end_time":"2025-01-01T10:00:15Z",
     "complete_percent":0}}}],
   "repository":{"name":"app","namespace":"proj","repo_full_name":"proj/app",
     "repo_type":"private"},
   "scan":{"scan_type":"vulnerability"}}}`

// recorder collects deliveries from a Receiver's callback without blocking it.
type recorder struct{ deliveries chan Delivery }

func newRecorder() *recorder { return &recorder{deliveries: make(chan Delivery, 64)} }

func (r *recorder) callback(_ context.Context, d Delivery) { r.deliveries <- d }

func (r *recorder) received() []Delivery {
	var out []Delivery
	for {
		select {
		case d := <-r.deliveries:
			out = append(out, d)
		default:
			return out
		}
	}
}

func post(t *testing.T, h http.Handler, contentType, auth, body string,
	header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/harbor", strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for key, value := range header {
		req.Header.Set(key, value)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestReceiverDeliversBothFormats(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		header      map[string]string
		body        string
		want        Delivery
	}{
		{name: "Default", contentType: "application/json; charset=utf-8", body: defaultBody,
			want: Delivery{EventType: EventScanningCompleted, Format: FormatDefault,
				Repository: "proj/app", Digest: testDigest, Tag: "v1.2.3", ScanStatus: "Success",
				Operator: "robot$proj+ci", OccurredAt: time.Unix(1735725615, 0).UTC()}},
		{name: "CloudEvents structured", contentType: "application/cloudevents+json",
			body: cloudEventBody,
			want: Delivery{EventType: EventScanningFailed, Format: FormatCloudEvents,
				EventID: "4b2f89a6-548d-4c12-9993-a1f5790b97d2", Repository: "proj/app",
				Digest: testDigest, ScanStatus: "Error", Operator: "robot$proj+ci",
				OccurredAt: time.Date(2025, 1, 1, 10, 0, 15, 0, time.UTC)}},
		{name: "CloudEvents binary", contentType: "application/json",
			header: map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "e-7",
				"Ce-Source": "/projects/1/webhook/policies/3", "Ce-Type": "harbor.scan.stopped",
				"Ce-Time": "2025-01-01T10:00:15Z", "Ce-Operator": "admin"},
			body: `{"resources":[{"digest":"` + testDigest + `","tag":"v1"}],` +
				`"repository":{"repo_full_name":"proj/app"}}`,
			want: Delivery{EventType: EventScanningStopped, Format: FormatCloudEvents,
				EventID: "e-7", Repository: "proj/app", Digest: testDigest, Tag: "v1",
				Operator: "admin", OccurredAt: time.Date(2025, 1, 1, 10, 0, 15, 0, time.UTC)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			r := NewReceiver(WithSecret(testSecret), WithCallback(rec.callback))
			w := post(t, r, tc.contentType, testSecret, tc.body, tc.header)
			if w.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", w.Code, w.Body)
			}
			if diff := cmp.Diff([]Delivery{tc.want}, rec.received()); diff != "" {
				t.Errorf("deliveries (-want +got):\n%s", diff)
			}
			stats := r.Stats()
			if stats.Accepted != 1 || stats.Delivered != 1 {
				t.Errorf("accepted = %d, delivered = %d, want 1 and 1", stats.Accepted,
					stats.Delivered)
			}
		})
	}
}

func TestReceiverRejects(t *testing.T) {
	oversized := `{"type":"SCANNING_COMPLETED","padding":"` + strings.Repeat("x", 2048) + `"}`
	tests := []struct {
		name        string
		method      string
		contentType string
		auth        string
		body        string
		chunked     bool
		want        int
		reason      RejectReason
	}{
		{name: "GET", method: http.MethodGet, want: 405, reason: RejectMethod},
		{name: "missing Authorization", auth: "-", want: 401, reason: RejectUnauthorized},
		{name: "forged Authorization", auth: "Bearer guessed", want: 401,
			reason: RejectUnauthorized},
		{name: "secret without scheme", auth: "hook-s3cr3t", want: 401,
			reason: RejectUnauthorized},
		{name: "text/plain", contentType: "text/plain", want: 415, reason: RejectMediaType},
		{name: "no content type", contentType: "-", want: 415, reason: RejectMediaType},
		{name: "oversized with length", body: oversized, want: 413, reason: RejectTooLarge},
		{name: "oversized chunked", body: oversized, chunked: true, want: 413,
			reason: RejectTooLarge},
		{name: "malformed JSON", body: `{"type":`, want: 400, reason: RejectMalformed},
		{name: "no type", body: `{"occur_at":1}`, want: 400, reason: RejectMalformed},
		{name: "scan without resources", body: `{"type":"SCANNING_COMPLETED",` +
			`"event_data":{"resources":[]}}`, want: 400, reason: RejectMalformed},
		{name: "invalid digest", body: `{"type":"SCANNING_FAILED","event_data":` +
			`{"resources":[{"digest":"sha256:zz"}]}}`, want: 400, reason: RejectMalformed},
		{name: "sha512 digest", body: `{"type":"SCANNING_COMPLETED","event_data":` +
			`{"resources":[{"digest":"sha512:` + strings.Repeat("a", 128) + `"}]}}`,
			want: 400, reason: RejectMalformed},
		{name: "CloudEvent without id", contentType: "application/cloudevents+json",
			body: `{"specversion":"1.0","source":"/p","type":"harbor.scan.completed"}`,
			want: 400, reason: RejectMalformed},
		{name: "CloudEvent with data but without id",
			contentType: "application/cloudevents+json",
			body: `{"specversion":"1.0","source":"/p","type":"harbor.scan.completed",` +
				`"data":{"resources":[{"digest":"` + testDigest + `"}]}}`,
			want: 400, reason: RejectMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			r := NewReceiver(WithSecret(testSecret), WithCallback(rec.callback),
				WithMaxBodyBytes(1024))
			method, contentType, auth, body := tc.method, tc.contentType, tc.auth, tc.body
			if method == "" {
				method = http.MethodPost
			}
			if contentType == "" {
				contentType = "application/json"
			}
			if auth == "" {
				auth = testSecret
			}
			if body == "" {
				body = defaultBody
			}
			req := httptest.NewRequest(method, "/harbor", strings.NewReader(body))
			if tc.chunked {
				req.ContentLength = -1
			}
			if contentType != "-" {
				req.Header.Set("Content-Type", contentType)
			}
			if auth != "-" {
				req.Header.Set("Authorization", auth)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)

			if w.Code != tc.want {
				t.Errorf("status = %d, want %d; body %s", w.Code, tc.want, w.Body)
			}
			if got := r.Stats().Rejected[tc.reason]; got != 1 {
				t.Errorf("Rejected[%s] = %d, want 1", tc.reason, got)
			}
			if got := rec.received(); len(got) != 0 {
				t.Errorf("callback got %v, want nothing", got)
			}
			for _, secret := range []string{"hook-s3cr3t", "guessed"} {
				output := w.Body.String() + fmt.Sprintf("%+v", r.Stats())
				if strings.Contains(output, secret) {
					t.Errorf("response or stats contain %q: %s", secret, output)
				}
			}
		})
	}
}

func TestReceiverMethodNotAllowedSetsAllow(t *testing.T) {
	r := NewReceiver(WithSecret(testSecret))
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodPut, "/harbor", nil))
	if got := w.Header().Get("Allow"); got != http.MethodPost {
		t.Errorf("Allow = %q, want POST", got)
	}
}

func TestReceiverWithoutSecretRejectsAll(t *testing.T) {
	rec := newRecorder()
	receivers := map[string]*Receiver{
		"no option":    NewReceiver(WithCallback(rec.callback)),
		"empty secret": NewReceiver(WithCallback(rec.callback), WithSecret("")),
	}
	for name, r := range receivers {
		for _, auth := range []string{"", "Bearer anything"} {
			w := post(t, r, "application/json", auth, defaultBody, nil)
			if w.Code != http.StatusUnauthorized {
				t.Errorf("%s, Authorization %q: status = %d, want 401", name, auth, w.Code)
			}
		}
	}
	if got := rec.received(); len(got) != 0 {
		t.Errorf("callback got %v, want nothing", got)
	}
}

func TestReceiverIgnoresOtherEvents(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
	}{
		{name: "push", contentType: "application/json",
			body: `{"type":"PUSH_ARTIFACT","occur_at":1,"operator":"ci","event_data":` +
				`{"resources":[{"digest":"` + testDigest + `","tag":"v1"}]}}`},
		{name: "unknown type", contentType: "application/json",
			body: `{"type":"SOMETHING_NEW","occur_at":1,"operator":""}`},
		{name: "CloudEvents pull", contentType: "application/cloudevents+json",
			body: `{"specversion":"1.0","id":"1","source":"/projects/1/webhook/policies/3",` +
				`"type":"harbor.artifact.pulled","data":{"resources":[]}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			r := NewReceiver(WithSecret(testSecret), WithCallback(rec.callback))
			w := post(t, r, tc.contentType, testSecret, tc.body, nil)
			if w.Code != http.StatusOK {
				t.Errorf("status = %d, want 200; body %s", w.Code, w.Body)
			}
			if got := rec.received(); len(got) != 0 {
				t.Errorf("callback got %v, want nothing", got)
			}
			if stats := r.Stats(); stats.Ignored != 1 || stats.Accepted != 0 {
				t.Errorf("ignored = %d, accepted = %d, want 1 and 0", stats.Ignored,
					stats.Accepted)
			}
		})
	}
}

func TestReceiverReplayCallsAgain(t *testing.T) {
	rec := newRecorder()
	r := NewReceiver(WithSecret(testSecret), WithCallback(rec.callback))
	for range 2 {
		if w := post(t, r, "application/json", testSecret, defaultBody, nil); w.Code != 200 {
			t.Fatalf("status = %d, want 200", w.Code)
		}
	}
	got := rec.received()
	if len(got) != 2 {
		t.Fatalf("callback calls = %d, want 2", len(got))
	}
	if diff := cmp.Diff(got[0], got[1]); diff != "" {
		t.Errorf("replayed delivery differs (-first +second):\n%s", diff)
	}
	if stats := r.Stats(); stats.Accepted != 2 || stats.Delivered != 2 {
		t.Errorf("accepted = %d, delivered = %d, want 2 and 2", stats.Accepted, stats.Delivered)
	}
}

func TestReceiverStatsListEveryReason(t *testing.T) {
	got := NewReceiver().Stats()
	want := ReceiverStats{Rejected: map[RejectReason]int64{
		RejectMethod: 0, RejectUnauthorized: 0, RejectMediaType: 0, RejectTooLarge: 0,
		RejectMalformed: 0,
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}
