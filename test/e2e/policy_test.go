package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/druppie/harbor-gate/internal/cli"
	"github.com/druppie/harbor-gate/pkg/harbortest"
	"github.com/druppie/harbor-gate/pkg/signing/vaulttest"
)

// In the fixture, *vulnerable* repositories have a fixable Critical finding,
// CVE-2024-0001, and an unfixable Low one, CVE-2024-0002. The *unfixable*
// repositories have one unfixable High finding, CVE-2024-0005.

func TestPublishFixableOnly(t *testing.T) {
	tests := []struct {
		name       string
		repository string
		extra      []string
		wantCode   int
		wantReason string
	}{{
		name:       "unfixable high fails without the flag",
		repository: "app-unfixable",
		extra:      []string{"--severity", "high"},
		wantCode:   cli.ExitFail,
		wantReason: "PolicyViolation: 1 High finding(s), threshold is High",
	}, {
		name:       "unfixable high passes with the flag",
		repository: "app-unfixable",
		extra:      []string{"--severity", "high", "--fixable-only"},
		wantCode:   cli.ExitPass,
		wantReason: "Passed: no finding breaks the policy (threshold High); " +
			"ignored 1 finding(s) without a fixed version (fixable-only)",
	}, {
		name:       "fixable critical still fails",
		repository: "app-vulnerable",
		extra:      []string{"--severity", "low", "--fixable-only"},
		wantCode:   cli.ExitFail,
		wantReason: "PolicyViolation: 1 Critical finding(s), threshold is Low; " +
			"ignored 1 finding(s) without a fixed version (fixable-only)",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			resultsDir := filepath.Join(e.dir, "results")
			args := e.args(tc.repository, append(tc.extra, "--results-dir", resultsDir)...)
			code, _, stderr := run(t, args...)
			if code != tc.wantCode {
				t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, tc.wantCode, stderr)
			}
			if got := readResults(t, resultsDir)["REASON"]; got != tc.wantReason {
				t.Errorf("REASON result = %q, want %q", got, tc.wantReason)
			}
		})
	}
}

func TestPublishAllow(t *testing.T) {
	tests := []struct {
		name       string
		extra      func(e *env) []string
		env        map[string]string
		wantCode   int
		wantReason string
	}{{
		name:     "allowed critical passes",
		extra:    func(*env) []string { return []string{"--allow", "CVE-2024-0001=2999-12-31"} },
		wantCode: cli.ExitPass,
		wantReason: "Passed: no finding breaks the policy (threshold Critical); " +
			"ignored 1 allowlisted finding(s): CVE-2024-0001 (Critical, openssl 3.0.0)",
	}, {
		name:     "expired entry does not exempt",
		extra:    func(*env) []string { return []string{"--allow", "CVE-2024-0001=2020-01-31"} },
		wantCode: cli.ExitFail,
		wantReason: "PolicyViolation: 1 Critical finding(s), threshold is Critical; " +
			"expired allowlist entries, which exempt nothing: " +
			"CVE-2024-0001 (expired 2020-02-01T00:00:00Z)",
	}, {
		name: "repeated and comma-separated ids",
		extra: func(*env) []string {
			return []string{"--severity", "low", "--allow", "cve-2024-0001",
				"--allow", "CVE-2024-0003,CVE-2024-0002"}
		},
		wantCode: cli.ExitPass,
		wantReason: "Passed: no finding breaks the policy (threshold Low); " +
			"ignored 2 allowlisted finding(s): CVE-2024-0001 (Critical, openssl 3.0.0), " +
			"CVE-2024-0002 (Low, zlib 1.2.0)",
	}, {
		name: "allowlist file",
		extra: func(e *env) []string {
			return []string{"--allowlist", writeFile(t, e.dir, "allowlist.yaml", `
- id: CVE-2024-0001
  expires: 2999-12-31
  reason: the vulnerable code path is not reachable
- id: CVE-2023-0009
  expires: 2024-01-01T00:00:00Z
`)}
		},
		wantCode: cli.ExitPass,
		wantReason: "Passed: no finding breaks the policy (threshold Critical); " +
			"ignored 1 allowlisted finding(s): CVE-2024-0001 (Critical, openssl 3.0.0); " +
			"expired allowlist entries, which exempt nothing: " +
			"CVE-2023-0009 (expired 2024-01-01T00:00:00Z)",
	}, {
		name:     "environment fallback",
		extra:    func(*env) []string { return nil },
		env:      map[string]string{"HARBOR_GATE_ALLOW": "CVE-2024-0001"},
		wantCode: cli.ExitPass,
		wantReason: "Passed: no finding breaks the policy (threshold Critical); " +
			"ignored 1 allowlisted finding(s): CVE-2024-0001 (Critical, openssl 3.0.0)",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			for key, value := range tc.env {
				t.Setenv(key, value)
			}
			resultsDir := filepath.Join(e.dir, "results")
			extra := append(tc.extra(e), "--results-dir", resultsDir)
			code, _, stderr := run(t, e.args("app-vulnerable", extra...)...)
			if code != tc.wantCode {
				t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, tc.wantCode, stderr)
			}
			results := readResults(t, resultsDir)
			if results["REASON"] != tc.wantReason {
				t.Errorf("REASON result = %q, want %q", results["REASON"], tc.wantReason)
			}
			if results["VULNERABILITY_COUNTS"] != `{"Critical":1,"Low":1}` {
				t.Errorf("VULNERABILITY_COUNTS result = %q, want Harbor's own counts",
					results["VULNERABILITY_COUNTS"])
			}
		})
	}
}

func TestPublishPolicyBadInput(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name     string
		extra    []string
		wantText string
	}{{
		name:     "allow without id",
		extra:    []string{"--allow", "=2025-01-01"},
		wantText: `invalid --allow "=2025-01-01": missing vulnerability id`,
	}, {
		name:  "allow with bad date",
		extra: []string{"--allow", "CVE-2024-0001=next week"},
		wantText: `invalid expiry of CVE-2024-0001: "next week" is neither a date ` +
			"YYYY-MM-DD nor an RFC 3339 time",
	}, {
		name:     "duplicate id",
		extra:    []string{"--allow", "CVE-2024-0001", "--allow", "cve-2024-0001"},
		wantText: "names cve-2024-0001 twice",
	}, {
		name: "misspelt field in allowlist file",
		extra: []string{"--allowlist", writeFile(t, e.dir, "typo.yaml",
			"- id: CVE-2024-0001\n  expiry: 2030-01-01\n")},
		wantText: `unknown field "expiry"`,
	}, {
		name:     "missing allowlist file",
		extra:    []string{"--allowlist", filepath.Join(e.dir, "none.yaml")},
		wantText: "--allowlist: open " + filepath.Join(e.dir, "none.yaml"),
	}, {
		name:     "unsupported KMS scheme",
		extra:    []string{"--key", "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k"},
		wantText: "unsupported KMS scheme; use a reference starting with awskms://",
	}, {
		name: "source password without user",
		extra: []string{"--source-password-file",
			writeFile(t, e.dir, "source.password", "pw")},
		wantText: "--source-password-file needs --source-username",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, e.args("app-vulnerable", tc.extra...)...)
			if code != cli.ExitUsage {
				t.Errorf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitUsage, stderr)
			}
			if !strings.Contains(stderr, tc.wantText) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tc.wantText)
			}
		})
	}
	if puts := e.srv.Stats().ManifestPuts[project+"/app-vulnerable"]; puts != 0 {
		t.Errorf("manifest PUTs = %d, want 0", puts)
	}
}

func TestPublishKMSKey(t *testing.T) {
	const token = "vault-token-Wd28"
	vault := vaulttest.New(token)
	t.Cleanup(vault.Close)
	publicPEM, err := vault.AddKey("harbor-gate")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("VAULT_ADDR", vault.URL())
	t.Setenv("VAULT_TOKEN", token)
	e := newEnv(t)
	args := replaceFlag(dropFlag(e.args("app"), "--key-password-file"), "--key",
		"hashivault://harbor-gate")
	code, stdout, stderr := run(t, append(args, "-o", "json")...)
	if code != cli.ExitPass {
		t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitPass, stderr)
	}
	if strings.Contains(stdout+stderr, token) {
		t.Errorf("output contains the Vault token")
	}
	if n := vault.Signatures(); n != 1 {
		t.Errorf("signatures made by Vault = %d, want 1", n)
	}
	e.pub = publicPEM
	verifySigned(t, e, jsonDigest(t, stdout), "app")
}

func TestPublishSourceCredentials(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	const user, password = "builder", "s3cr3t-builder-Jc40"
	e := newEnv(t, harbortest.WithProject(harbortest.Project{Name: "private"}),
		harbortest.WithUser(user, password, "private"))
	img, err := random.Image(2048, 1)
	if err != nil {
		t.Fatal(err)
	}
	source := e.srv.Host() + "/private/app:v1"
	ref, err := name.ParseReference(source)
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: password})
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatalf("pushing the source: %v", err)
	}
	passwordFile := writeFile(t, e.dir, "source.password", password+"\n")
	args := replaceFlag(e.args("app"), "--source", source)
	args = append(args, "--source-username", user, "--source-password-file", passwordFile)
	code, _, stderr := run(t, args...)
	if code != cli.ExitPass {
		t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitPass, stderr)
	}
	if strings.Contains(stderr, password) {
		t.Errorf("stderr contains the source password")
	}

	code, _, stderr = run(t, replaceFlag(e.args("other"), "--source", source)...)
	if code == cli.ExitPass {
		t.Errorf("without source credentials: exit code %d, want a failure\nstderr:\n%s",
			code, stderr)
	}
}

// jsonDigest returns the image digest from publish's JSON output.
func jsonDigest(t *testing.T, stdout string) string {
	t.Helper()
	var out struct{ ImageDigest string }
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || out.ImageDigest == "" {
		t.Fatalf("no ImageDigest in the JSON output (%v):\n%s", err, stdout)
	}
	return out.ImageDigest
}

func writeFile(t *testing.T, dir, fileName, content string) string {
	t.Helper()
	path := filepath.Join(dir, fileName)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
