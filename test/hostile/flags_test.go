package hostile

import (
	"strings"
	"testing"

	"github.com/druppie/harbor-gate/internal/cli"
)

// flagCase is one hostile command line of "harbor-gate publish". The case passes when
// harbor-gate exits with code, pushes nothing, and writes to stderr a message that
// contains want and none of forbid.
type flagCase struct {
	name string
	// args returns the command line; it usually edits e.args("app").
	args   func(t *testing.T, e *cliEnv) []string
	code   int
	want   []string
	forbid []string
}

// setFlag returns args with the value after flag replaced, or with flag and value added.
func setFlag(args []string, flag, value string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if out[i] == flag && i+1 < len(out) {
			out[i+1] = value
			return out
		}
	}
	return append(out, flag, value)
}

// withFlag returns a case's args function that sets one flag of e.args("app").
func withFlag(flag, value string) func(*testing.T, *cliEnv) []string {
	return func(t *testing.T, e *cliEnv) []string { return setFlag(e.args("app"), flag, value) }
}

// withTargetPath returns a case's args function whose target is the double's host
// followed by path.
func withTargetPath(path string) func(*testing.T, *cliEnv) []string {
	return func(t *testing.T, e *cliEnv) []string {
		return setFlag(e.args("app"), "--target", e.srv.Host()+path)
	}
}

var flagCases = []flagCase{{
	name: "source with a NUL",
	args: func(t *testing.T, e *cliEnv) []string {
		return setFlag(e.args("app"), "--source", "oci:"+e.layout+"\x00x")
	},
	code: cli.ExitUsage,
	want: []string{`\x00x`},
}, {
	name: "source with a right-to-left override",
	args: func(t *testing.T, e *cliEnv) []string {
		return setFlag(e.args("app"), "--source", "oci:"+e.layout+"\u202e")
	},
	code: cli.ExitUsage,
	want: []string{`\u202e`},
}, {
	name: "source path outside the working tree",
	args: withFlag("--source", "oci:../../../../../../nonexistent"),
	code: cli.ExitUsage,
	want: []string{"nonexistent"},
}, {
	name: "path trick: .. in the target",
	args: withTargetPath("/team/../app:1"),
	code: cli.ExitUsage,
	want: []string{`path component ".."`, "must be lower-case letters"},
}, {
	name: "path trick: escaped slash in the target",
	args: withTargetPath("/team%2Fapp:1"),
	code: cli.ExitUsage,
	want: []string{"team%2Fapp", "HOST/PROJECT/REPOSITORY"},
}, {
	name: "path trick: empty component in the target",
	args: withTargetPath("/team//app:1"),
	code: cli.ExitUsage,
	want: []string{"team//app", `path component ""`},
}, {
	name: "path trick: upper case in the target",
	args: withTargetPath("/team/App:1"),
	code: cli.ExitUsage,
	want: []string{"team/App", "HOST/PROJECT/REPOSITORY"},
}, {
	name: "path trick: 256-character repository",
	args: withTargetPath("/team/" + strings.Repeat("a", 256) + ":1"),
	code: cli.ExitUsage,
	want: []string{strings.Repeat("a", 256)},
}, {
	name: "target tag of 129 characters",
	args: withTargetPath("/team/app:" + strings.Repeat("t", 129)),
	code: cli.ExitUsage,
	want: []string{strings.Repeat("t", 129), "use HOST/PROJECT/REPOSITORY[:TAG]"},
}, {
	name: "target in invalid UTF-8",
	args: withTargetPath("/team/app\xff:1"),
	code: cli.ExitUsage,
	want: []string{"HOST/PROJECT/REPOSITORY"},
}, {
	name: "target that names a digest",
	args: withTargetPath("/team/app@" + testDigest),
	code: cli.ExitUsage,
	want: []string{"it names a digest", "HOST/PROJECT/REPOSITORY[:TAG]"},
}, {
	name: "target host with a homoglyph",
	args: func(t *testing.T, e *cliEnv) []string {
		return setFlag(e.args("app"), "--target", "hаrbor.example/team/app:1")
	},
	code: cli.ExitUsage,
	want: []string{"hаrbor.example is not the Harbor at"},
}, {
	name: "Harbor URL with a token in the query",
	args: func(t *testing.T, e *cliEnv) []string {
		return setFlag(e.args("app"), "--harbor-url", e.srv.URL()+"/?token=TOPSECRET")
	},
	code:   cli.ExitUsage,
	want:   []string{"--harbor-url", "remove the query"},
	forbid: []string{"TOPSECRET"},
}, {
	name:   "Harbor URL with a password",
	args:   withFlag("--harbor-url", "https://robot:TOPSECRET@127.0.0.1:1"),
	code:   cli.ExitUsage,
	want:   []string{"it contains credentials", "--password-file"},
	forbid: []string{"TOPSECRET"},
}, {
	name: "homoglyph severity",
	args: withFlag("--severity", "сritical"),
	code: cli.ExitUsage,
	want: []string{`"сritical"`, "critical"},
}, {
	name: "severity with a right-to-left override",
	args: withFlag("--severity", "critical\u202e"),
	code: cli.ExitUsage,
	want: []string{`"critical\u202e"`, "use one of none"},
}, {
	name: "zero timeout",
	args: withFlag("--timeout", "0s"),
	code: cli.ExitUsage,
	want: []string{"--timeout 0s"},
}, {
	name: "timeout beyond the duration range",
	args: withFlag("--timeout", "9999999999h"),
	code: cli.ExitUsage,
	want: []string{`"9999999999h"`, "--timeout"},
}, {
	name: "unknown output format",
	args: withFlag("--output", "yaml"),
	code: cli.ExitUsage,
	want: []string{`invalid --output "yaml"`, "use text or json"},
}, {
	name: "allow with an impossible date",
	args: withFlag("--allow", "CVE-2024-1=2024-13-45"),
	code: cli.ExitUsage,
	want: []string{`"CVE-2024-1=2024-13-45"`, "CVE-ID=YYYY-MM-DD"},
}, {
	name: "allowlist file with a duplicated key",
	args: func(t *testing.T, e *cliEnv) []string {
		file := e.writeFile(t, "allow.yaml",
			"- id: CVE-2024-1\n  expires: 2099-01-01\n  expires: 2020-01-01\n")
		return setFlag(e.args("app"), "--allowlist", file)
	},
	code: cli.ExitUsage,
	want: []string{"allow.yaml", `"expires"`},
}, {
	name: "CA bundle that is no PEM",
	args: func(t *testing.T, e *cliEnv) []string {
		return setFlag(e.args("app"), "--ca-bundle", e.writeFile(t, "ca-junk.pem", "junk"))
	},
	code: cli.ExitUsage,
	want: []string{"CA bundle", "-----BEGIN CERTIFICATE-----"},
}, {
	name: "CA bundle with verification turned off",
	args: func(t *testing.T, e *cliEnv) []string {
		ca := e.writeFile(t, "ca.pem", testCAPEM())
		return append(setFlag(e.args("app"), "--ca-bundle", ca), "--insecure-skip-tls-verify")
	},
	code: cli.ExitUsage,
	want: []string{"--ca-bundle", "--insecure-skip-tls-verify", "drop one"},
}, {
	name: "KMS scheme that cosign does not link",
	args: withFlag("--key", "gcpkms://projects/p/keys/k"),
	code: cli.ExitUsage,
	want: []string{"gcpkms://projects/p/keys/k"},
}, {
	name: "password file is a directory",
	args: func(t *testing.T, e *cliEnv) []string { return setFlag(e.args("app"), "--password-file", e.dir) },
	code: cli.ExitUsage,
	want: []string{e0dir, "is a directory"},
}, {
	name:   "notify URL with a password that does not parse",
	args:   withFlag("--notify", "http://core:TOPSECRET%zz@127.0.0.1:1/events"),
	code:   cli.ExitUsage,
	want:   []string{"invalid --notify", "REDACTED@127.0.0.1:1"},
	forbid: []string{"TOPSECRET"},
}, {
	name: "notify URL with another scheme",
	args: withFlag("--notify", "file:///etc/passwd"),
	code: cli.ExitUsage,
	want: []string{`"file:///etc/passwd"`, "https://core.example/events"},
}, {
	name: "argument after the flags",
	args: func(t *testing.T, e *cliEnv) []string { return append(e.args("app"), "extra") },
	code: cli.ExitUsage,
	want: []string{`"extra"`},
}}

// e0dir marks a want fragment that stands for the env's directory.
const e0dir = "\x00dir"

func TestPublishFlags(t *testing.T) {
	e := newCLIEnv(t)
	for _, tc := range flagCases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args(t, e)...)
			if code != tc.code {
				t.Errorf("exit code = %d, want %d\nstderr:\n%s", code, tc.code, stderr)
			}
			want := make([]string, len(tc.want))
			for i, fragment := range tc.want {
				want[i] = strings.ReplaceAll(fragment, e0dir, e.dir)
			}
			checkFragments(t, "stderr", stderr, want)
			for _, text := range append(tc.forbid, "panic", robotSecret, keyPassword) {
				if strings.Contains(stdout+stderr, text) {
					t.Errorf("the output contains %q:\nstdout: %s\nstderr: %s", text, stdout,
						stderr)
				}
			}
		})
	}
	if got := e.srv.Stats().ManifestPuts[project+"/app"]; got != 0 {
		t.Errorf("hostile flags pushed %d manifests, want none", got)
	}
}
