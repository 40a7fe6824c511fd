package cli

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/druppie/harbor-gate/internal/koimage"
)

// startSandbox runs "harbor-gate sandbox" in the background and returns
// the variables it printed. The sandbox stops when the test ends.
func startSandbox(t *testing.T, dir string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdoutR, stdoutW := io.Pipe()
	done := make(chan int)
	go func() {
		code := Main(ctx, []string{"sandbox", "--dir", dir}, stdoutW, io.Discard)
		stdoutW.Close()
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != ExitPass {
			t.Errorf("sandbox exit code = %d, want 0", code)
		}
	})
	env := map[string]string{}
	scanner := bufio.NewScanner(stdoutR)
	for scanner.Scan() {
		k, v, _ := strings.Cut(scanner.Text(), "=")
		env[k] = strings.Trim(v, "'")
		if k == "COSIGN_PASSWORD_FILE" {
			break
		}
	}
	go io.Copy(io.Discard, stdoutR)
	return env
}

func TestSandboxServesPublish(t *testing.T) {
	dir := t.TempDir()
	sandboxDir := filepath.Join(dir, "sand box $(touch pwned)")
	env := startSandbox(t, sandboxDir)
	for _, k := range []string{"HARBOR_URL", "HARBOR_REGISTRY", "HARBOR_USERNAME",
		"HARBOR_PASSWORD_FILE", "COSIGN_KEY", "COSIGN_PASSWORD_FILE"} {
		if env[k] == "" {
			t.Fatalf("sandbox printed no %s; got %v", k, env)
		}
	}
	envFile := filepath.Join(sandboxDir, "sandbox.env")
	out, err := exec.Command("sh", "-c", `. "$1" && printf %s "$COSIGN_KEY"`, "sh", envFile).
		Output()
	if err != nil {
		t.Fatalf("sourcing sandbox.env: %v", err)
	}
	if want := filepath.Join(sandboxDir, "cosign.key"); string(out) != want {
		t.Errorf("COSIGN_KEY from sandbox.env = %q, want %q", out, want)
	}

	bin := filepath.Join(dir, "app")
	if err := os.WriteFile(bin, []byte("not really a binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := koimage.Build(bin, nil)
	if err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(dir, "layout")
	if err := koimage.WriteLayout(layout, img); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr strings.Builder
	code := Main(ctx, []string{"publish",
		"--source", "oci:" + layout,
		"--target", env["HARBOR_REGISTRY"] + "/demo/app:v1",
		"--harbor-url", env["HARBOR_URL"],
		"--username", env["HARBOR_USERNAME"],
		"--password-file", env["HARBOR_PASSWORD_FILE"],
		"--key", env["COSIGN_KEY"],
		"--key-password-file", env["COSIGN_PASSWORD_FILE"],
		"--poll-interval", "50ms",
	}, io.Discard, &stderr)
	if code != ExitPass {
		t.Errorf("publish against the sandbox: exit code %d, want 0\n%s", code, stderr.String())
	}
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	var stderr strings.Builder
	code := Main(context.Background(), []string{"publsh"}, io.Discard, &stderr)
	if code != ExitUsage {
		t.Errorf("exit code = %d, want %d; stderr %q", code, ExitUsage, stderr.String())
	}
}

func TestPublishEnvironmentFallback(t *testing.T) {
	t.Setenv("HARBOR_GATE_SEVERITY", "extreme")
	var stderr strings.Builder
	code := Main(context.Background(), []string{"publish", "--source", "oci:/x",
		"--target", "h.example/p/r:1", "--skip-sign"}, io.Discard, &stderr)
	if code != ExitUsage || !strings.Contains(stderr.String(), `"extreme"`) {
		t.Errorf("exit code %d, stderr %q: want %d and the severity from the environment",
			code, stderr.String(), ExitUsage)
	}
}

func TestSandboxRejectsBadFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, flag, value, want string
	}{
		{"all interfaces", "--addr", ":0", "only on loopback"},
		{"empty address", "--addr", "", "invalid --addr"},
		{"other host", "--addr", "192.0.2.1:80", "only on loopback"},
		{"storage dir is a file", "--storage-dir", file, "not a directory"},
		{"invalid project", "--project", "Bad Project", "Bad Project"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			args := []string{"sandbox", "--dir", t.TempDir(), tc.flag, tc.value}
			code := Main(context.Background(), args, io.Discard, &stderr)
			if code != ExitUsage {
				t.Errorf("exit code = %d, want %d; stderr %q", code, ExitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	tests := map[string]string{
		"/tmp/plain":      "'/tmp/plain'",
		"/tmp/sp ace":     "'/tmp/sp ace'",
		"/tmp/$(touch x)": "'/tmp/$(touch x)'",
		"robot$demo+ci":   "'robot$demo+ci'",
		"/tmp/it's":       `'/tmp/it'\''s'`,
	}
	for in, want := range tests {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
