//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/druppie/harbor-gate/internal/koimage"
	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
	"github.com/druppie/harbor-gate/pkg/harbortest"
	"github.com/druppie/harbor-gate/pkg/reconciler/imagegate"
)

// Names of the objects each test namespace holds.
const (
	imageGateName   = "gate"
	credentialsName = "harbor-robot"
	keySecretName   = "cosign-key"
)

// testEnv is one test's namespace in the shared tier, with a fresh source image.
type testEnv struct {
	t   *testing.T
	ctx context.Context
	c   *cluster
	ns  string
	// source is the source image by digest, in the double's public project.
	source string
}

// newTestEnv creates a namespace with its default ServiceAccount, pushes a source image
// of random content, and arranges for the tier's logs to be printed if the test fails.
// It skips the test when the tier's binaries are missing.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	if tier == nil {
		t.Skipf("integration tier not started: %s", skipReason)
	}
	marks := tier.logMarks()
	t.Cleanup(func() {
		if t.Failed() {
			var logs strings.Builder
			tier.dumpLogs(&logs, marks)
			t.Logf("logs written during the test:\n%s", logs.String())
		}
	})
	e := &testEnv{t: t, ctx: t.Context(), c: tier, ns: namespaceName(t)}
	e.createNamespace()
	e.pushSource()
	return e
}

var invalidNameChars = regexp.MustCompile(`[^a-z0-9-]+`)

// namespaceName derives a unique DNS label from the test's name.
func namespaceName(t *testing.T) string {
	base := invalidNameChars.ReplaceAllString(strings.ToLower(t.Name()), "-")
	base = strings.Trim(base, "-")
	if len(base) > 40 {
		base = base[:40]
	}
	suffix, err := randomHex(3)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(base, "-") + "-" + suffix
}

// createNamespace creates the namespace and its "default" ServiceAccount, which no
// kube-controller-manager creates here, but which Tekton's TaskRuns use.
func (e *testEnv) createNamespace() {
	e.t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}
	if _, err := e.c.kube.CoreV1().Namespaces().Create(e.ctx, ns, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("creating namespace %s: %v", e.ns, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	_, err := e.c.kube.CoreV1().ServiceAccounts(e.ns).Create(e.ctx, sa, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating ServiceAccount %s/default: %v", e.ns, err)
	}
}

// pushSource pushes a ko-style image with a random binary to the double's source project.
func (e *testEnv) pushSource() {
	e.t.Helper()
	binary := filepath.Join(e.t.TempDir(), "app")
	if err := os.WriteFile(binary, []byte(rand.Text()+rand.Text()), 0o755); err != nil {
		e.t.Fatal(err)
	}
	img, err := koimage.Build(binary, map[string]string{"test": e.t.Name()})
	if err != nil {
		e.t.Fatalf("building the source image: %v", err)
	}
	ref, err := name.ParseReference(e.c.harbor.srv.Host() + "/" + sourceProject + "/" + e.ns +
		":v1")
	if err != nil {
		e.t.Fatal(err)
	}
	admin := &authn.Basic{Username: harbortest.DefaultAdminUser,
		Password: harbortest.DefaultAdminPassword}
	if err := remote.Write(ref, img, remote.WithAuth(admin), remote.WithContext(e.ctx)); err != nil {
		e.t.Fatalf("pushing the source image %s: %v", ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		e.t.Fatal(err)
	}
	e.source = ref.Context().Digest(digest.String()).String()
}

// target returns a Harbor target in the private project for a repository whose name
// starts with prefix, which selects the scan outcome of the fixture.
func (e *testEnv) target(prefix string) string {
	return e.c.harbor.srv.Host() + "/" + e.repository(prefix) + ":build-1"
}

// repository returns "<project>/<prefix>-<namespace>", the key of harbortest.Stats.
func (e *testEnv) repository(prefix string) string {
	return targetProject + "/" + prefix + "-" + e.ns
}

// createSecrets creates the robot's credentials and the cosign key in the namespace.
func (e *testEnv) createSecrets() {
	e.t.Helper()
	e.createCredentials()
	e.createKeySecret()
}

// createKeySecret creates the Secret with the cosign key pair and the key's password.
func (e *testEnv) createKeySecret() {
	e.t.Helper()
	h := e.c.harbor
	e.createSecret(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: keySecretName},
		Data: map[string][]byte{
			imagegate.SecretKeyCosignKey:      h.keys.PrivateBytes,
			imagegate.SecretKeyCosignPassword: []byte(h.keyPassword),
			"cosign.pub":                      h.keys.PublicBytes,
		},
	})
}

// createCredentials creates the Secret with the robot account's name and secret.
func (e *testEnv) createCredentials() {
	e.t.Helper()
	e.createSecret(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: credentialsName},
		Type:       corev1.SecretTypeBasicAuth,
		Data: map[string][]byte{
			imagegate.SecretKeyUsername: []byte(harbortest.RobotName(targetProject, robotName)),
			imagegate.SecretKeyPassword: []byte(e.c.harbor.robotSecret),
		},
	})
}

func (e *testEnv) createSecret(s *corev1.Secret) {
	e.t.Helper()
	if _, err := e.c.kube.CoreV1().Secrets(e.ns).Create(e.ctx, s, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("creating Secret %s/%s: %v", e.ns, s.Name, err)
	}
}

// createImageGate creates the ImageGate the test Pipelines name: the double, both
// Secrets, and scan polling fast enough for the fixture's timing.
func (e *testEnv) createImageGate() {
	e.t.Helper()
	e.createImageGateFor(e.c.harbor.srv.URL())
}

// createImageGateFor creates the ImageGate that createImageGate creates, with harborURL in
// place of the double's URL, for example a proxy in front of it.
func (e *testEnv) createImageGateFor(harborURL string) {
	e.t.Helper()
	duration := func(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
	gate := &v1alpha1.ImageGate{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(),
			Kind: v1alpha1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: imageGateName, Namespace: e.ns},
		Spec: v1alpha1.ImageGateSpec{
			Harbor:  v1alpha1.HarborSpec{URL: harborURL, CredentialsSecret: credentialsName},
			Signing: v1alpha1.SigningSpec{KeySecret: keySecretName},
			Policy:  v1alpha1.PolicySpec{Severity: "critical"},
			Scan: v1alpha1.ScanSpec{
				GracePeriod:     duration(200 * time.Millisecond),
				PollInterval:    duration(200 * time.Millisecond),
				MaxPollInterval: duration(time.Second),
				Timeout:         duration(5 * time.Minute),
			},
			OnFail: v1alpha1.FailActionSucceed,
		},
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(gate)
	if err != nil {
		e.t.Fatal(err)
	}
	resource := v1alpha1.SchemeGroupVersion.WithResource("imagegates")
	_, err = e.c.dynamic.Resource(resource).Namespace(e.ns).
		Create(e.ctx, &unstructured.Unstructured{Object: content}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating ImageGate %s/%s: %v", e.ns, imageGateName, err)
	}
}
