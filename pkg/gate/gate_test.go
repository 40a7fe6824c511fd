package gate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/harbortest"
	"github.com/druppie/harbor-gate/pkg/policy"
)

const (
	project      = "team"
	robotName    = "ci"
	robotSecret  = "robot-secret-Qm3"
	sourceUser   = "builder"
	sourceSecret = "builder-secret-Vx9"
	// additionRoute is the double's count key of the vulnerabilities addition.
	additionRoute = "GET /projects/{project_name}/repositories/{repository_name}/" +
		"artifacts/{reference}/additions/vulnerabilities"
)

// startDouble starts a Harbor double with the team project and its robot, and a private
// "sources" project that only sourceUser may read. extra adds options, such as faults.
func startDouble(t *testing.T, extra ...harbortest.Option) *harbortest.Server {
	t.Helper()
	fixture, err := harbortest.ParseFixture([]byte(`
pending: 10ms
running: 20ms
rules:
  - repository: "team/*vulnerable*"
    vulnerabilities:
      - {id: CVE-2024-0001, package: openssl, version: 3.0.0, fix_version: 3.0.1, severity: Critical}
      - {id: CVE-2024-0002, package: zlib, version: 1.2.0, severity: Critical}
`))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := harbortest.New(append([]harbortest.Option{
		harbortest.WithFixture(fixture),
		harbortest.WithProject(harbortest.Project{Name: project}),
		harbortest.WithProject(harbortest.Project{Name: "sources"}),
		harbortest.WithRobot(project, robotName, robotSecret),
		harbortest.WithUser(sourceUser, sourceSecret, "sources"),
	}, extra...)...)
	if err != nil {
		t.Fatalf("starting the Harbor double: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// pushSource pushes a random image to sources/app:v1 and returns its reference.
func pushSource(t *testing.T, srv *harbortest.Server) string {
	t.Helper()
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	source := srv.Host() + "/sources/app:v1"
	ref, err := name.ParseReference(source)
	if err != nil {
		t.Fatal(err)
	}
	auth := &authn.Basic{Username: sourceUser, Password: sourceSecret}
	if err := remote.Write(ref, img, remote.WithAuth(auth)); err != nil {
		t.Fatalf("pushing the source image: %v", err)
	}
	return source
}

// options returns unsigned run options that publish source to repository in the team
// project and read it with the source user's credentials.
func options(t *testing.T, srv *harbortest.Server, source, repository string) gate.Options {
	t.Helper()
	target, err := gate.ParseTarget(srv.Host() + "/" + project + "/" + repository + ":v1")
	if err != nil {
		t.Fatal(err)
	}
	return gate.Options{
		Source:         source,
		Target:         target,
		HarborURL:      srv.URL(),
		Username:       harbortest.RobotName(project, robotName),
		Password:       robotSecret,
		SourceKeychain: staticKeychain{&authn.Basic{Username: sourceUser, Password: sourceSecret}},
		SkipSign:       true,
		Policy:         policy.DefaultPolicy(),
		Wait: harbor.WaitOptions{Grace: 10 * time.Millisecond, PollInterval: 5 * time.Millisecond,
			MaxInterval: 20 * time.Millisecond, Timeout: 10 * time.Second},
	}
}

// staticKeychain returns the same credentials for every registry.
type staticKeychain struct{ auth authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return k.auth, nil
}

func TestRunPolicyReadsListOnlyWhenNeeded(t *testing.T) {
	tests := []struct {
		name          string
		policy        policy.Policy
		wantResult    policy.Result
		wantDetails   []string
		wantAdditions int
	}{{
		name:        "default policy uses the summary",
		policy:      policy.DefaultPolicy(),
		wantResult:  policy.Fail,
		wantDetails: []string{"2 Critical finding(s), threshold is Critical"},
	}, {
		name:       "fixable-only reads the list once",
		policy:     policy.Policy{Threshold: policy.SeverityCritical, FixableOnly: true},
		wantResult: policy.Fail,
		wantDetails: []string{
			"1 Critical finding(s), threshold is Critical",
			"ignored 1 finding(s) without a fixed version (fixable-only)",
		},
		wantAdditions: 1,
	}, {
		name: "allowlist with an expired and an unexpired entry",
		policy: policy.Policy{Threshold: policy.SeverityCritical, Allowlist: []policy.AllowlistEntry{
			{ID: "CVE-2024-0001", Expires: time.Now().Add(time.Hour)},
			{ID: "CVE-2024-0002"},
			{ID: "CVE-2023-9999", Expires: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
		}},
		wantResult: policy.Pass,
		wantDetails: []string{
			"no finding breaks the policy (threshold Critical)",
			"ignored 2 allowlisted finding(s): CVE-2024-0001 (Critical, openssl 3.0.0), " +
				"CVE-2024-0002 (Critical, zlib 1.2.0)",
			"expired allowlist entries, which exempt nothing: " +
				"CVE-2023-9999 (expired 2024-01-01T00:00:00Z)",
		},
		wantAdditions: 1,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startDouble(t)
			opts := options(t, srv, pushSource(t, srv), "vulnerable-app")
			opts.Policy = tc.policy
			res, err := gate.Run(context.Background(), opts)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Verdict.Result != tc.wantResult {
				t.Errorf("verdict = %s, want %s", res.Verdict.Result, tc.wantResult)
			}
			if diff := cmp.Diff(tc.wantDetails, res.Verdict.Details); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]int64{"Critical": 2}, res.Counts); diff != "" {
				t.Errorf("counts, Harbor's own (-want +got):\n%s", diff)
			}
			if got := srv.Stats().APIRequests[additionRoute]; got != tc.wantAdditions {
				t.Errorf("vulnerability list requests = %d, want %d", got, tc.wantAdditions)
			}
		})
	}
}

func TestRunSourceKeychain(t *testing.T) {
	tests := []struct {
		name        string
		keychain    authn.Keychain
		wantErr     string
		wantPutsApp int
	}{
		{"keychain reads private source", staticKeychain{&authn.Basic{Username: sourceUser,
			Password: sourceSecret}}, "", 1},
		{"Harbor robot cannot read it", nil, "opening source", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startDouble(t)
			opts := options(t, srv, pushSource(t, srv), "app")
			opts.SourceKeychain = tc.keychain
			res, err := gate.Run(context.Background(), opts)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Run: %v", err)
			case tc.wantErr == "" && !res.Verdict.Passed():
				t.Errorf("verdict = %s %q, want PASS", res.Verdict.Result, res.Verdict.Details)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Run error = %v, want one containing %q", err, tc.wantErr)
			}
			if got := srv.Stats().ManifestPuts[project+"/app"]; got != tc.wantPutsApp {
				t.Errorf("manifest PUTs to %s/app = %d, want %d", project, got, tc.wantPutsApp)
			}
		})
	}
}
