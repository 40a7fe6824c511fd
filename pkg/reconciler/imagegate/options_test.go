package imagegate

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/harbortest"
	"github.com/druppie/harbor-gate/pkg/signing"
	"github.com/druppie/harbor-gate/pkg/signing/vaulttest"
)

const (
	sourceSecretRef = "source-pull"
	vaultToken      = "vault-token-Lq73"
)

func resultValues(t *testing.T, e *env) map[string]string {
	t.Helper()
	values := map[string]string{}
	for _, r := range e.get().Status.Results {
		values[r.Name] = r.Value
	}
	return values
}

func TestReconcileFixableOnlyAndAllowlist(t *testing.T) {
	// The fake clock starts at 2025-01-01T10:00:00Z. The repository *vulnerable* has a
	// fixable Critical finding, CVE-2024-0001, and an unfixable Low one, CVE-2024-0002.
	expired := metav1.NewTime(time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC))
	unexpired := metav1.NewTime(time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC))
	tests := []struct {
		name        string
		policy      v1alpha1.PolicySpec
		wantReason  string
		wantVerdict string
		wantDetails string
	}{{
		name:        "fixable-only ignores the unfixable low finding",
		policy:      v1alpha1.PolicySpec{Severity: "low", FixableOnly: true},
		wantReason:  ReasonPolicyViolation,
		wantVerdict: "FAIL",
		wantDetails: "1 Critical finding(s), threshold is Low; " +
			"ignored 1 finding(s) without a fixed version (fixable-only)",
	}, {
		name: "expired entry does not exempt, unexpired one does",
		policy: v1alpha1.PolicySpec{Severity: "low", Allowlist: []v1alpha1.AllowlistEntry{
			{ID: "CVE-2024-0001", Expires: &unexpired, Reason: "not reachable"},
			{ID: "CVE-2024-0002", Expires: &expired},
		}},
		wantReason:  ReasonPolicyViolation,
		wantVerdict: "FAIL",
		wantDetails: "1 Low finding(s), threshold is Low; " +
			"ignored 1 allowlisted finding(s): CVE-2024-0001 (Critical, openssl 3.0.0); " +
			"expired allowlist entries, which exempt nothing: " +
			"CVE-2024-0002 (expired 2025-01-01T09:00:00Z)",
	}, {
		name: "allowlisted critical passes the default policy",
		policy: v1alpha1.PolicySpec{Allowlist: []v1alpha1.AllowlistEntry{
			{ID: "cve-2024-0001", Expires: &unexpired}}},
		wantReason:  ReasonPassed,
		wantVerdict: "PASS",
		wantDetails: "no finding breaks the policy (threshold Critical); " +
			"ignored 1 allowlisted finding(s): CVE-2024-0001 (Critical, openssl 3.0.0)",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			spec := e.gateSpec()
			spec.Policy = tc.policy
			e.create(specRun(t, spec, e.params("vulnerable-app")...))
			got := e.drive(nil)
			if reason := succeeded(got).Reason; reason != tc.wantReason {
				t.Errorf("reason = %q, want %q (message %q)", reason, tc.wantReason,
					succeeded(got).Message)
			}
			values := resultValues(t, e)
			want := map[string]string{
				gate.ResultVerdict: tc.wantVerdict,
				gate.ResultReason:  tc.wantReason + ": " + tc.wantDetails,
				gate.ResultCounts:  `{"Critical":1,"Low":1}`,
			}
			for key, value := range want {
				if values[key] != value {
					t.Errorf("result %s = %q, want %q", key, values[key], value)
				}
			}
			if got := e.srv.Stats().APIRequests[vulnerabilitiesRoute]; got != 1 {
				t.Errorf("vulnerability list requests = %d, want 1", got)
			}
		})
	}
}

// vulnerabilitiesRoute is the double's count key of the vulnerabilities addition.
const vulnerabilitiesRoute = "GET /projects/{project_name}/repositories/{repository_name}/" +
	"artifacts/{reference}/additions/vulnerabilities"

func TestReconcileKMSKey(t *testing.T) {
	vault := vaulttest.New(vaultToken)
	t.Cleanup(vault.Close)
	publicPEM, err := vault.AddKey("harbor-gate")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("VAULT_ADDR", vault.URL())
	t.Setenv("VAULT_TOKEN", vaultToken)

	e := newEnv(t)
	spec := e.gateSpec()
	spec.Signing = v1alpha1.SigningSpec{KMS: "hashivault://harbor-gate"}
	e.create(specRun(t, spec, e.params("app")...))
	got := e.drive(nil)
	if reason := succeeded(got).Reason; reason != ReasonPassed {
		t.Fatalf("reason = %q, want %q (message %q)", reason, ReasonPassed,
			succeeded(got).Message)
	}
	if n := vault.Signatures(); n != 1 {
		t.Errorf("signatures made by Vault = %d, want 1", n)
	}

	digest, err := name.NewDigest(e.srv.Host() + "/" + project + "/app@" + e.digest)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := signing.LoadPublicKey(publicPEM)
	if err != nil {
		t.Fatal(err)
	}
	robot := &authn.Basic{Username: harbortest.RobotName(project, robotName),
		Password: robotSecret}
	count, err := signing.Verify(context.Background(), digest, verifier, signing.WithAuth(robot))
	if err != nil || count != 1 {
		t.Errorf("verifying with Vault's public key = %d signatures, %v; want 1", count, err)
	}
}

func TestReconcileKMSKeyErrors(t *testing.T) {
	tests := []struct {
		name        string
		ref         string
		wantReason  string
		wantMessage string
	}{{
		name:        "provider not linked in",
		ref:         "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
		wantReason:  ReasonInvalidSpec,
		wantMessage: "use a cosign KMS reference starting with awskms://",
	}, {
		name:        "key missing in Vault",
		ref:         "hashivault://no-such-key",
		wantReason:  ReasonSignFailed,
		wantMessage: "check the controller's KMS settings",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vault := vaulttest.New(vaultToken)
			t.Cleanup(vault.Close)
			t.Setenv("VAULT_ADDR", vault.URL())
			t.Setenv("VAULT_TOKEN", vaultToken)
			e := newEnv(t)
			spec := e.gateSpec()
			spec.Signing = v1alpha1.SigningSpec{KMS: tc.ref}
			e.create(specRun(t, spec, e.params("app")...))
			cond := succeeded(e.drive(nil))
			if cond.Status != corev1.ConditionFalse || cond.Reason != tc.wantReason {
				t.Errorf("condition = %s/%s, want False/%s", cond.Status, cond.Reason,
					tc.wantReason)
			}
			if !strings.Contains(cond.Message, tc.wantMessage) {
				t.Errorf("message = %q, want it to contain %q", cond.Message, tc.wantMessage)
			}
			if strings.Contains(cond.Message, vaultToken) {
				t.Errorf("message %q contains the Vault token", cond.Message)
			}
			if puts := e.srv.Stats().ManifestPuts[project+"/app"]; puts != 0 {
				t.Errorf("manifest PUTs = %d, want 0", puts)
			}
		})
	}
}

// copySourceToPrivate copies the source image into the private project, which the robot
// cannot read, and makes it the env's source.
func (e *env) copySourceToPrivate() {
	e.t.Helper()
	admin := remote.WithAuth(&authn.Basic{Username: harbortest.DefaultAdminUser,
		Password: harbortest.DefaultAdminPassword})
	from, err := name.ParseReference(e.source)
	if err != nil {
		e.t.Fatal(err)
	}
	img, err := remote.Image(from, admin)
	if err != nil {
		e.t.Fatalf("reading the source image: %v", err)
	}
	e.source = e.srv.Host() + "/" + privateProject + "/app:v1"
	to, err := name.ParseReference(e.source)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := remote.Write(to, img, admin); err != nil {
		e.t.Fatalf("copying the source image: %v", err)
	}
}

// dockerConfigSecret returns a kubernetes.io/dockerconfigjson Secret with config as its
// Docker config.
func dockerConfigSecret(config string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: sourceSecretRef, Namespace: namespace},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{SecretKeyDockerConfig: []byte(config)},
	}
}

func TestReconcileSourceCredentials(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte(sourceUser + ":" + sourcePassword))
	tests := []struct {
		name        string
		secret      func(host string) *corev1.Secret
		wantStatus  corev1.ConditionStatus
		wantReason  string
		wantMessage string
	}{{
		name: "username and password",
		secret: func(host string) *corev1.Secret {
			return dockerConfigSecret(fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":%q}}}`,
				host, sourceUser, sourcePassword))
		},
		wantStatus: corev1.ConditionTrue,
		wantReason: ReasonPassed,
	}, {
		name: "auth field with URL key",
		secret: func(host string) *corev1.Secret {
			return dockerConfigSecret(fmt.Sprintf(`{"auths":{"http://%s/v2/":{"auth":%q}}}`,
				host, auth))
		},
		wantStatus: corev1.ConditionTrue,
		wantReason: ReasonPassed,
	}, {
		name: "credentials for another registry",
		secret: func(string) *corev1.Secret {
			return dockerConfigSecret(fmt.Sprintf(`{"auths":{"other.example":{"auth":%q}}}`,
				auth))
		},
		wantStatus:  corev1.ConditionFalse,
		wantReason:  ReasonPushFailed,
		wantMessage: "opening source",
	}, {
		name: "malformed JSON",
		secret: func(string) *corev1.Secret {
			return dockerConfigSecret(`{"auths":{"h":{"password":"` + sourcePassword + `"`)
		},
		wantStatus: corev1.ConditionFalse,
		wantReason: ReasonInvalidSpec,
		wantMessage: `spec.harbor.sourceCredentialsSecret: the key ".dockerconfigjson" of ` +
			"Secret builds/source-pull is not a Docker config: it is not valid JSON",
	}, {
		name: "key missing",
		secret: func(string) *corev1.Secret {
			s := dockerConfigSecret("{}")
			s.Data = map[string][]byte{"config.json": []byte("{}")}
			return s
		},
		wantStatus:  corev1.ConditionUnknown,
		wantReason:  ReasonSecretNotFound,
		wantMessage: `Secret builds/source-pull has no key ".dockerconfigjson"`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.copySourceToPrivate()
			e.replaceSecret(tc.secret(e.srv.Host()))
			spec := e.gateSpec()
			spec.Harbor.SourceCredentialsSecret = sourceSecretRef
			e.create(specRun(t, spec, e.params("app")...))
			got := e.get()
			if tc.wantStatus == corev1.ConditionUnknown {
				if _, err := e.reconcile(); err != nil {
					t.Fatalf("reconcile: %v", err)
				}
				got = e.get()
			} else {
				got = e.drive(nil)
			}
			cond := succeeded(got)
			if cond.Status != tc.wantStatus || cond.Reason != tc.wantReason {
				t.Errorf("condition = %s/%s, want %s/%s (message %q)", cond.Status,
					cond.Reason, tc.wantStatus, tc.wantReason, cond.Message)
			}
			if !strings.Contains(cond.Message, tc.wantMessage) {
				t.Errorf("message = %q, want it to contain %q", cond.Message, tc.wantMessage)
			}
			raw, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{sourcePassword, auth} {
				if strings.Contains(string(raw), secret) {
					t.Errorf("the CustomRun contains the secret %q", secret)
				}
			}
			wantPuts := 0
			if tc.wantReason == ReasonPassed {
				wantPuts = 2
			}
			if puts := e.srv.Stats().ManifestPuts[project+"/app"]; puts != wantPuts {
				t.Errorf("manifest PUTs = %d, want %d", puts, wantPuts)
			}
		})
	}
}
