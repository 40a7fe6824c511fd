package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/druppie/harbor-gate/pkg/harbortest"
)

const projectPolicyFile = `apiVersion: harbor.druppie.dev/v1alpha1
kind: HarborProject
metadata: {name: platform}
spec:
  autoScan: true
  vulnerabilityPrevention: {enabled: true, severity: critical}
  cosignOnly: true
  immutableTags: [{repositories: "**", tags: "v*"}]
  retention:
    schedule: "0 0 3 * * *"
    deleteAfterDays: [{tags: "nightly-*", days: 14}]
  webhooks:
    - name: core-scan-results
      eventTypes: [SCANNING_COMPLETED, SCANNING_FAILED]
      target:
        address: https://core.druppie.local/harbor
        payloadFormat: CloudEvents
        authHeader: {file: AUTH_FILE}
  robot: {name: harbor-gate}
`

// projectFixture starts a Harbor double with the project "platform" and writes the policy
// file and the admin password file into a temporary directory.
type projectFixture struct {
	srv                 *harbortest.Server
	dir, policy, passwd string
}

func newProjectFixture(t *testing.T) *projectFixture {
	t.Helper()
	srv, err := harbortest.New(harbortest.WithProject(harbortest.Project{Name: "platform"}))
	if err != nil {
		t.Fatalf("harbortest.New() error = %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	fx := &projectFixture{srv: srv, dir: dir}
	authFile := fx.write(t, "auth", "Bearer hook-secret-token")
	fx.policy = fx.write(t, "project.yaml",
		strings.ReplaceAll(projectPolicyFile, "AUTH_FILE", authFile))
	fx.passwd = fx.write(t, "password", harbortest.DefaultAdminPassword+"\n")
	return fx
}

func (fx *projectFixture) write(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(fx.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// run runs harbor-gate project with the Harbor flags of the fixture appended.
func (fx *projectFixture) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	args = append(args, "--harbor-url", fx.srv.URL(), "--username",
		harbortest.DefaultAdminUser, "--password-file", fx.passwd)
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), append([]string{"project"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func (fx *projectFixture) writes() int {
	n := 0
	for key, count := range fx.srv.Stats().APIRequests {
		if !strings.HasPrefix(key, "GET ") {
			n += count
		}
	}
	return n
}

func TestProjectDiffApplyDiff(t *testing.T) {
	fx := newProjectFixture(t)
	code, stdout, _ := fx.run(t, "diff", "-f", fx.policy)
	if code != ExitDrift {
		t.Errorf("diff on an empty project exit code = %d, want %d", code, ExitDrift)
	}
	for _, line := range []string{"+ metadata severity: critical",
		"+ immutable rule tags=v* repos=**", "+ robot harbor-gate",
		"+ webhook policy core-scan-results"} {
		if !strings.Contains(stdout, line) {
			t.Errorf("diff output lacks %q:\n%s", line, stdout)
		}
	}

	code, _, stderr := fx.run(t, "apply", "--dry-run", "-f", fx.policy)
	if code != ExitPass || fx.writes() != 0 {
		t.Errorf("apply --dry-run = exit %d with %d writes, want 0 and 0; stderr:\n%s",
			code, fx.writes(), stderr)
	}

	pullFile := filepath.Join(fx.dir, "pull.yaml")
	gateFile := filepath.Join(fx.dir, "gate.yaml")
	code, stdout, stderr = fx.run(t, "apply", "-f", fx.policy, "--pull-secret-out", pullFile,
		"--gate-secret-out", gateFile)
	if code != ExitPass {
		t.Fatalf("apply exit code = %d, want 0; stderr:\n%s", code, stderr)
	}
	for _, file := range []string{pullFile, gateFile} {
		info, err := os.Stat(file)
		if err != nil {
			t.Fatalf("apply wrote no %s: %v", file, err)
		}
		if mode := info.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s mode = %o, want 600", file, mode)
		}
	}
	gate, _ := os.ReadFile(gateFile)
	if !strings.Contains(string(gate), "kubernetes.io/basic-auth") {
		t.Errorf("gate Secret is not of type basic-auth:\n%s", gate)
	}
	for _, out := range []string{stdout, stderr} {
		if strings.Contains(out, "hook-secret-token") || strings.Contains(out, "password:") {
			t.Errorf("apply printed a secret:\n%s", out)
		}
	}

	writes := fx.writes()
	code, stdout, _ = fx.run(t, "diff", "-f", fx.policy)
	if code != ExitInSync || !strings.Contains(stdout, "no changes") {
		t.Errorf("diff after apply = exit %d, output:\n%s\nwant exit 0 and no changes",
			code, stdout)
	}
	if code, _, _ = fx.run(t, "apply", "-f", fx.policy); code != ExitPass {
		t.Errorf("second apply exit code = %d, want 0", code)
	}
	if got := fx.writes(); got != writes {
		t.Errorf("write requests after the second apply = %d, want %d", got, writes)
	}
}

func TestProjectDiffReportsDrift(t *testing.T) {
	fx := newProjectFixture(t)
	if code, _, stderr := fx.run(t, "apply", "-f", fx.policy); code != ExitPass {
		t.Fatalf("apply exit code = %d; stderr:\n%s", code, stderr)
	}
	if err := fx.srv.SetProjectMetadata("platform", "severity", "high"); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := fx.run(t, "diff", "-f", fx.policy)
	if code != ExitDrift {
		t.Errorf("diff exit code = %d, want %d", code, ExitDrift)
	}
	if !strings.Contains(stdout, "~ metadata severity: high -> critical") {
		t.Errorf("diff output does not name the drift:\n%s", stdout)
	}
}

func TestProjectShowSecret(t *testing.T) {
	fx := newProjectFixture(t)
	code, stdout, stderr := fx.run(t, "apply", "-f", fx.policy, "--show-secret")
	if code != ExitPass {
		t.Fatalf("apply exit code = %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "robot secret: ") {
		t.Errorf("apply --show-secret printed no secret:\n%s", stdout)
	}
	code, stdout, stderr = fx.run(t, "apply", "-f", fx.policy, "--rotate-robot-secret")
	if code != ExitPass {
		t.Fatalf("rotating apply exit code = %d; stderr:\n%s", code, stderr)
	}
	if strings.Contains(stdout, "robot secret: ") {
		t.Errorf("apply without --show-secret printed the secret:\n%s", stdout)
	}
	if !strings.Contains(stderr, "only once") {
		t.Errorf("apply did not warn that the new secret was not saved:\n%s", stderr)
	}
}

func TestProjectUsageErrors(t *testing.T) {
	fx := newProjectFixture(t)
	broad := fx.write(t, "broad.yaml", "apiVersion: harbor.druppie.dev/v1alpha1\n"+
		"kind: HarborProject\nmetadata: {name: platform}\n"+
		"spec:\n  immutableTags: [{tags: \"**\"}]\n")
	unknown := fx.write(t, "unknown.yaml", "apiVersion: harbor.druppie.dev/v1alpha1\n"+
		"kind: HarborProject\nmetadata: {name: platform}\nspec:\n  autoscan: true\n")
	tests := []struct {
		name     string
		args     []string
		wantText string
	}{
		{"missing file flag", []string{"diff"}, "missing -f"},
		{"file not found", []string{"diff", "-f", filepath.Join(fx.dir, "none.yaml")},
			"no such file"},
		{"signature tags immutable", []string{"apply", "-f", broad}, "HTTP 412"},
		{"unknown field", []string{"diff", "-f", unknown}, "line 5: field autoscan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := fx.run(t, tt.args...)
			if code != ExitUsage {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, ExitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.wantText) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantText)
			}
		})
	}
}

func TestProjectHarborUnreachable(t *testing.T) {
	fx := newProjectFixture(t)
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"project", "diff", "-f", fx.policy,
		"--harbor-url", "http://127.0.0.1:1", "--username", "admin", "--password-file",
		fx.passwd}, &stdout, &stderr)
	if code != ExitError {
		t.Errorf("exit code = %d, want %d; stderr:\n%s", code, ExitError, stderr.String())
	}
}

func TestProjectHarborFlagErrors(t *testing.T) {
	fx := newProjectFixture(t)
	caFile := fx.write(t, "ca.pem", "not a certificate")
	tests := []struct {
		name     string
		flags    []string
		wantText string
	}{
		{"credentials in the URL", []string{"--harbor-url", "https://admin:pw-7Qx@h.example"},
			"it contains credentials"},
		{"query in the URL", []string{"--harbor-url", "https://h.example/?token=tk-9Zw"},
			"remove the query"},
		{"CA bundle without verification", []string{"--harbor-url", fx.srv.URL(),
			"--ca-bundle", caFile, "--insecure-skip-tls-verify"}, "exclude each other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"project", "diff", "-f", fx.policy, "--username", "admin",
				"--password-file", fx.passwd}, tt.flags...)
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), args, &stdout, &stderr)
			if code != ExitUsage {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, ExitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantText) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantText)
			}
			for _, secret := range []string{"pw-7Qx", "tk-9Zw"} {
				if strings.Contains(stderr.String(), secret) {
					t.Errorf("stderr contains the secret %q:\n%s", secret, stderr.String())
				}
			}
		})
	}
}
