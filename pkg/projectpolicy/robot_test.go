package projectpolicy

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/druppie/harbor-gate/pkg/harbortest"
)

const robotPolicy = `apiVersion: harbor.druppie.dev/v1alpha1
kind: HarborProject
metadata: {name: platform}
spec:
  robot: {name: harbor-gate}
`

// dockerConfigAuth decodes the registry entry of a dockerconfigjson Secret.
func dockerConfigAuth(t *testing.T, secretYAML []byte, registryHost string) authn.Basic {
	t.Helper()
	var secret corev1.Secret
	if err := yaml.UnmarshalStrict(secretYAML, &secret); err != nil {
		t.Fatalf("decoding the Secret: %v", err)
	}
	if secret.Type != corev1.SecretTypeDockerConfigJson {
		t.Errorf("Secret type = %q, want %q", secret.Type, corev1.SecretTypeDockerConfigJson)
	}
	var config struct {
		Auths map[string]struct {
			Username, Password string
		} `json:"auths"`
	}
	if err := json.Unmarshal(secret.Data[corev1.DockerConfigJsonKey], &config); err != nil {
		t.Fatalf("decoding %s: %v", corev1.DockerConfigJsonKey, err)
	}
	entry, ok := config.Auths[registryHost]
	if !ok {
		t.Fatalf("dockerconfigjson has no entry for %s: %v", registryHost, config.Auths)
	}
	return authn.Basic{Username: entry.Username, Password: entry.Password}
}

func TestRobotPullSecretPullsImage(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	result := apply(t, api, planProject(t, api, loadProject(t, robotPolicy)))
	if result.Robot == nil {
		t.Fatal("Apply() created no robot credentials")
	}

	ref, err := name.ParseReference(srv.Host()+"/platform/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	admin := &authn.Basic{Username: harbortest.DefaultAdminUser,
		Password: harbortest.DefaultAdminPassword}
	if err := remote.Write(ref, img, remote.WithAuth(admin),
		remote.WithTransport(srv.Client().Transport)); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}

	secretYAML, err := PullSecretYAML("harbor-pull", "apps", srv.Host(), *result.Robot)
	if err != nil {
		t.Fatalf("PullSecretYAML() error = %v", err)
	}
	auth := dockerConfigAuth(t, secretYAML, srv.Host())
	pulled, err := remote.Image(ref, remote.WithAuth(&auth),
		remote.WithTransport(srv.Client().Transport))
	if err != nil {
		t.Fatalf("pulling with the pull secret's credentials: %v", err)
	}
	want, _ := img.Digest()
	if got, err := pulled.Digest(); err != nil || got != want {
		t.Errorf("pulled digest = %v, %v; want %v", got, err, want)
	}
}

func TestGateSecretKeys(t *testing.T) {
	creds := RobotCredentials{Username: "robot$platform+harbor-gate", Secret: "s3cret"}
	out, err := GateSecretYAML("harbor-robot", "", creds)
	if err != nil {
		t.Fatalf("GateSecretYAML() error = %v", err)
	}
	var secret corev1.Secret
	if err := yaml.Unmarshal(out, &secret); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"username": []byte(creds.Username), "password": []byte("s3cret")}
	if diff := cmp.Diff(want, secret.Data); diff != "" {
		t.Errorf("Secret data (-want +got):\n%s", diff)
	}
	if secret.Type != corev1.SecretTypeBasicAuth {
		t.Errorf("Secret type = %q, want %q", secret.Type, corev1.SecretTypeBasicAuth)
	}
}

func TestRotateRobotSecret(t *testing.T) {
	srv := startDouble(t)
	api := adminAPI(t, srv)
	p := loadProject(t, robotPolicy)
	first := apply(t, api, planProject(t, api, p)).Robot

	plan := planProject(t, api, p, WithRotateRobotSecret(true))
	want := []string{"~ robot harbor-gate secret: refreshed"}
	if diff := cmp.Diff(want, planLines(plan)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	second := apply(t, api, plan).Robot
	if second == nil || second.Secret == "" || second.Secret == first.Secret {
		t.Fatalf("rotated robot = %v, want a new secret", second)
	}
	ref, err := name.NewRepository(srv.Host()+"/platform/app", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	old := &authn.Basic{Username: first.Username, Password: first.Secret}
	_, err = remote.List(ref, remote.WithAuth(old), remote.WithTransport(srv.Client().Transport))
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
		t.Errorf("listing tags with the old secret: error = %v, want HTTP 401", err)
	}
}

func TestRobotDriftRepaired(t *testing.T) {
	srv := startDouble(t, harbortest.WithRobot("platform", "harbor-gate", "Old-secret-1"))
	api := adminAPI(t, srv)
	p := loadProject(t, robotPolicy)
	p.Spec.Robot.Description = "gate"
	plan := planProject(t, api, p)
	want := []string{`~ robot harbor-gate description: "" -> "gate"`}
	if diff := cmp.Diff(want, planLines(plan)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if result := apply(t, api, plan); result.Robot != nil {
		t.Errorf("update returned credentials %v, want none", result.Robot)
	}
	if again := planProject(t, api, p); !again.Empty() {
		t.Errorf("second plan = %v, want no changes", planLines(again))
	}
}

func TestRobotCredentialsStringHidesSecret(t *testing.T) {
	creds := RobotCredentials{Username: "robot$p+g", Secret: "s3cret-value"}
	for _, text := range []string{creds.String(), creds.GoString()} {
		if text != "{Username:robot$p+g Secret:[redacted]}" {
			t.Errorf("String() = %q, want the secret redacted", text)
		}
	}
}
