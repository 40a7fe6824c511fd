package projectpolicy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

const clientSecret = "oidc-client-secret-value"

const instancePolicy = `apiVersion: harbor.druppie.dev/v1alpha1
kind: HarborInstance
metadata: {name: registry}
spec:
  oidc:
    endpoint: https://keycloak.druppie.local/realms/druppie
    clientID: harbor
    clientSecret: {secretRef: {namespace: harbor, name: harbor-oidc, key: client-secret}}
    groupsClaim: groups
    adminGroup: harbor-admins
    autoOnboard: true
    userClaim: preferred_username
  systemCVEAllowlist: {items: [CVE-2024-0002]}
`

// fakeKubernetes returns a SecretReader backed by a fake clientset with the OIDC Secret.
func fakeKubernetes() SecretReader {
	clientset := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "harbor", Name: "harbor-oidc"},
		Data:       map[string][]byte{"client-secret": []byte(clientSecret + "\n")},
	})
	return NewSecretReader(func() (kubernetes.Interface, error) { return clientset, nil })
}

func loadInstance(t *testing.T) *Instance {
	t.Helper()
	doc, err := Load(strings.NewReader(instancePolicy))
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	if err := doc.Validate(); err != nil {
		t.Fatalf("Validate() error = %v", err)
	}
	return doc.Instances[0]
}

func TestApplyInstanceOIDC(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	in := loadInstance(t)
	ctx := context.Background()

	plan, err := PlanInstance(ctx, api, in, WithSecretReader(fakeKubernetes()))
	if err != nil {
		t.Fatalf("PlanInstance() error = %v", err)
	}
	text := plan.String()
	for _, line := range []string{
		"~ configuration auth_mode: db_auth -> oidc_auth",
		"+ configuration oidc_endpoint: https://keycloak.druppie.local/realms/druppie",
		"~ configuration oidc_client_secret (set from secret harbor/harbor-oidc key " +
			"client-secret)",
		"~ system cve allowlist items: [] -> [CVE-2024-0002], expires: never -> never",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("plan lacks %q:\n%s", line, text)
		}
	}
	if strings.Contains(text, clientSecret) {
		t.Errorf("plan contains the client secret:\n%s", text)
	}
	if _, err := plan.Apply(ctx, api); err != nil {
		t.Fatalf("Apply() error = %v", err)
	}
	for key, want := range map[string]string{"auth_mode": "oidc_auth",
		"oidc_client_secret": clientSecret, "oidc_verify_cert": "true",
		"oidc_scope": DefaultOIDCScope} {
		if got, _ := srv.ConfigValue(key); got != want {
			t.Errorf("ConfigValue(%s) = %q, want %q", key, got, want)
		}
	}
	again, err := PlanInstance(ctx, api, in, WithSecretReader(fakeKubernetes()))
	if err != nil {
		t.Fatalf("second PlanInstance() error = %v", err)
	}
	if !again.Empty() {
		t.Errorf("second plan = %v, want no changes", planLines(again))
	}
}

func TestPlanInstanceOIDCDrift(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	in := loadInstance(t)
	ctx := context.Background()
	plan, err := PlanInstance(ctx, api, in, WithSecretReader(fakeKubernetes()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plan.Apply(ctx, api); err != nil {
		t.Fatal(err)
	}
	in.Spec.OIDC.AdminGroup = "registry-admins"
	in.Spec.SystemCVEAllowlist = nil
	drift, err := PlanInstance(ctx, api, in, WithSecretReader(fakeKubernetes()))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"~ configuration oidc_admin_group: harbor-admins -> registry-admins",
		"~ configuration oidc_client_secret (set from secret harbor/harbor-oidc key " +
			"client-secret)",
	}
	if diff := cmp.Diff(want, planLines(drift)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

func TestSecretReaderMissingKey(t *testing.T) {
	src := &SecretSource{SecretRef: &SecretRef{Namespace: "harbor", Name: "harbor-oidc",
		Key: "other"}}
	_, err := fakeKubernetes().ReadSecret(context.Background(), src)
	if !errors.Is(err, ErrSecret) {
		t.Fatalf("ReadSecret() error = %v, want ErrSecret", err)
	}
	if !strings.Contains(err.Error(), `has no key "other"`) {
		t.Errorf("ReadSecret() error = %q, want it to name the key", err)
	}
	if strings.Contains(err.Error(), clientSecret) {
		t.Errorf("ReadSecret() error contains the secret: %q", err)
	}
}
