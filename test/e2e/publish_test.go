// Package e2e runs "harbor-gate publish" end to end, in process, against
// the Harbor double: a real Distribution registry, Harbor's token service,
// go-client against the double's API, and real cosign keys.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/cosign/v2/pkg/cosign"

	"github.com/druppie/harbor-gate/internal/cli"
	"github.com/druppie/harbor-gate/internal/koimage"
	"github.com/druppie/harbor-gate/pkg/harbortest"
	"github.com/druppie/harbor-gate/pkg/signing"
)

const (
	project     = "team"
	robotName   = "ci"
	robotSecret = "s3cr3t-robot-Zq81"
	keyPassword = "s3cr3t-key-Pw77"
)

// env is one test's Harbor double, image and key files.
type env struct {
	srv      *harbortest.Server
	dir      string
	layout   string
	key      string
	keyPass  string
	robotPwd string
	pub      []byte
}

func newEnv(t *testing.T, opts ...harbortest.Option) *env {
	t.Helper()
	dir := t.TempDir()
	base := []harbortest.Option{
		harbortest.WithFixture(fastFixture(t)),
		harbortest.WithProject(harbortest.Project{
			Name: project, Metadata: map[string]string{"auto_scan": "true"},
		}),
		harbortest.WithRobot(project, robotName, robotSecret),
	}
	srv, err := harbortest.New(append(base, opts...)...)
	if err != nil {
		t.Fatalf("starting the Harbor double: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	e := &env{srv: srv, dir: dir}
	e.layout = writeImage(t, dir, "image")
	e.key, e.keyPass, e.pub = writeKeyPair(t, dir)
	e.robotPwd = filepath.Join(dir, "robot.password")
	if err := os.WriteFile(e.robotPwd, []byte(robotSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func fastFixture(t *testing.T) *harbortest.Fixture {
	t.Helper()
	f, err := harbortest.ParseFixture([]byte(`
pending: 50ms
running: 100ms
rules:
  - repository: "*/*vulnerable*"
    vulnerabilities:
      - {id: CVE-2024-0001, package: openssl, version: 3.0.0, fix_version: 3.0.1, severity: Critical}
      - {id: CVE-2024-0002, package: zlib, version: 1.2.0, severity: Low}
  - repository: "*/broken*"
    status: Error
  - repository: "*/*unfixable*"
    vulnerabilities:
      - {id: CVE-2024-0005, package: glibc, version: "2.36", severity: High}
`))
	if err != nil {
		t.Fatalf("parsing the fixture: %v", err)
	}
	return f
}

// writeImage builds a small ko-style image of random content as an OCI
// layout and returns the layout directory.
func writeImage(t *testing.T, dir, name string) string {
	t.Helper()
	bin := filepath.Join(dir, name+"-bin")
	data := make([]byte, 64<<10)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := koimage.Build(bin, map[string]string{"test": t.Name()})
	if err != nil {
		t.Fatalf("building the test image: %v", err)
	}
	layout := filepath.Join(dir, name)
	if err := koimage.WriteLayout(layout, img); err != nil {
		t.Fatal(err)
	}
	return layout
}

func writeKeyPair(t *testing.T, dir string) (key, passFile string, pub []byte) {
	t.Helper()
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) {
		return []byte(keyPassword), nil
	})
	if err != nil {
		t.Fatalf("generating a cosign key pair: %v", err)
	}
	key = filepath.Join(dir, "cosign.key")
	passFile = filepath.Join(dir, "cosign.password")
	for path, data := range map[string][]byte{key: keys.PrivateBytes, passFile: []byte(keyPassword)} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return key, passFile, keys.PublicBytes
}

// args returns publish's arguments for repository, followed by extra.
func (e *env) args(repository string, extra ...string) []string {
	args := []string{"publish",
		"--source", "oci:" + e.layout,
		"--target", e.srv.Host() + "/" + project + "/" + repository + ":build-1",
		"--harbor-url", e.srv.URL(),
		"--username", harbortest.RobotName(project, robotName),
		"--password-file", e.robotPwd,
		"--key", e.key,
		"--key-password-file", e.keyPass,
		"--scan-grace", "2s",
		"--poll-interval", "20ms",
		"--max-poll-interval", "100ms",
		"--timeout", "30s",
	}
	return append(args, extra...)
}

// run runs harbor-gate with args and returns its exit code, stdout and
// stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := cli.Main(ctx, args, &stdout, &stderr)
	for _, secret := range []string{robotSecret, keyPassword} {
		if strings.Contains(stdout.String()+stderr.String(), secret) {
			t.Errorf("output contains the secret %q:\nstdout: %s\nstderr: %s",
				secret, stdout.String(), stderr.String())
		}
	}
	return code, stdout.String(), stderr.String()
}

func readResults(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading results: %v", err)
	}
	results := map[string]string{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		results[e.Name()] = string(data)
	}
	return results
}

func TestPublishCleanImagePasses(t *testing.T) {
	e := newEnv(t)
	resultsDir := filepath.Join(e.dir, "results")
	code, stdout, stderr := run(t, e.args("app", "--results-dir", resultsDir, "-o", "json")...)
	if code != cli.ExitPass {
		t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitPass, stderr)
	}
	var out struct {
		Verdict, Reason, ImageDigest, SignatureRef, ScanStatus string
		Counts                                                 map[string]int64
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if out.Verdict != "PASS" || out.Reason != "Passed" || out.ScanStatus != "Success" {
		t.Errorf("verdict %q reason %q status %q, want PASS Passed Success",
			out.Verdict, out.Reason, out.ScanStatus)
	}
	results := readResults(t, resultsDir)
	if results["VERDICT"] != "PASS" {
		t.Errorf("VERDICT result = %q, want PASS", results["VERDICT"])
	}
	if results["IMAGE_DIGEST"] != out.ImageDigest || !strings.HasPrefix(out.ImageDigest, "sha256:") {
		t.Errorf("IMAGE_DIGEST result %q, JSON digest %q: want the same sha256 digest",
			results["IMAGE_DIGEST"], out.ImageDigest)
	}
	wantURL := e.srv.Host() + "/" + project + "/app:build-1"
	if results["IMAGE_URL"] != wantURL {
		t.Errorf("IMAGE_URL result = %q, want %q", results["IMAGE_URL"], wantURL)
	}
	if !strings.HasSuffix(results["SIGNATURE_REF"], ":"+strings.Replace(out.ImageDigest, ":", "-", 1)+".sig") {
		t.Errorf("SIGNATURE_REF result = %q, want the .sig tag of %s", results["SIGNATURE_REF"], out.ImageDigest)
	}
	var counts map[string]int64
	if err := json.Unmarshal([]byte(results["VULNERABILITY_COUNTS"]), &counts); err != nil {
		t.Errorf("VULNERABILITY_COUNTS result %q is not a JSON object: %v",
			results["VULNERABILITY_COUNTS"], err)
	}
	if !strings.Contains(results["ARTIFACT_URL"], "/artifacts-tab/artifacts/"+out.ImageDigest) {
		t.Errorf("ARTIFACT_URL result = %q, want a link to %s", results["ARTIFACT_URL"], out.ImageDigest)
	}
	verifySigned(t, e, out.ImageDigest, "app")
}

// verifySigned checks with cosign that the digest in repository carries
// a signature made with the test key.
func verifySigned(t *testing.T, e *env, digest, repository string) {
	t.Helper()
	ref, err := name.NewDigest(e.srv.Host() + "/" + project + "/" + repository + "@" + digest)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := signing.LoadPublicKey(e.pub)
	if err != nil {
		t.Fatal(err)
	}
	auth := &authn.Basic{Username: harbortest.RobotName(project, robotName), Password: robotSecret}
	n, err := signing.Verify(context.Background(), ref, verifier, signing.WithAuth(auth))
	if err != nil || n < 1 {
		t.Errorf("verifying the signature of %s: %d signatures, error %v", ref, n, err)
	}
}

func TestPublishVulnerableImageFails(t *testing.T) {
	e := newEnv(t)
	resultsDir := filepath.Join(e.dir, "results")
	code, _, stderr := run(t, e.args("app-vulnerable", "--results-dir", resultsDir)...)
	if code != cli.ExitFail {
		t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitFail, stderr)
	}
	results := readResults(t, resultsDir)
	if results["VERDICT"] != "FAIL" {
		t.Errorf("VERDICT result = %q, want FAIL", results["VERDICT"])
	}
	if !strings.HasPrefix(results["REASON"], "PolicyViolation") {
		t.Errorf("REASON result = %q, want PolicyViolation first", results["REASON"])
	}
	if results["VULNERABILITY_COUNTS"] != `{"Critical":1,"Low":1}` {
		t.Errorf("VULNERABILITY_COUNTS result = %q, want {\"Critical\":1,\"Low\":1}",
			results["VULNERABILITY_COUNTS"])
	}
	if !strings.Contains(stderr, "1 Critical finding(s)") {
		t.Errorf("stderr does not name the Critical finding:\n%s", stderr)
	}
}

func TestPublishHighThresholdFailsOnLow(t *testing.T) {
	e := newEnv(t)
	code, _, stderr := run(t, e.args("app-vulnerable", "--severity", "low")...)
	if code != cli.ExitFail {
		t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitFail, stderr)
	}
	if !strings.Contains(stderr, "1 Low finding(s), threshold is Low") {
		t.Errorf("stderr does not name the Low finding:\n%s", stderr)
	}
}

func TestPublishScanErrorNeverPasses(t *testing.T) {
	e := newEnv(t)
	code, _, stderr := run(t, e.args("broken-app")...)
	if code != cli.ExitScan {
		t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitScan, stderr)
	}
	if !strings.Contains(stderr, "ScanFailed") {
		t.Errorf("stderr does not give the ScanFailed reason:\n%s", stderr)
	}
}

func TestPublishPushesOnceAndSignsOnce(t *testing.T) {
	e := newEnv(t)
	if code, _, stderr := run(t, e.args("app")...); code != cli.ExitPass {
		t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitPass, stderr)
	}
	stats := e.srv.Stats()
	if got := stats.ManifestPuts[project+"/app"]; got != 2 {
		t.Errorf("manifest PUTs to %s/app = %d, want 2 (the image and its signature)", project, got)
	}
}
