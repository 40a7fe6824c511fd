package harbor

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const vulnerabilitiesPath = "/api/v2.0/projects/proj/repositories/group%252Fapp/artifacts/" +
	testDigest + "/additions/vulnerabilities"

var nestedRef = ArtifactRef{Project: "proj", Repository: "group/app", Digest: testDigest}

func TestVulnerabilitiesDecodesReport(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []Vulnerability
	}{{
		name: "generic report",
		body: `{"application/vnd.security.vulnerability.report; version=1.1": {
			"generated_at": "2025-01-01T10:00:15Z",
			"scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "v0.69.3"},
			"severity": "Critical",
			"vulnerabilities": [
				{"id": "CVE-1", "package": "openssl", "version": "3.0.0", "fix_version": "3.0.1",
				 "severity": "Critical", "description": "d", "links": ["https://example.test"],
				 "cwe_ids": ["CWE-1"], "preferred_cvss": {"score_v3": 9.8}},
				{"id": "CVE-2", "package": "zlib", "version": "1.2.0", "severity": "Low"}]}}`,
		want: []Vulnerability{
			{ID: "CVE-1", Package: "openssl", Version: "3.0.0", FixVersion: "3.0.1",
				Severity: "Critical"},
			{ID: "CVE-2", Package: "zlib", Version: "1.2.0", Severity: "Low"},
		},
	}, {
		name: "native report",
		body: `{"application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0": {
			"vulnerabilities": [{"id": "CVE-3", "package": "p", "version": "1",
			"severity": "High"}]}}`,
		want: []Vulnerability{{ID: "CVE-3", Package: "p", Version: "1", Severity: "High"}},
	}, {
		name: "clean image with null list",
		body: `{"application/vnd.security.vulnerability.report; version=1.1": {
			"severity": "None", "vulnerabilities": null}}`,
		want: []Vulnerability{},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHarbor()
			f.handle("GET "+vulnerabilitiesPath, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tc.body))
			})
			got, err := startFake(t, f).Vulnerabilities(context.Background(), nestedRef)
			if err != nil {
				t.Fatalf("Vulnerabilities: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("vulnerabilities (-want +got):\n%s", diff)
			}
			if got == nil {
				t.Error("vulnerabilities = nil, want a non-nil slice")
			}
		})
	}
}

func TestVulnerabilitiesRequest(t *testing.T) {
	f := newFakeHarbor()
	f.handle("GET "+vulnerabilitiesPath, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{MIMETypeGenericReport: map[string]any{}})
	})
	if _, err := startFake(t, f).Vulnerabilities(context.Background(), nestedRef); err != nil {
		t.Fatalf("Vulnerabilities: %v", err)
	}
	requests := f.recorded()
	if len(requests) != 1 {
		t.Fatalf("requests = %v, want one", f.methods())
	}
	got := requests[0]
	if got.Method != http.MethodGet || got.Path != vulnerabilitiesPath {
		t.Errorf("request = %s %s, want GET %s", got.Method, got.Path, vulnerabilitiesPath)
	}
	if accept := got.Header.Get("X-Accept-Vulnerabilities"); accept != acceptVulnerabilities {
		t.Errorf("X-Accept-Vulnerabilities = %q, want %q", accept, acceptVulnerabilities)
	}
	if got.Header.Get("X-Request-Id") == "" {
		t.Error("X-Request-Id is not set")
	}
	if user, _, ok := (&http.Request{Header: got.Header}).BasicAuth(); !ok || user != "robot$proj+ci" {
		t.Errorf("basic auth user = %q (present %t), want robot$proj+ci", user, ok)
	}
}

func TestVulnerabilitiesErrors(t *testing.T) {
	tests := []struct {
		name        string
		handler     http.HandlerFunc
		wantErr     error
		wantMessage string
	}{{
		name: "no report yet",
		handler: func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{})
		},
		wantErr:     ErrNoVulnerabilityReport,
		wantMessage: "wait until the scan is final",
	}, {
		name: "body is not an object",
		handler: func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, "a string")
		},
		wantErr:     ErrUnexpectedResponse,
		wantMessage: "decoding the vulnerabilities addition",
	}, {
		name:        "missing permission",
		handler:     replyError(http.StatusForbidden, "FORBIDDEN", "forbidden"),
		wantErr:     ErrForbidden,
		wantMessage: `project "proj" does not exist or the user lacks access to it`,
	}, {
		name:        "artifact not found",
		handler:     replyError(http.StatusNotFound, "NOT_FOUND", "artifact not found"),
		wantErr:     ErrNotFound,
		wantMessage: "artifact not found (HTTP 404 NOT_FOUND",
	}, {
		name:        "server error",
		handler:     replyError(http.StatusInternalServerError, "UNKNOWN", "internal server error"),
		wantMessage: "(HTTP 500 UNKNOWN",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHarbor()
			f.handle("GET "+vulnerabilitiesPath, tc.handler)
			got, err := startFake(t, f).Vulnerabilities(context.Background(), nestedRef)
			if err == nil {
				t.Fatalf("Vulnerabilities = %v, want an error", got)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want one wrapping %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMessage) {
				t.Errorf("error = %q, want it to contain %q", err, tc.wantMessage)
			}
			if !strings.HasPrefix(err.Error(), "getting the vulnerabilities of proj/group/app@") {
				t.Errorf("error = %q, want it to name the artifact first", err)
			}
		})
	}
}

func TestVulnerabilitiesInvalidRef(t *testing.T) {
	c := startFake(t, newFakeHarbor())
	_, err := c.Vulnerabilities(context.Background(), ArtifactRef{Project: "proj",
		Repository: "app", Digest: "latest"})
	if err == nil || !strings.Contains(err.Error(), "the digest must be sha256:") {
		t.Errorf("error = %v, want one about the digest", err)
	}
}
