package harbor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/druppie/harbor-gate/pkg/harbor"
)

func TestVulnerabilitiesAgainstDouble(t *testing.T) {
	srv := startDouble(t, `
pending: 10ms
running: 20ms
rules:
  - repository: "team/group/bad*"
    vulnerabilities:
      - {id: CVE-1, package: p, version: "1", fix_version: "2", severity: Critical}
      - {id: CVE-1, package: p, version: "1", fix_version: "2", severity: Critical}
      - {id: CVE-2, package: q, version: "1", severity: High}
  - repository: "team/stuck"
    status: Running
`)
	client := robotClient(t, srv, doubleSecret)
	opts := harbor.WaitOptions{Grace: time.Millisecond, PollInterval: 5 * time.Millisecond,
		MaxInterval: 20 * time.Millisecond, Timeout: 10 * time.Second}
	tests := []struct {
		repository string
		want       []harbor.Vulnerability
	}{
		{"group/bad-app", []harbor.Vulnerability{
			{ID: "CVE-1", Package: "p", Version: "1", FixVersion: "2", Severity: "Critical"},
			{ID: "CVE-2", Package: "q", Version: "1", Severity: "High"},
		}},
		{"clean", []harbor.Vulnerability{}},
	}
	for _, tc := range tests {
		t.Run(tc.repository, func(t *testing.T) {
			ref := harbor.ArtifactRef{Project: doubleProject, Repository: tc.repository,
				Digest: pushRandom(t, srv, tc.repository)}
			if _, err := client.WaitForScan(context.Background(), ref, opts); err != nil {
				t.Fatalf("WaitForScan: %v", err)
			}
			got, err := client.Vulnerabilities(context.Background(), ref)
			if err != nil {
				t.Fatalf("Vulnerabilities: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("vulnerabilities (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("scan not final", func(t *testing.T) {
		ref := harbor.ArtifactRef{Project: doubleProject, Repository: "stuck",
			Digest: pushRandom(t, srv, "stuck")}
		if err := client.StartScan(context.Background(), ref); err != nil {
			t.Fatalf("StartScan: %v", err)
		}
		_, err := client.Vulnerabilities(context.Background(), ref)
		if !errors.Is(err, harbor.ErrNoVulnerabilityReport) {
			t.Errorf("Vulnerabilities error = %v, want %v", err, harbor.ErrNoVulnerabilityReport)
		}
	})
}
