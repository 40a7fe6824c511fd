package projectpolicy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client"

	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// startDouble starts a Harbor double with the empty project "platform" and closes it when
// the test ends.
func startDouble(t *testing.T, opts ...harbortest.Option) *harbortest.Server {
	t.Helper()
	opts = append([]harbortest.Option{
		harbortest.WithProject(harbortest.Project{Name: "platform"})}, opts...)
	srv, err := harbortest.New(opts...)
	if err != nil {
		t.Fatalf("harbortest.New() error = %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close() error = %v", err)
		}
	})
	return srv
}

// adminAPI returns a go-client for the double's system administrator.
func adminAPI(t *testing.T, srv *harbortest.Server) *client.HarborAPI {
	t.Helper()
	api, err := NewAPI(harbor.Config{URL: srv.URL(), Username: harbortest.DefaultAdminUser,
		Password: harbortest.DefaultAdminPassword})
	if err != nil {
		t.Fatalf("NewAPI() error = %v", err)
	}
	return api
}

// writeFile writes content to name in dir and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadProject loads and validates a policy file with one HarborProject document.
func loadProject(t *testing.T, text string) *Project {
	t.Helper()
	doc, err := Load(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	if err := doc.Validate(); err != nil {
		t.Fatalf("Validate() error = %v", err)
	}
	return doc.Projects[0]
}

// platformPolicy returns the platform rules as a policy file whose webhook auth header is
// read from authFile.
func platformPolicy(authFile string) string {
	return `apiVersion: harbor.druppie.dev/v1alpha1
kind: HarborProject
metadata: {name: platform}
spec:
  public: false
  autoScan: true
  vulnerabilityPrevention: {enabled: true, severity: critical}
  cosignOnly: true
  cveAllowlist: {expiresAt: "2027-06-30T00:00:00Z", items: [CVE-2024-0001]}
  immutableTags:
    - {repositories: "**", tags: "v*"}
  retention:
    schedule: "0 0 3 * * *"
    deleteAfterDays: [{tags: "nightly-*", days: 14, repositories: "**"}]
  webhooks:
    - name: core-scan-results
      enabled: true
      eventTypes: [SCANNING_COMPLETED, SCANNING_FAILED]
      target:
        address: https://core.druppie.local/harbor
        payloadFormat: CloudEvents
        authHeader: {file: ` + authFile + `}
  robot: {name: harbor-gate, description: gate, durationDays: -1}
`
}

// writeRequests counts the REST API requests that could change something.
func writeRequests(srv *harbortest.Server) int {
	n := 0
	for key, count := range srv.Stats().APIRequests {
		if !strings.HasPrefix(key, "GET ") && !strings.HasPrefix(key, "HEAD ") {
			n += count
		}
	}
	return n
}

// planLines returns the plan's changes as text lines.
func planLines(p *Plan) []string {
	var lines []string
	for _, c := range p.Changes() {
		lines = append(lines, c.String())
	}
	return lines
}

func planProject(t *testing.T, api *client.HarborAPI, p *Project, opts ...Option) *Plan {
	t.Helper()
	plan, err := PlanProject(context.Background(), api, p, opts...)
	if err != nil {
		t.Fatalf("PlanProject() error = %v", err)
	}
	return plan
}

func apply(t *testing.T, api *client.HarborAPI, plan *Plan) *Result {
	t.Helper()
	result, err := plan.Apply(context.Background(), api)
	if err != nil {
		t.Fatalf("Apply() error = %v", err)
	}
	return result
}
