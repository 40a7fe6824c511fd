package harbor

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseArtifactRef(t *testing.T) {
	tests := []struct {
		name    string
		ref     string
		want    ArtifactRef
		wantErr string
	}{
		{
			name: "project and repository",
			ref:  "registry.druppie.local/proj/app@" + testDigest,
			want: ArtifactRef{Project: "proj", Repository: "app", Digest: testDigest},
		},
		{
			name: "nested repository",
			ref:  "registry.druppie.local:8443/proj/team/app@" + testDigest,
			want: ArtifactRef{Project: "proj", Repository: "team/app", Digest: testDigest},
		},
		{
			name: "tag and digest",
			ref:  "registry.druppie.local/proj/app:v1.2.3@" + testDigest,
			want: ArtifactRef{Project: "proj", Repository: "app", Digest: testDigest},
		},
		{name: "tag only", ref: "registry.druppie.local/proj/app:v1", wantErr: "parsing image reference"},
		{
			name:    "no project",
			ref:     "registry.druppie.local/app@" + testDigest,
			wantErr: "the repository must start with a project",
		},
		{name: "short digest", ref: "registry.druppie.local/proj/app@sha256:abc", wantErr: "parsing"},
		{
			name:    "dot-dot repository",
			ref:     "registry.druppie.local/proj/..@" + testDigest,
			wantErr: `invalid artifact "proj/..@` + testDigest + `": the path component ".."`,
		},
		{
			name:    "dot repository component",
			ref:     "registry.druppie.local/proj/./app@" + testDigest,
			wantErr: `invalid artifact "proj/./app@` + testDigest + `": the path component "."`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArtifactRef(tt.ref)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseArtifactRef(%q) error = %v, want one containing %q", tt.ref, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseArtifactRef(%q) error = %v", tt.ref, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseArtifactRef(%q) (-want +got):\n%s", tt.ref, diff)
			}
		})
	}
}

func TestArtifactRefValidate(t *testing.T) {
	tests := []struct {
		name    string
		ref     ArtifactRef
		wantErr string
	}{
		{name: "valid", ref: testRef},
		{name: "missing project", ref: ArtifactRef{Repository: "app", Digest: testDigest}, wantErr: "missing project"},
		{
			name:    "project with slash",
			ref:     ArtifactRef{Project: "a/b", Repository: "app", Digest: testDigest},
			wantErr: "contains '/'",
		},
		{name: "missing repository", ref: ArtifactRef{Project: "proj", Digest: testDigest}, wantErr: "missing repository"},
		{
			name:    "repository with leading slash",
			ref:     ArtifactRef{Project: "proj", Repository: "/app", Digest: testDigest},
			wantErr: "starts or ends with '/'",
		},
		{
			name:    "dot-dot repository",
			ref:     ArtifactRef{Project: "proj", Repository: "..", Digest: testDigest},
			wantErr: `the path component ".." of "proj/.." is not valid`,
		},
		{
			name:    "dot-dot inside the repository",
			ref:     ArtifactRef{Project: "proj", Repository: "team/../app", Digest: testDigest},
			wantErr: `the path component ".." of "proj/team/../app" is not valid`,
		},
		{
			name:    "dot project",
			ref:     ArtifactRef{Project: ".", Repository: "app", Digest: testDigest},
			wantErr: `the path component "." of "./app" is not valid`,
		},
		{
			name:    "empty component",
			ref:     ArtifactRef{Project: "proj", Repository: "team//app", Digest: testDigest},
			wantErr: `the path component "" of "proj/team//app" is not valid`,
		},
		{
			name:    "upper case",
			ref:     ArtifactRef{Project: "proj", Repository: "App", Digest: testDigest},
			wantErr: `the path component "App" of "proj/App" is not valid`,
		},
		{
			name:    "escaped slash",
			ref:     ArtifactRef{Project: "proj", Repository: "team%2Fapp", Digest: testDigest},
			wantErr: `the path component "team%2Fapp"`,
		},
		{
			name:    "two dots inside a component",
			ref:     ArtifactRef{Project: "proj", Repository: "a..b", Digest: testDigest},
			wantErr: `the path component "a..b"`,
		},
		{
			name:    "leading dash",
			ref:     ArtifactRef{Project: "-proj", Repository: "app", Digest: testDigest},
			wantErr: `the path component "-proj"`,
		},
		{
			name:    "name over 255 bytes",
			ref:     ArtifactRef{Project: "proj", Repository: strings.Repeat("a", 251), Digest: testDigest},
			wantErr: "is 256 bytes long, more than the maximum of 255",
		},
		{
			name: "separators",
			ref: ArtifactRef{Project: "my-proj", Repository: "team_a/app__b/c.d/e---f",
				Digest: testDigest},
		},
		{
			name: "name of 255 bytes",
			ref:  ArtifactRef{Project: "proj", Repository: strings.Repeat("a", 250), Digest: testDigest},
		},
		{name: "missing digest", ref: ArtifactRef{Project: "proj", Repository: "app"}, wantErr: "the digest must be"},
		{
			name:    "tag in place of digest",
			ref:     ArtifactRef{Project: "proj", Repository: "app", Digest: "v1.2.3"},
			wantErr: "the digest must be",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ref.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Validate() error = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestArtifactRequestWireForm(t *testing.T) {
	tests := []struct {
		name       string
		repository string
		wantPath   string
	}{
		{name: "plain", repository: "app", wantPath: "/api/v2.0/projects/proj/repositories/app/artifacts/"},
		{
			name:       "one slash",
			repository: "team/app",
			wantPath:   "/api/v2.0/projects/proj/repositories/team%252Fapp/artifacts/",
		},
		{
			name:       "two slashes",
			repository: "a/b/c",
			wantPath:   "/api/v2.0/projects/proj/repositories/a%252Fb%252Fc/artifacts/",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeHarbor()
			fake.handle("GET "+tt.wantPath+testDigest, replyArtifact(scannableArtifact(nil)))
			c := startFake(t, fake)
			ref := ArtifactRef{Project: "proj", Repository: tt.repository, Digest: testDigest}

			if _, err := c.Artifact(context.Background(), ref); err != nil {
				t.Fatalf("Artifact(%s) error = %v", ref, err)
			}

			got := fake.recorded()[0]
			if want := tt.wantPath + testDigest; got.Path != want {
				t.Errorf("request path = %q, want %q", got.Path, want)
			}
			query, err := url.ParseQuery(got.Query)
			if err != nil {
				t.Fatalf("parsing query %q: %v", got.Query, err)
			}
			wantQuery := url.Values{"with_scan_overview": {"true"}, "with_accessory": {"true"}}
			if diff := cmp.Diff(wantQuery, query); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
			wantAccept := "application/vnd.security.vulnerability.report; version=1.1, " +
				"application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
			if accept := got.Header.Get("X-Accept-Vulnerabilities"); accept != wantAccept {
				t.Errorf("X-Accept-Vulnerabilities = %q, want %q", accept, wantAccept)
			}
		})
	}
}

func TestArtifactDigestMismatch(t *testing.T) {
	fake := newFakeHarbor()
	other := scannableArtifact(nil)
	other.Digest = "sha256:" + strings.Repeat("f", 64)
	fake.handle("GET "+artifactPath, replyArtifact(other))
	c := startFake(t, fake)

	_, err := c.Artifact(context.Background(), testRef)
	if !errors.Is(err, ErrUnexpectedResponse) {
		t.Errorf("Artifact() error = %v, want ErrUnexpectedResponse", err)
	}
}

func TestArtifactErrors(t *testing.T) {
	tests := []struct {
		name         string
		handler      http.HandlerFunc
		want         *APIError
		wantSentinel error
		wantText     string
		wantTemp     bool
	}{
		{
			name:         "unauthorized",
			handler:      replyError(http.StatusUnauthorized, "UNAUTHORIZED", "unauthorized"),
			want:         &APIError{StatusCode: 401, Code: "UNAUTHORIZED", Message: "unauthorized"},
			wantSentinel: ErrUnauthorized,
			wantText:     "check the username and password",
		},
		{
			name:         "forbidden names the project",
			handler:      replyError(http.StatusForbidden, "FORBIDDEN", "forbidden"),
			want:         &APIError{StatusCode: 403, Code: "FORBIDDEN", Message: "forbidden"},
			wantSentinel: ErrForbidden,
			wantText:     `project "proj" does not exist or the user lacks access to it`,
		},
		{
			name: "not found keeps Harbor's message",
			handler: replyError(http.StatusNotFound, "NOT_FOUND",
				"artifact proj/app@"+testDigest+" not found"),
			want: &APIError{StatusCode: 404, Code: "NOT_FOUND",
				Message: "artifact proj/app@" + testDigest + " not found"},
			wantSentinel: ErrNotFound,
			wantText:     "(HTTP 404 NOT_FOUND, request ID ",
		},
		{
			name:     "internal server error",
			handler:  replyError(http.StatusInternalServerError, "UNKNOWN", "internal server error"),
			want:     &APIError{StatusCode: 500, Code: "UNKNOWN", Message: "internal server error"},
			wantText: "internal server error (HTTP 500 UNKNOWN",
			wantTemp: true,
		},
		{
			name: "bad gateway from a proxy",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadGateway)
				_, _ = w.Write([]byte("<html>502 Bad Gateway</html>"))
			},
			want:     &APIError{StatusCode: 502, Message: "Bad Gateway"},
			wantText: "Bad Gateway (HTTP 502, request ID",
			wantTemp: true,
		},
		{
			name:         "conflict outside the swagger",
			handler:      replyError(http.StatusConflict, "CONFLICT", "a previous scan process is Running"),
			want:         &APIError{StatusCode: 409, Code: "CONFLICT", Message: "a previous scan process is Running"},
			wantSentinel: ErrConflict,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeHarbor()
			fake.handle("GET "+artifactPath, tt.handler)
			c := startFake(t, fake)

			_, err := c.Artifact(context.Background(), testRef)
			var got *APIError
			if !errors.As(err, &got) {
				t.Fatalf("Artifact() error = %v (%T), want *APIError", err, err)
			}
			tt.want.Op = "getting artifact " + testRef.String()
			tt.want.Project = "proj"
			tt.want.RequestID = fake.recorded()[0].Header.Get("X-Request-Id")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("APIError (-want +got):\n%s", diff)
			}
			if tt.wantSentinel != nil && !errors.Is(err, tt.wantSentinel) {
				t.Errorf("errors.Is(%v, %v) = false, want true", err, tt.wantSentinel)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Error() = %q, want it to contain %q", err, tt.wantText)
			}
			if got.Temporary() != tt.wantTemp {
				t.Errorf("Temporary() = %t, want %t", got.Temporary(), tt.wantTemp)
			}
		})
	}
}

func TestProject(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET /api/v2.0/projects/proj", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"project_id": 7, "name": "proj", "metadata": map[string]string{"auto_scan": "true"},
		})
	})
	fake.handle("GET /api/v2.0/projects/missing", replyError(http.StatusForbidden, "FORBIDDEN", "forbidden"))
	c := startFake(t, fake)

	p, err := c.Project(context.Background(), "proj")
	if err != nil {
		t.Fatalf("Project(proj) error = %v", err)
	}
	if p.ProjectID != 7 || p.Name != "proj" {
		t.Errorf("Project(proj) = {ID %d, Name %q}, want {7, proj}", p.ProjectID, p.Name)
	}
	if got := fake.recorded()[0].Header.Get("X-Is-Resource-Name"); got != "true" {
		t.Errorf("X-Is-Resource-Name = %q, want true", got)
	}

	// Harbor's swagger lists no 403 for GET /projects/{name}, so go-client returns an
	// unparsed *runtime.APIError that must still yield Harbor's code.
	_, err = c.Project(context.Background(), "missing")
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("Project(missing) error = %v (%T), want *APIError", err, err)
	}
	ignore := cmpopts.IgnoreFields(APIError{}, "RequestID")
	want := &APIError{Op: `getting project "missing"`, Project: "missing", StatusCode: 403,
		Code: "FORBIDDEN", Message: "forbidden"}
	if diff := cmp.Diff(want, apiErr, ignore); diff != "" {
		t.Errorf("Project(missing) APIError (-want +got):\n%s", diff)
	}
	if !strings.Contains(err.Error(), `project "missing" does not exist or the user lacks access`) {
		t.Errorf("Project(missing) error = %q, want the does-not-exist-or-no-access hint", err)
	}
}
