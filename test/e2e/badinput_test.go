package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/druppie/harbor-gate/internal/cli"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// closedPort returns a loopback address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// replaceFlag returns args with the value after flag replaced.
func replaceFlag(args []string, flag, value string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if out[i] == flag && i+1 < len(out) {
			out[i+1] = value
			return out
		}
	}
	return append(out, flag, value)
}

// dropFlag returns args without flag and its value.
func dropFlag(args []string, flag string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == flag {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

func TestPublishBadInput(t *testing.T) {
	e := newEnv(t)
	wrongPassword := filepath.Join(e.dir, "wrong.password")
	if err := os.WriteFile(wrongPassword, []byte("not-the-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreachable := closedPort(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantText []string
	}{{
		name:     "malformed image reference",
		args:     replaceFlag(e.args("app"), "--source", "registry.example/Bad Name::x"),
		wantCode: cli.ExitUsage,
		wantText: []string{`"registry.example/Bad Name::x"`},
	}, {
		name:     "missing source directory",
		args:     replaceFlag(e.args("app"), "--source", "oci:"+filepath.Join(e.dir, "nope")),
		wantCode: cli.ExitUsage,
		wantText: []string{filepath.Join(e.dir, "nope")},
	}, {
		name:     "no source flag",
		args:     dropFlag(e.args("app"), "--source"),
		wantCode: cli.ExitUsage,
		wantText: []string{"missing --source"},
	}, {
		name:     "unknown project",
		args:     replaceFlag(e.args("app"), "--target", e.srv.Host()+"/nosuchproject/app:1"),
		wantCode: cli.ExitError,
		wantText: []string{`"nosuchproject"`, "does not exist"},
	}, {
		name:     "target without project",
		args:     replaceFlag(e.args("app"), "--target", e.srv.Host()+"/app:1"),
		wantCode: cli.ExitUsage,
		wantText: []string{"must name a Harbor project", "HOST/PROJECT/REPOSITORY"},
	}, {
		name:     "wrong Harbor credentials",
		args:     replaceFlag(e.args("app"), "--password-file", wrongPassword),
		wantCode: cli.ExitError,
		wantText: []string{`"` + project + `"`, "check the username and password"},
	}, {
		name:     "unreachable Harbor",
		args:     replaceFlag(e.args("app"), "--harbor-url", "http://"+unreachable),
		wantCode: cli.ExitError,
		wantText: []string{unreachable},
	}, {
		name:     "wrong cosign password",
		args:     replaceFlag(e.args("app"), "--key-password-file", wrongPassword),
		wantCode: cli.ExitUsage,
		wantText: []string{"cannot decrypt the cosign key", e.key, "COSIGN_PASSWORD"},
	}, {
		name:     "unknown severity",
		args:     append(e.args("app"), "--severity", "severe"),
		wantCode: cli.ExitUsage,
		wantText: []string{`"severe"`, "critical"},
	}, {
		name:     "invalid Harbor URL",
		args:     replaceFlag(e.args("app"), "--harbor-url", "ftp://harbor"),
		wantCode: cli.ExitUsage,
		wantText: []string{`"ftp://harbor"`, "https"},
	}, {
		name:     "unknown flag",
		args:     append(e.args("app"), "--no-such-flag"),
		wantCode: cli.ExitUsage,
		wantText: []string{"--no-such-flag"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d\nstderr:\n%s", code, tc.wantCode, stderr)
			}
			for _, want := range tc.wantText {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr)
				}
			}
			if strings.Contains(stderr, "panic") {
				t.Errorf("stderr shows a panic:\n%s", stderr)
			}
		})
	}
	if got := e.srv.Stats().ManifestPuts[project+"/app"]; got != 0 {
		t.Errorf("bad input pushed %d manifests, want none", got)
	}
}

func TestPublishTLS(t *testing.T) {
	e := newEnv(t, harbortest.WithTLS())
	t.Run("untrusted certificate", func(t *testing.T) {
		code, _, stderr := run(t, e.args("app")...)
		if code != cli.ExitError {
			t.Errorf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitError, stderr)
		}
		for _, want := range []string{e.srv.URL(), "certificate", "--ca-bundle"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr does not contain %q:\n%s", want, stderr)
			}
		}
	})
	t.Run("CA bundle trusted", func(t *testing.T) {
		ca := filepath.Join(e.dir, "ca.pem")
		if err := os.WriteFile(ca, e.srv.CACertPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := run(t, e.args("app", "--ca-bundle", ca)...)
		if code != cli.ExitPass {
			t.Errorf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitPass, stderr)
		}
	})
}
