// Command harbor-gate publishes a built image to Harbor, signs it, waits
// for Harbor's vulnerability scan of the pushed digest and reports PASS
// or FAIL. Run "harbor-gate --help" for the commands and
// "harbor-gate publish --help" for the exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/druppie/harbor-gate/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
