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

// unreachableArgs returns publish's arguments for a Harbor at addr, where
// nothing listens.
func (e *env) unreachableArgs(addr string) []string {
	args := replaceFlag(e.args("app"), "--harbor-url", "http://"+addr)
	return replaceFlag(args, "--target", addr+"/"+project+"/app:1")
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
		args:     e.unreachableArgs(unreachable),
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
		name:     "unknown signature format",
		args:     append(e.args("app"), "--signature-format", "bundle"),
		wantCode: cli.ExitUsage,
		wantText: []string{`"bundle"`, "tag or referrers"},
	}, {
		name:     "negative timeout",
		args:     append(e.args("app"), "--timeout", "-5s"),
		wantCode: cli.ExitUsage,
		wantText: []string{"invalid --timeout -5s"},
	}, {
		name:     "poll interval above its maximum",
		args:     append(e.args("app"), "--poll-interval", "2h", "--max-poll-interval", "1m"),
		wantCode: cli.ExitUsage,
		wantText: []string{"--poll-interval 2h0m0s is longer than --max-poll-interval 1m0s"},
	}, {
		name:     "results directory is a file",
		args:     append(e.args("app"), "--results-dir", wrongPassword),
		wantCode: cli.ExitUsage,
		wantText: []string{wrongPassword, "not a directory"},
	}, {
		name:     "malformed Harbor URL with a password",
		args:     replaceFlag(e.args("app"), "--harbor-url", "http://robot:TOPSECRET%zz@127.0.0.1:1"),
		wantCode: cli.ExitUsage,
		wantText: []string{"REDACTED@127.0.0.1:1"},
	}, {
		name:     "target on another registry than Harbor",
		args:     replaceFlag(e.args("app"), "--target", unreachable+"/"+project+"/app:1"),
		wantCode: cli.ExitUsage,
		wantText: []string{"is not the Harbor at"},
	}, {
		name:     "target without registry host",
		args:     replaceFlag(e.args("app"), "--target", project+"/app:1"),
		wantCode: cli.ExitUsage,
		wantText: []string{"names no registry host"},
	}, {
		name:     "path trick in target",
		args:     replaceFlag(e.args("app"), "--target", e.srv.Host()+"/"+project+"/../app:1"),
		wantCode: cli.ExitUsage,
		wantText: []string{`path component ".."`},
	}, {
		name: "source typo reported before Harbor is reached",
		args: replaceFlag(e.unreachableArgs(unreachable), "--source",
			"oci:"+filepath.Join(e.dir, "typo")),
		wantCode: cli.ExitUsage,
		wantText: []string{filepath.Join(e.dir, "typo")},
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
			if strings.Contains(stderr, "TOPSECRET") {
				t.Errorf("stderr shows the password from the URL:\n%s", stderr)
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

func TestPublishSkipSignIgnoresKeyEnvironment(t *testing.T) {
	e := newEnv(t)
	t.Setenv("COSIGN_KEY", e.key)
	args := dropFlag(dropFlag(e.args("app"), "--key"), "--key-password-file")
	code, _, stderr := run(t, append(args, "--skip-sign")...)
	if code != cli.ExitPass {
		t.Errorf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitPass, stderr)
	}
	if !strings.Contains(stderr, "signing skipped") {
		t.Errorf("stderr does not say signing was skipped:\n%s", stderr)
	}
}

func TestPublishRemovesStaleResults(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.dir, "results")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "VERDICT")
	if err := os.WriteFile(stale, []byte("PASS"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := replaceFlag(e.args("app", "--results-dir", dir), "--target",
		e.srv.Host()+"/nosuchproject/app:1")
	if code, _, stderr := run(t, args...); code != cli.ExitError {
		t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitError, stderr)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the earlier VERDICT is still there after a failed run (stat error %v)", err)
	}
}
