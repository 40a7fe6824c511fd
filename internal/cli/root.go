package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of harbor-gate. publish's help text lists them too.
const (
	// ExitPass means the image passed the gate.
	ExitPass = 0
	// ExitFail means the scan finished and the image broke the policy.
	ExitFail = 1
	// ExitUsage means a flag, argument or input file was invalid.
	ExitUsage = 2
	// ExitScan means no usable scan result arrived: the scan failed, was
	// stopped, covered only part of an index, timed out, or can never
	// run. The verdict is FAIL.
	ExitScan = 3
	// ExitError means a step before the verdict failed: Harbor or the
	// registry was unreachable or refused a request, or signing failed.
	ExitError = 4
)

// usageError marks an error caused by the command line or its input
// files, so Main exits with ExitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitError carries an exit code chosen by a command that already
// reported its outcome.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Main runs the command line with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var exit exitError
	var usage usageError
	switch {
	case err == nil:
		return ExitPass
	case errors.As(err, &exit):
		return exit.code
	case errors.As(err, &usage) || strings.HasPrefix(err.Error(), "unknown command"):
		fmt.Fprintf(stderr, "harbor-gate: %v\n", err)
		return ExitUsage
	default:
		fmt.Fprintf(stderr, "harbor-gate: %v\n", err)
		return ExitError
	}
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "harbor-gate",
		Short: "Publish, sign and gate container images in Harbor",
		Long: "harbor-gate pushes a built image to Harbor, signs the pushed digest with " +
			"cosign, waits for Harbor's vulnerability scan of that digest and reports " +
			"PASS or FAIL.",
		Version:       buildVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError{err}
	})
	root.AddCommand(newPublishCommand(), newSandboxCommand())
	root.AddCommand(newProjectCommand())
	return root
}

// buildVersion returns the module version the binary was built from, with the VCS
// revision when the build recorded one, for --version. A build from a checkout reports
// the version "(devel)".
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	version := info.Main.Version
	for _, setting := range info.Settings {
		if setting.Key == "vcs.revision" {
			version += " " + setting.Value
		}
	}
	return version
}
