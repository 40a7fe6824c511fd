package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	projectapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/druppie/harbor-gate/internal/cli"
	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/harbortest"
	"github.com/druppie/harbor-gate/pkg/projectpolicy"
)

// policyFile is the project policy that the repository ships.
var policyFile = filepath.Join("..", "..", "config", "harbor", "project.yaml")

const policyAdminPassword = "adm1n-Pw-policy-e2e-48"

// secretRefPattern matches the flow-style secretRefs of the policy file.
var secretRefPattern = regexp.MustCompile(
	`secretRef: *\{namespace: *([^,}]+), *name: *([^,}]+), *key: *([^,}]+)\}`)

// writePolicySecrets writes a made-up value for each secretRef of the policy file into
// dir/<namespace>/<name>/<key>, the layout that --secrets-dir reads.
func writePolicySecrets(t *testing.T, dir string) {
	t.Helper()
	text, err := os.ReadFile(policyFile)
	if err != nil {
		t.Fatal(err)
	}
	refs := secretRefPattern.FindAllStringSubmatch(string(text), -1)
	if len(refs) == 0 {
		t.Fatalf("%s has no secretRef, want at least the webhook's auth header", policyFile)
	}
	for _, ref := range refs {
		secretDir := filepath.Join(dir, ref[1], ref[2])
		if err := os.MkdirAll(secretDir, 0o700); err != nil {
			t.Fatal(err)
		}
		value := "Bearer e2e-" + ref[2] + "-" + ref[3]
		if err := os.WriteFile(filepath.Join(secretDir, ref[3]), []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// policyEnv is a Harbor double with the project platform, the policy's secrets and the
// administrator's password file.
type policyEnv struct {
	srv                        *harbortest.Server
	dir, secrets, adminPwdFile string
}

func newPolicyEnv(t *testing.T) *policyEnv {
	t.Helper()
	srv, err := harbortest.New(
		harbortest.WithFixture(fastFixture(t)),
		harbortest.WithAdmin(harbortest.DefaultAdminUser, policyAdminPassword),
		// The sandbox creates the project too, so apply updates an existing project.
		harbortest.WithProject(harbortest.Project{Name: "platform",
			Metadata: map[string]string{"auto_scan": "true"}}),
	)
	if err != nil {
		t.Fatalf("starting the Harbor double: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	e := &policyEnv{srv: srv, dir: t.TempDir()}
	e.secrets = filepath.Join(e.dir, "secrets")
	writePolicySecrets(t, e.secrets)
	e.adminPwdFile = filepath.Join(e.dir, "admin.password")
	if err := os.WriteFile(e.adminPwdFile, []byte(policyAdminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// project runs "harbor-gate project VERB -f project.yaml" as the administrator.
func (e *policyEnv) project(t *testing.T, verb string, extra ...string) (int, string, string) {
	t.Helper()
	args := append([]string{"project", verb, "-f", policyFile, "--harbor-url", e.srv.URL(),
		"--username", harbortest.DefaultAdminUser, "--password-file", e.adminPwdFile,
		"--secrets-dir", e.secrets}, extra...)
	return run(t, args...)
}

// readSecretFile decodes a Secret that apply wrote.
func readSecretFile(t *testing.T, path string) corev1.Secret {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var secret corev1.Secret
	if err := yaml.Unmarshal(data, &secret); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return secret
}

// pullSecretAuth returns the credentials that an ImagePullSecret holds for host.
func pullSecretAuth(t *testing.T, secret corev1.Secret, host string) authn.Authenticator {
	t.Helper()
	if secret.Type != corev1.SecretTypeDockerConfigJson {
		t.Fatalf("ImagePullSecret type = %q, want %q", secret.Type,
			corev1.SecretTypeDockerConfigJson)
	}
	var config struct {
		Auths map[string]authn.AuthConfig `json:"auths"`
	}
	if err := json.Unmarshal(secret.Data[corev1.DockerConfigJsonKey], &config); err != nil {
		t.Fatalf("decoding %s: %v", corev1.DockerConfigJsonKey, err)
	}
	entry, ok := config.Auths[host]
	if !ok {
		t.Fatalf("ImagePullSecret has no credentials for %s: %v", host, config.Auths)
	}
	return authn.FromConfig(entry)
}

func TestProjectPolicyFlow(t *testing.T) {
	e := newPolicyEnv(t)
	gateOut := filepath.Join(e.dir, "gate-secret.yaml")
	pullOut := filepath.Join(e.dir, "pull-secret.yaml")
	code, stdout, stderr := e.project(t, "apply", "--gate-secret-out", gateOut,
		"--pull-secret-out", pullOut)
	if code != cli.ExitPass {
		t.Fatalf("apply: exit code = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	gate := readSecretFile(t, gateOut)
	robot := string(gate.Data[projectpolicy.GateSecretKeyUsername])
	robotPassword := string(gate.Data[projectpolicy.GateSecretKeyPassword])
	if robot != "robot$platform+harbor-gate" || robotPassword == "" {
		t.Fatalf("gate Secret has username %q and a password of %d bytes, want "+
			"robot$platform+harbor-gate and a password", robot, len(robotPassword))
	}
	if strings.Contains(stdout+stderr, robotPassword) {
		t.Errorf("apply printed the robot's secret:\n%s\n%s", stdout, stderr)
	}
	if code, stdout, _ := e.project(t, "diff"); code != cli.ExitInSync {
		t.Errorf("diff after apply: exit code = %d, want %d\n%s", code, cli.ExitInSync, stdout)
	}

	robotPwdFile := filepath.Join(e.dir, "robot.password")
	if err := os.WriteFile(robotPwdFile, []byte(robotPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	pub := &publisher{env: e, username: robot, passwordFile: robotPwdFile}
	pub.key, pub.keyPass, _ = writeKeyPair(t, e.dir)
	clean := writeImage(t, e.dir, "clean")
	other := writeImage(t, e.dir, "other")
	app := e.srv.Host() + "/platform/app:v1.0.0"
	vulnerable := e.srv.Host() + "/platform/app-vulnerable:v1.0.0"

	cleanDigest := pub.publish(t, "clean image", clean, app, cli.ExitPass, "PASS  "+app+"@")
	pub.publish(t, "over the immutable tag", other, app, cli.ExitError,
		"(HTTP 412 PRECONDITION): Failed to process request due to 'app:v1.0.0' "+
			"configured as immutable.")
	vulnerableDigest := pub.publish(t, "vulnerable image", other, vulnerable, cli.ExitFail,
		"FAIL  "+vulnerable+"@")

	auth := pullSecretAuth(t, readSecretFile(t, pullOut), e.srv.Host())
	pullFromSecret(t, e.srv.Host()+"/platform/app@"+cleanDigest, auth, nil)
	pullFromSecret(t, e.srv.Host()+"/platform/app-vulnerable@"+vulnerableDigest, auth,
		&transport.Diagnostic{Code: "PROJECTPOLICYVIOLATION",
			Message: "current image with 2 vulnerabilities cannot be pulled due to " +
				"configured policy in 'Prevent images with vulnerability severity of " +
				`"Critical" or higher from running.' To continue with pull, please contact ` +
				"your project administrator to exempt matched vulnerabilities through " +
				"configuring the CVE allowlist."})

	checkWebhooksStayed(t, e.srv)
	changeSeverity(t, e, "low")
	code, stdout, _ = e.project(t, "diff")
	if code != cli.ExitDrift {
		t.Errorf("diff after the change: exit code = %d, want %d", code, cli.ExitDrift)
	}
	if want := "~ metadata severity: low -> critical"; !strings.Contains(stdout, want) {
		t.Errorf("diff after the change printed\n%s\nwant a line %q", stdout, want)
	}
}

// publisher publishes images as the robot that apply created.
type publisher struct {
	env                    *policyEnv
	username, passwordFile string
	key, keyPass           string
}

// publish runs harbor-gate publish, checks its exit code and output, and returns the
// digest that it wrote to the results, or "" when it wrote none.
func (p *publisher) publish(t *testing.T, what, layout, target string, wantCode int,
	wantText string) string {
	t.Helper()
	results := filepath.Join(p.env.dir, "results-"+strings.ReplaceAll(what, " ", "-"))
	code, stdout, stderr := run(t, "publish", "--source", "oci:"+layout, "--target", target,
		"--harbor-url", p.env.srv.URL(), "--username", p.username,
		"--password-file", p.passwordFile, "--key", p.key, "--key-password-file", p.keyPass,
		"--scan-grace", "2s", "--poll-interval", "20ms", "--max-poll-interval", "100ms",
		"--timeout", "30s", "--results-dir", results)
	if code != wantCode {
		t.Fatalf("publish %s: exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", what, code,
			wantCode, stdout, stderr)
	}
	if !strings.Contains(stdout+stderr, wantText) {
		t.Errorf("publish %s: output lacks %q\nstdout:\n%s\nstderr:\n%s", what, wantText,
			stdout, stderr)
	}
	digest, err := os.ReadFile(filepath.Join(results, "IMAGE_DIGEST"))
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(digest))
}

// pullFromSecret gets the manifest of reference with the ImagePullSecret's credentials and
// checks that it succeeds, or, with a non-nil refusal, that Harbor refuses it with 412
// and that diagnostic.
func pullFromSecret(t *testing.T, reference string, auth authn.Authenticator,
	refusal *transport.Diagnostic) {
	t.Helper()
	ref, err := name.ParseReference(reference, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = remote.Get(ref, remote.WithAuth(auth), remote.WithContext(ctx))
	if refusal == nil {
		if err != nil {
			t.Errorf("pulling %s with the ImagePullSecret: %v", reference, err)
		}
		return
	}
	var terr *transport.Error
	if !errors.As(err, &terr) {
		t.Fatalf("pulling %s: error = %v, want HTTP 412 from the registry", reference, err)
	}
	if terr.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("pulling %s: HTTP status = %d, want 412", reference, terr.StatusCode)
	}
	if diff := cmp.Diff([]transport.Diagnostic{*refusal}, terr.Errors); diff != "" {
		t.Errorf("pulling %s: errors (-want +got):\n%s", reference, diff)
	}
}

// checkWebhooksStayed checks that the double recorded the policy's scan webhooks, whose
// target is not on loopback, as failed jobs and sent no request.
func checkWebhooksStayed(t *testing.T, srv *harbortest.Server) {
	t.Helper()
	srv.WaitForWebhooks()
	jobs := srv.WebhookJobs()
	if len(jobs) != 2 {
		t.Errorf("webhook jobs = %+v, want one for each scanned image", jobs)
	}
	for _, job := range jobs {
		if job.Address != "https://core.druppie.local/harbor" || job.Status != "Error" ||
			job.Attempts != 0 || !strings.Contains(job.StatusMessage, "loopback") {
			t.Errorf("webhook job = %+v, want status Error without attempts, "+
				"because the target is not on loopback", job)
		}
	}
	if n := srv.Stats().WebhookAttempts; n != 0 {
		t.Errorf("WebhookAttempts = %d, want 0", n)
	}
}

// changeSeverity sets the project metadata severity through Harbor's API, as someone
// editing the project in Harbor's web interface does.
func changeSeverity(t *testing.T, e *policyEnv, severity string) {
	t.Helper()
	api, err := projectpolicy.NewAPI(harbor.Config{URL: e.srv.URL(),
		Username: harbortest.DefaultAdminUser, Password: policyAdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	params := projectapi.NewUpdateProjectParams().WithProjectNameOrID("platform").
		WithProject(&models.ProjectReq{Metadata: &models.ProjectMetadata{
			Severity: &severity}})
	if _, err := api.Project.UpdateProject(context.Background(), params); err != nil {
		t.Fatalf("changing the severity of project platform: %v", err)
	}
}
