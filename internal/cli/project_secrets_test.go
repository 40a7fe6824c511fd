package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretRefPolicy is a policy whose webhook auth header comes from a Secret.
const secretRefPolicy = `apiVersion: harbor.druppie.dev/v1alpha1
kind: HarborProject
metadata: {name: platform}
spec:
  webhooks:
    - name: core-scan-results
      eventTypes: [SCANNING_COMPLETED]
      target:
        address: https://core.druppie.local/harbor
        authHeader:
          secretRef: {namespace: NAMESPACE, name: core-webhook, key: authorization}
`

func TestProjectSecretsDirReadsSecretRef(t *testing.T) {
	fx := newProjectFixture(t)
	policy := fx.write(t, "secretref.yaml",
		strings.ReplaceAll(secretRefPolicy, "NAMESPACE", "harbor"))
	secrets := filepath.Join(fx.dir, "secrets")
	if err := os.MkdirAll(filepath.Join(secrets, "harbor", "core-webhook"), 0o700); err != nil {
		t.Fatal(err)
	}
	value := "Bearer dir-secret-token-55"
	if err := os.WriteFile(filepath.Join(secrets, "harbor", "core-webhook", "authorization"),
		[]byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// KUBECONFIG names no file, so any attempt to reach Kubernetes would fail.
	t.Setenv("KUBECONFIG", filepath.Join(fx.dir, "no-kubeconfig"))

	code, stdout, stderr := fx.run(t, "apply", "-f", policy, "--secrets-dir", secrets)
	if code != ExitPass {
		t.Fatalf("apply: exit code = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "auth header set from secret harbor/core-webhook key "+
		"authorization") {
		t.Errorf("apply printed\n%s\nwant the auth header's source", stdout)
	}
	if strings.Contains(stdout+stderr, value) {
		t.Errorf("apply printed the auth header:\n%s\n%s", stdout, stderr)
	}
	if code, stdout, _ := fx.run(t, "diff", "-f", policy, "--secrets-dir", secrets); code !=
		ExitInSync {
		t.Errorf("diff after apply: exit code = %d, want %d\n%s", code, ExitInSync, stdout)
	}
}

func TestProjectSecretsDirRejectsBadInput(t *testing.T) {
	fx := newProjectFixture(t)
	secrets := filepath.Join(fx.dir, "secrets")
	if err := os.Mkdir(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		namespace  string
		secretsDir string
		want       string
	}{
		{name: "dot-dot namespace", namespace: `".."`, secretsDir: secrets,
			want: `invalid secretRef.namespace ".."`},
		{name: "path as namespace", namespace: `"../../etc"`, secretsDir: secrets,
			want: `invalid secretRef.namespace "../../etc"`},
		{name: "missing secret", namespace: "harbor", secretsDir: secrets,
			want: "harbor/core-webhook/authorization does not exist in " + secrets},
		{name: "missing directory", namespace: "harbor",
			secretsDir: filepath.Join(fx.dir, "absent"), want: "--secrets-dir: stat "},
		{name: "file as directory", namespace: "harbor", secretsDir: fx.passwd,
			want: "it is a file, not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			policy := fx.write(t, "policy.yaml",
				strings.ReplaceAll(secretRefPolicy, "NAMESPACE", tc.namespace))
			// Harbor has no webhook yet, so apply reads the secret to create it.
			code, _, stderr := fx.run(t, "apply", "-f", policy, "--secrets-dir",
				tc.secretsDir)
			if code != ExitUsage {
				t.Errorf("exit code = %d, want %d\nstderr:\n%s", code, ExitUsage, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tc.want)
			}
			if n := fx.writes(); n != 0 {
				t.Errorf("apply sent %d changing requests to Harbor, want none", n)
			}
		})
	}
}

func TestProjectHelpNamesSecretsDir(t *testing.T) {
	for _, verb := range []string{"diff", "apply"} {
		var stdout strings.Builder
		code := Main(t.Context(), []string{"project", verb, "--help"}, &stdout, &stdout)
		if code != ExitPass {
			t.Fatalf("project %s --help: exit code = %d", verb, code)
		}
		for _, want := range []string{"--secrets-dir", "DIR/<namespace>/<name>/<key>"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("project %s --help lacks %q:\n%s", verb, want, stdout.String())
			}
		}
	}
}
