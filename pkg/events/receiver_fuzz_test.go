package events

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// fuzzMaxBodyBytes is the body limit of the fuzzed receiver, small enough
// that the fuzzer reaches 413 with inputs of a few KiB.
const fuzzMaxBodyBytes = 4096

// sha256DigestPattern is a canonical sha256 digest as OCI defines it.
var sha256DigestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// FuzzReceiver posts any body, in both JSON content types and with a
// fuzzed one, to a Receiver. With the right Authorization the status is
// 200, 400, 413 or 415 and the callback gets only sha256 digests. With any
// other Authorization the status is 401 and the callback is never called.
func FuzzReceiver(f *testing.F) {
	f.Add([]byte(defaultBody), "application/json; charset=utf-8", "", "Bearer hook-s3cr3t!")
	f.Add([]byte(cloudEventBody), "application/cloudevents+json", "", "")
	f.Add([]byte(`{"resources":[{"digest":"`+testDigest+`","tag":"v1"}],`+
		`"repository":{"repo_full_name":"proj/app"}}`), "application/json", "1.0", testSecret)
	seeds := []string{
		``, `null`, `{}`, `[]`, `"SCANNING_COMPLETED"`, `{"type":""}`,
		`{"type":"PUSH_ARTIFACT","event_data":{"resources":[]}}`,
		`{"type":"SCANNING_COMPLETED"}`,
		`{"type":"SCANNING_COMPLETED","event_data":{"resources":[]}}`,
		`{"type":"SCANNING_FAILED","event_data":{"resources":[{"digest":"sha256:abc"}]}}`,
		`{"type":"SCANNING_STOPPED","event_data":{"resources":[{"digest":"sha512:` +
			strings.Repeat("a", 128) + `"}]}}`,
		`{"type":"SCANNING_COMPLETED","event_data":{"resources":[{"digest":"SHA256:` +
			strings.Repeat("A", 64) + `"}]}}`,
		`{"type":"SCANNING_COMPLETED","event_data":{"resources":[{"digest":"` + testDigest +
			`","scan_overview":{"x":{"scan_status":7}}}]}}`,
		`{"type":"SCANNING_COMPLETED","occur_at":1e400}`,
		`{"type":1}`,
		`{"specversion":"1.0","id":"1","source":"/","type":"harbor.scan.completed","data":"x"}`,
		`{"specversion":"0.3","id":"1","source":"/","type":"harbor.scan.completed"}`,
		`{"specversion":"1.0","id":"1","source":"/","type":"harbor.push","data":{}}`,
		"\xff\xfe{}", `{"type":"SCANNING_COMPLETED","type":"PUSH_ARTIFACT"}`,
		strings.Repeat("[", 10000),
		`{"type":"SCANNING_COMPLETED","padding":"` + strings.Repeat("x", fuzzMaxBodyBytes) + `"}`,
	}
	for _, body := range seeds {
		f.Add([]byte(body), "application/json", "", "bearer hook-s3cr3t")
		f.Add([]byte(body), "text/plain", "1.0", testSecret+" ")
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType, specVersion, auth string) {
		contentTypes := []string{
			"application/json", "application/cloudevents+json", contentType,
		}
		for _, ct := range contentTypes {
			header := binaryModeHeader(specVersion)
			checkAuthorizedDelivery(t, body, ct, header, ct == contentType)
			if auth != testSecret {
				checkUnauthorizedDelivery(t, body, ct, auth, header)
			}
		}
	})
}

// binaryModeHeader returns the CloudEvents binary mode attributes of a scan
// event with the given spec version, or none when specVersion is empty.
func binaryModeHeader(specVersion string) http.Header {
	header := http.Header{}
	if specVersion == "" {
		return header
	}
	header.Set("Ce-Specversion", specVersion)
	header.Set("Ce-Id", "e-1")
	header.Set("Ce-Source", "/projects/1/webhook/policies/3")
	header.Set("Ce-Type", "harbor.scan.completed")
	return header
}

// fuzzPost sends body to r as one POST request.
func fuzzPost(r http.Handler, body []byte, contentType, auth string,
	header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/harbor", bytes.NewReader(body))
	for key, values := range header {
		req.Header[key] = values
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", auth)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w
}

func checkAuthorizedDelivery(t *testing.T, body []byte, contentType string,
	header http.Header, mayBeUnsupported bool) {
	t.Helper()
	var got []Delivery
	r := NewReceiver(WithSecret(testSecret), WithMaxBodyBytes(fuzzMaxBodyBytes),
		WithCallback(func(_ context.Context, d Delivery) { got = append(got, d) }))
	w := fuzzPost(r, body, contentType, testSecret, header)
	switch w.Code {
	case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
	case http.StatusUnsupportedMediaType:
		if !mayBeUnsupported {
			t.Errorf("content type %q: status = 415, want it accepted", contentType)
		}
	default:
		t.Errorf("content type %q: status = %d, want 200, 400, 413 or 415; body %q",
			contentType, w.Code, w.Body)
	}
	if w.Code != http.StatusOK && len(got) > 0 {
		t.Errorf("content type %q: status = %d, but the callback got %d deliveries",
			contentType, w.Code, len(got))
	}
	for _, d := range got {
		if !sha256DigestPattern.MatchString(d.Digest) {
			t.Errorf("content type %q: the callback got digest %q, want sha256:<64 hex>",
				contentType, d.Digest)
		}
	}
	if stats := r.Stats(); stats.Delivered != int64(len(got)) {
		t.Errorf("content type %q: Stats().Delivered = %d, want %d callback calls",
			contentType, stats.Delivered, len(got))
	}
}

func checkUnauthorizedDelivery(t *testing.T, body []byte, contentType, auth string,
	header http.Header) {
	t.Helper()
	calls := 0
	r := NewReceiver(WithSecret(testSecret), WithMaxBodyBytes(fuzzMaxBodyBytes),
		WithCallback(func(context.Context, Delivery) { calls++ }))
	w := fuzzPost(r, body, contentType, auth, header)
	if w.Code != http.StatusUnauthorized {
		t.Errorf("Authorization %q, content type %q: status = %d, want 401", auth,
			contentType, w.Code)
	}
	if calls != 0 {
		t.Errorf("Authorization %q: the callback was called %d times, want 0", auth, calls)
	}
	if strings.Contains(w.Body.String(), testSecret) {
		t.Errorf("Authorization %q: the response %q contains the secret", auth, w.Body)
	}
}
