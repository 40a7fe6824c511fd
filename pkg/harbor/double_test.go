package harbor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// These tests run the client against the Harbor double, whose responses
// are checked against go-client's swagger.yaml in its own tests.

const (
	doubleProject = "team"
	doubleRobot   = "ci"
	doubleSecret  = "robot-secret"
)

func startDouble(t *testing.T, fixture string) *harbortest.Server {
	t.Helper()
	f, err := harbortest.ParseFixture([]byte(fixture))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := harbortest.New(
		harbortest.WithFixture(f),
		harbortest.WithProject(harbortest.Project{Name: doubleProject}),
		harbortest.WithRobot(doubleProject, doubleRobot, doubleSecret),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func robotClient(t *testing.T, srv *harbortest.Server, password string) *harbor.Client {
	t.Helper()
	c, err := harbor.NewClient(harbor.Config{
		URL:      srv.URL(),
		Username: harbortest.RobotName(doubleProject, doubleRobot),
		Password: password,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pushRandom pushes a random image to repository in the double's project
// and returns its digest.
func pushRandom(t *testing.T, srv *harbortest.Server, repository string) string {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(srv.Host() + "/" + doubleProject + "/" + repository + ":v1")
	if err != nil {
		t.Fatal(err)
	}
	auth := &authn.Basic{Username: harbortest.RobotName(doubleProject, doubleRobot),
		Password: doubleSecret}
	if err := remote.Write(ref, img, remote.WithAuth(auth)); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return digest.String()
}

func TestCheckRepositoryAccessAgainstDouble(t *testing.T) {
	srv := startDouble(t, "{}")
	ctx := context.Background()
	robot := robotClient(t, srv, doubleSecret)
	pushRandom(t, srv, "existing")
	admin, err := harbor.NewClient(harbor.Config{URL: srv.URL(),
		Username: harbortest.DefaultAdminUser, Password: harbortest.DefaultAdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		client     *harbor.Client
		project    string
		repository string
		wantErr    error
	}{
		{"existing repository", robot, doubleProject, "existing", nil},
		{"repository not pushed yet", robot, doubleProject, "new/app", nil},
		{"missing project as robot", robot, "nosuch", "app", harbor.ErrForbidden},
		{"missing project as admin", admin, "nosuch", "app", harbor.ErrNotFound},
		{"new repository as admin", admin, doubleProject, "fresh", nil},
		{"wrong password", robotClient(t, srv, "wrong"), doubleProject, "app",
			harbor.ErrUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.client.CheckRepositoryAccess(ctx, tc.project, tc.repository)
			if tc.wantErr == nil && err != nil {
				t.Errorf("CheckRepositoryAccess = %v, want nil", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("CheckRepositoryAccess = %v, want an error wrapping %v", err, tc.wantErr)
			}
		})
	}
}

func TestWaitForScanAgainstDouble(t *testing.T) {
	srv := startDouble(t, `
pending: 10ms
running: 20ms
rules:
  - repository: "team/bad*"
    vulnerabilities:
      - {id: CVE-1, package: p, version: "1", fix_version: "2", severity: Critical}
      - {id: CVE-2, package: q, version: "1", severity: High}
  - repository: "team/broken"
    status: Error
`)
	client := robotClient(t, srv, doubleSecret)
	opts := harbor.WaitOptions{Grace: time.Millisecond, PollInterval: 5 * time.Millisecond,
		MaxInterval: 20 * time.Millisecond, Timeout: 10 * time.Second}
	tests := []struct {
		repository  string
		wantStatus  harbor.ScanStatus
		wantCounts  map[string]int64
		wantFixable int64
	}{
		{"clean", harbor.ScanSuccess, map[string]int64{}, 0},
		{"bad-app", harbor.ScanSuccess, map[string]int64{"Critical": 1, "High": 1}, 1},
		{"broken", harbor.ScanError, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.repository, func(t *testing.T) {
			ref := harbor.ArtifactRef{Project: doubleProject, Repository: tc.repository,
				Digest: pushRandom(t, srv, tc.repository)}
			scan, err := client.WaitForScan(context.Background(), ref, opts)
			if err != nil {
				t.Fatalf("WaitForScan: %v", err)
			}
			if scan.Status != tc.wantStatus {
				t.Errorf("status = %s, want %s", scan.Status, tc.wantStatus)
			}
			if tc.wantCounts != nil && len(scan.Counts) != len(tc.wantCounts) {
				t.Errorf("counts = %v, want %v", scan.Counts, tc.wantCounts)
			}
			for sev, n := range tc.wantCounts {
				if scan.Counts[sev] != n {
					t.Errorf("counts[%s] = %d, want %d", sev, scan.Counts[sev], n)
				}
			}
			if scan.Fixable != tc.wantFixable {
				t.Errorf("fixable = %d, want %d", scan.Fixable, tc.wantFixable)
			}
		})
	}
	if got := srv.Stats().ScanTriggers; got != len(tests) {
		t.Errorf("scan triggers = %d, want one per image (%d)", got, len(tests))
	}
}
