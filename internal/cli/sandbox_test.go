package cli

import (
	"bufio"
	"context"
	"io"
	"os"
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
	env := startSandbox(t, filepath.Join(dir, "sandbox"))
	for _, k := range []string{"HARBOR_URL", "HARBOR_REGISTRY", "HARBOR_USERNAME",
		"HARBOR_PASSWORD_FILE", "COSIGN_KEY", "COSIGN_PASSWORD_FILE"} {
		if env[k] == "" {
			t.Fatalf("sandbox printed no %s; got %v", k, env)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "sandbox", "sandbox.env")); err != nil {
		t.Errorf("sandbox.env not written: %v", err)
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
