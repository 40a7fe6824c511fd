package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSandboxWritesAdminCredentials(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "it's a sandbox")
	startSandbox(t, dir)
	out, err := exec.Command("sh", "-c",
		`. "$1" && printf '%s\n%s' "$HARBOR_ADMIN_USERNAME" "$HARBOR_ADMIN_PASSWORD_FILE"`,
		"sh", filepath.Join(dir, "sandbox.env")).Output()
	if err != nil {
		t.Fatalf("sourcing sandbox.env: %v", err)
	}
	username, passwordFile, _ := strings.Cut(string(out), "\n")
	if username != "admin" {
		t.Errorf("HARBOR_ADMIN_USERNAME = %q, want admin", username)
	}
	if want := filepath.Join(dir, "admin.password"); passwordFile != want {
		t.Fatalf("HARBOR_ADMIN_PASSWORD_FILE = %q, want %q", passwordFile, want)
	}
	info, err := os.Stat(passwordFile)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("admin.password mode = %o, want 600", mode)
	}
	password, err := os.ReadFile(passwordFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(password) < 16 || string(password) == "Harbor12345" {
		t.Errorf("admin password has %d bytes, want a random one of at least 16",
			len(password))
	}

	env := readSandboxEnv(t, dir)
	policy := filepath.Join(t.TempDir(), "demo.yaml")
	if err := os.WriteFile(policy, []byte("apiVersion: harbor.druppie.dev/v1alpha1\n"+
		"kind: HarborProject\nmetadata: {name: demo}\nspec: {autoScan: true}\n"),
		0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), []string{"project", "diff", "-f", policy,
		"--harbor-url", env["HARBOR_URL"], "--username", username,
		"--password-file", passwordFile}, &stdout, &stderr)
	if code != ExitInSync {
		t.Errorf("project diff as the sandbox's administrator: exit code = %d, want %d\n%s%s",
			code, ExitInSync, stdout.String(), stderr.String())
	}
}

// readSandboxEnv returns the variables of dir/sandbox.env, as a shell assigns them.
func readSandboxEnv(t *testing.T, dir string) map[string]string {
	t.Helper()
	out, err := exec.Command("sh", "-c", `set -a; . "$1"; env`, "sh",
		filepath.Join(dir, "sandbox.env")).Output()
	if err != nil {
		t.Fatalf("sourcing sandbox.env: %v", err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}
