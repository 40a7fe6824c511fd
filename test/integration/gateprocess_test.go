//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"go.uber.org/zap"
	"k8s.io/client-go/rest"
)

// Environment variables that start the test binary as a harbor-gate controller process
// instead of running the tests.
const (
	// envGateKubeURL is the URL of the Kubernetes API for the controller process.
	envGateKubeURL = "HARBOR_GATE_ITEST_KUBE_URL"
	// envGateTokenFile is the file with the bearer token of the controller's
	// ServiceAccount.
	envGateTokenFile = "HARBOR_GATE_ITEST_TOKEN_FILE"
)

// gateProcessLogName is the log of the controller processes, which every start appends to.
const gateProcessLogName = "harbor-gate-process"

// Client-side rate limits of the controller process, as high as those of the in-process
// controller, so that the limiter does not slow the runs down.
const (
	gateProcessQPS   = 50
	gateProcessBurst = 100
)

// runGateProcess runs the harbor-gate controller, built as startGateController builds it,
// until SIGTERM or SIGINT, and returns the exit code. The test binary calls it in place of
// the tests when envGateKubeURL is set, so that a test can SIGKILL a controller without
// killing itself.
func runGateProcess() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger, err := zap.NewDevelopment()
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating the controller's logger:", err)
		return 1
	}
	cfg := &rest.Config{
		Host:            os.Getenv(envGateKubeURL),
		BearerTokenFile: os.Getenv(envGateTokenFile),
		QPS:             gateProcessQPS,
		Burst:           gateProcessBurst,
	}
	g, err := startGateController(ctx, cfg, logger.Sugar())
	if err != nil {
		logger.Sugar().Errorw("Starting the harbor-gate controller failed", zap.Error(err))
		return 1
	}
	<-ctx.Done()
	if err := g.stop(); err != nil {
		logger.Sugar().Errorw("Stopping the harbor-gate controller failed", zap.Error(err))
		return 1
	}
	logger.Sugar().Info("harbor-gate controller stopped")
	return 0
}

// writeGateToken writes the bearer token of the controller's ServiceAccount to a file
// that only the owner can read, for the controller processes, and returns its path.
func writeGateToken(t *testing.T, c *cluster) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(c.gateConfig.BearerToken), 0o600); err != nil {
		t.Fatalf("writing the controller's token: %v", err)
	}
	return path
}

// startGateProcess starts the test binary as a harbor-gate controller process that talks
// to the Kubernetes API at kubeURL with the token in tokenFile. The process is stopped
// with SIGTERM when the test ends, unless the test killed it before.
func startGateProcess(t *testing.T, c *cluster, kubeURL, tokenFile string) *process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("locating the test binary: %v", err)
	}
	env := append(baseEnv(), envGateKubeURL+"="+kubeURL, envGateTokenFile+"="+tokenFile)
	p, err := startProcess(gateProcessLogName, c.logDir, env, exe)
	if err != nil {
		t.Fatalf("starting the harbor-gate controller process: %v", err)
	}
	t.Cleanup(p.stop)
	return p
}
