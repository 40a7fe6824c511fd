//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tier is the running tier that every test shares. It is nil when the binaries are
// missing, and skipReason contains the reason.
var (
	tier       *cluster
	skipReason string
)

// errBinariesMissing means that "make itest-bins" has not been run.
var errBinariesMissing = errors.New("integration binaries missing")

// binNames are the files that hack/itest/build.sh writes into its folder.
var binNames = []string{"etcd", "kube-apiserver", "tekton-controller"}

func TestMain(m *testing.M) {
	if os.Getenv(envGateKubeURL) != "" {
		os.Exit(runGateProcess())
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, "locating the repository:", err)
		return 1
	}
	bins, err := findBinaries(root)
	if errors.Is(err, errBinariesMissing) {
		skipReason = err.Error()
		return m.Run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	c := newCluster(root, bins)
	defer c.stop()
	stopOnSignal(c)
	started := time.Now()
	if err := c.start(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "starting the integration tier: %v\n", err)
		c.dumpLogs(os.Stderr, nil)
		return 1
	}
	fmt.Fprintf(os.Stderr, "integration tier started in %.1f s\n", time.Since(started).Seconds())
	tier = c
	return m.Run()
}

// stopOnSignal stops the tier and exits when the test binary receives SIGINT or SIGTERM,
// because deferred calls do not run when a signal ends the process.
func stopOnSignal(c *cluster) {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		fmt.Fprintf(os.Stderr, "received %v; stopping the integration tier\n", sig)
		c.stop()
		os.Exit(1)
	}()
}

// findBinaries returns the folder with the tier's binaries: $ITEST_BINS_DIR, or else the
// folder that hack/itest/build.sh builds into. The error wraps errBinariesMissing when a
// binary is not there.
func findBinaries(root string) (string, error) {
	dir := os.Getenv("ITEST_BINS_DIR")
	if dir == "" {
		cmd := exec.Command("bash", filepath.Join(root, "hack", "itest", "build.sh"), "dir")
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("locating the integration binaries with %s: %w",
				strings.Join(cmd.Args, " "), err)
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, name := range binNames {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%w: no executable %s in %s; run \"make itest-bins\" "+
				"(about 6 minutes on 2 cores the first time)", errBinariesMissing, name, dir)
		}
	}
	return dir, nil
}
