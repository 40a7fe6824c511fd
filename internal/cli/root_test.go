package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestVersionFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"--version"}, &stdout, &stderr)
	if code != ExitPass {
		t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, ExitPass, stderr.String())
	}
	if got := stdout.String(); !strings.HasPrefix(got, "harbor-gate version ") {
		t.Errorf("output = %q, want it to start with \"harbor-gate version \"", got)
	}
}
