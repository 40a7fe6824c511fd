package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/druppie/harbor-gate/internal/cli"
	"github.com/druppie/harbor-gate/pkg/harbortest"
	"github.com/druppie/harbor-gate/pkg/signing"
)

// enablePolicies sets project metadata of the test project.
func enablePolicies(t *testing.T, srv *harbortest.Server, metadata map[string]string) {
	t.Helper()
	for key, value := range metadata {
		if err := srv.SetProjectMetadata(project, key, value); err != nil {
			t.Fatal(err)
		}
	}
}

// strictPolicies are the settings of a production project: scan on push, no pulls of
// images with Critical findings or without a scan, and only cosign-signed pulls.
var strictPolicies = map[string]string{
	"auto_scan": "true", "prevent_vul": "true", "severity": "critical",
	"enable_content_trust_cosign": "true",
}

// multiArchIndex is an index with an amd64 and an arm64 image and a BuildKit-style
// attestation manifest (platform unknown/unknown, in-toto layer).
type multiArchIndex struct {
	layout            string
	amd64, arm64, att string
}

func writeMultiArchLayout(t *testing.T, dir string) multiArchIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	digests := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(1024, 1)
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1),
			types.OCIConfigJSON)
		digests[arch] = digestString(t, img)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	statement := static.NewLayer([]byte(`{"_type":"https://in-toto.io/Statement/v0.1"}`),
		"application/vnd.in-toto+json")
	att, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
		statement)
	if err != nil {
		t.Fatal(err)
	}
	att = mutate.ConfigMediaType(att, types.OCIConfigJSON)
	adds = append(adds, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
		Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"}}})
	index := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		adds...)
	dir = filepath.Join(dir, "multi")
	path, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := path.AppendIndex(index); err != nil {
		t.Fatal(err)
	}
	return multiArchIndex{layout: dir, amd64: digests["amd64"], arm64: digests["arm64"],
		att: digestString(t, att)}
}

func digestString(t *testing.T, img interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return digest.String()
}

func TestPublishIndexJudgesEachPlatform(t *testing.T) {
	dir := t.TempDir()
	index := writeMultiArchLayout(t, dir)
	fixture, err := harbortest.ParseFixture([]byte(`
pending: 50ms
running: 100ms
rules:
  - digest: "` + index.arm64 + `"
    vulnerabilities:
      - {id: CVE-2024-0001, package: openssl, version: 3.0.0, severity: Critical}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, harbortest.WithFixture(fixture))
	enablePolicies(t, e.srv, strictPolicies)
	resultsDir := filepath.Join(e.dir, "results")
	args := replaceFlag(e.args("multi", "--results-dir", resultsDir, "-o", "json"),
		"--source", "oci:"+index.layout)
	code, stdout, stderr := run(t, args...)
	if code != cli.ExitFail {
		t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitFail, stderr)
	}
	results := readResults(t, resultsDir)
	var platforms map[string]map[string]int64
	if err := json.Unmarshal([]byte(results["PLATFORM_COUNTS"]), &platforms); err != nil {
		t.Fatalf("PLATFORM_COUNTS %q: %v", results["PLATFORM_COUNTS"], err)
	}
	want := map[string]map[string]int64{"linux/amd64": {}, "linux/arm64": {"Critical": 1}}
	if diff := cmp.Diff(want, platforms); diff != "" {
		t.Errorf("PLATFORM_COUNTS (-want +got):\n%s", diff)
	}
	var printed struct {
		PlatformCounts map[string]map[string]int64 `json:"platformCounts"`
	}
	if err := json.Unmarshal([]byte(stdout), &printed); err != nil {
		t.Fatalf("decoding the JSON output %q: %v", stdout, err)
	}
	if diff := cmp.Diff(want, printed.PlatformCounts); diff != "" {
		t.Errorf("platformCounts in the JSON output (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(results["REASON"], "PolicyViolation: linux/arm64: 1 Critical") {
		t.Errorf("REASON = %q, want the arm64 violation first", results["REASON"])
	}

	// Each platform image carries its own signature, so the cosign-only policy lets a
	// plain client pull the clean amd64 image, and vulnerability prevention still blocks
	// the arm64 one.
	for _, tc := range []struct {
		digest     string
		wantStatus int
	}{{index.amd64, http.StatusOK}, {index.arm64, http.StatusPreconditionFailed}} {
		ref, err := name.NewDigest(e.srv.Host() + "/" + project + "/multi@" + tc.digest)
		if err != nil {
			t.Fatal(err)
		}
		_, err = remote.Get(ref, remote.WithAuth(robotAuth()),
			remote.WithTransport(e.srv.Client().Transport))
		if status := statusOf(err); status != tc.wantStatus {
			t.Errorf("plain pull of %s: status %d (%v), want %d", tc.digest, status, err,
				tc.wantStatus)
		}
		verifySigned(t, e, tc.digest, "multi")
	}
}

func statusOf(err error) int {
	if err == nil {
		return http.StatusOK
	}
	if strings.Contains(err.Error(), "412 Precondition Failed") ||
		strings.Contains(err.Error(), "PROJECTPOLICYVIOLATION") {
		return http.StatusPreconditionFailed
	}
	return 0
}

func robotAuth() authn.Authenticator {
	return &authn.Basic{Username: harbortest.RobotName(project, robotName), Password: robotSecret}
}

func TestPublishUnderPreventionReadsNoTag(t *testing.T) {
	e := newEnv(t)
	enablePolicies(t, e.srv, strictPolicies)
	code, _, stderr := run(t, e.args("app")...)
	if code != cli.ExitPass {
		t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitPass, stderr)
	}
	pushed := false
	for _, r := range e.srv.RegistryRequests() {
		if r.Repository != project+"/app" || r.Kind != "manifests" {
			continue
		}
		if r.Method == http.MethodPut && r.Reference == "build-1" {
			pushed = true
		}
		// The push may HEAD the manifest by digest to skip a re-upload; a
		// read by tag would trust a tag before anything was pushed.
		digestHead := r.Method == http.MethodHead && !r.ByTag()
		if !pushed && r.Method != http.MethodPut && !digestHead {
			t.Errorf("%s %s before the push, want no manifest read by tag", r.Method, r.Path)
		}
		if r.Method == http.MethodHead && r.Reference == "build-1" {
			t.Errorf("HEAD %s, want no HEAD of the image's tag", r.Path)
		}
		if r.Status == http.StatusPreconditionFailed {
			t.Errorf("%s %s got 412 (User-Agent %q)", r.Method, r.Path, r.UserAgent)
		}
	}
	if !pushed {
		t.Errorf("no manifest PUT to the tag build-1 in the request log")
	}
}

func TestPublishImmutableSignatureTag(t *testing.T) {
	e := newEnv(t)
	if _, err := e.srv.AddImmutableRule(project, "**", "**"); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, e.args("app")...); code != cli.ExitPass {
		t.Fatalf("first run: exit code = %d, want %d\nstderr:\n%s", code, cli.ExitPass, stderr)
	}
	// A second key signs the same digest, so cosign must rewrite the .sig tag.
	secondDir := filepath.Join(e.dir, "second")
	if err := os.Mkdir(secondDir, 0o700); err != nil {
		t.Fatal(err)
	}
	key, keyPass, _ := writeKeyPair(t, secondDir)
	args := replaceFlag(replaceFlag(e.args("app"), "--key", key), "--key-password-file", keyPass)
	args = replaceFlag(args, "--target", e.srv.Host()+"/"+project+"/app:build-2")
	code, _, stderr := run(t, args...)
	if code != cli.ExitError {
		t.Fatalf("second run: exit code = %d, want %d\nstderr:\n%s", code, cli.ExitError, stderr)
	}
	for _, want := range []string{"immutable tag rule", "exclude sha256-*.sig from the rule",
		"referrers signature format", "configured as immutable"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, stderr)
		}
	}
	if got := e.srv.Stats().ManifestPuts[project+"/app"]; got != 3 {
		t.Errorf("accepted manifest PUTs = %d, want 3 (image, signature, second tag), "+
			"so no retry pushed again", got)
	}
}

func TestPublishReferrersFormatAvoidsImmutableTag(t *testing.T) {
	e := newEnv(t, harbortest.WithHarborVersion("v2.15.0-6e7b2a42"))
	if _, err := e.srv.AddImmutableRule(project, "**", "**"); err != nil {
		t.Fatal(err)
	}
	enablePolicies(t, e.srv, strictPolicies)
	resultsDir := filepath.Join(e.dir, "results")
	code, stdout, stderr := run(t, e.args("app", "--results-dir", resultsDir, "-o", "json")...)
	if code != cli.ExitPass {
		t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitPass, stderr)
	}
	digest := jsonDigest(t, stdout)
	signatureRef := readResults(t, resultsDir)["SIGNATURE_REF"]
	if !strings.Contains(signatureRef, "@sha256:") || strings.HasSuffix(signatureRef, ".sig") {
		t.Errorf("SIGNATURE_REF = %q, want the digest of a referrer manifest", signatureRef)
	}
	for _, r := range e.srv.RegistryRequests() {
		if r.Method == http.MethodPut && strings.HasSuffix(r.Reference, ".sig") {
			t.Errorf("PUT %s, want no signature tag in the referrers format", r.Path)
		}
	}
	verifyReferrerSigned(t, e, digest)
}

func TestPublishSignatureFormatFlag(t *testing.T) {
	e := newEnv(t)
	if _, err := e.srv.AddImmutableRule(project, "**", "**"); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, e.args("app", "--signature-format", "referrers",
		"-o", "json")...)
	if code != cli.ExitPass {
		t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitPass, stderr)
	}
	for _, r := range e.srv.RegistryRequests() {
		if r.Method == http.MethodPut && strings.HasSuffix(r.Reference, ".sig") {
			t.Errorf("PUT %s, want no signature tag with --signature-format referrers", r.Path)
		}
	}
	verifyReferrerSigned(t, e, jsonDigest(t, stdout))
}

func TestPublishMountFallsBackToUpload(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	const user, password = "builder", "s3cr3t-builder-Mv19"
	e := newEnv(t, harbortest.WithMountUnauthorized(),
		harbortest.WithProject(harbortest.Project{Name: "base"}),
		harbortest.WithUser(user, password, "base"))
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	source := e.srv.Host() + "/base/app:v1"
	ref, err := name.ParseReference(source)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: user,
		Password: password})); err != nil {
		t.Fatalf("pushing the source: %v", err)
	}
	passwordFile := writeFile(t, e.dir, "source.password", password+"\n")
	args := replaceFlag(e.args("app"), "--source", source)
	args = append(args, "--source-username", user, "--source-password-file", passwordFile)
	code, _, stderr := run(t, args...)
	if code != cli.ExitPass {
		t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitPass, stderr)
	}
	refused := 0
	for _, r := range e.srv.RegistryRequests() {
		if r.Method == http.MethodPost && r.Repository == project+"/app" &&
			r.Status == http.StatusUnauthorized {
			refused++
		}
	}
	if refused == 0 {
		t.Errorf("no blob mount was refused with 401, so the fallback was not exercised")
	}
}

func TestPublishWaitsOutStaleReport(t *testing.T) {
	fixture, err := harbortest.ParseFixture([]byte(`
pending: 50ms
running: 100ms
rules:
  - tag: "build-2"
    vulnerabilities:
      - {id: CVE-2024-0001, package: openssl, version: 3.0.0, severity: Critical}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, harbortest.WithFixture(fixture))
	if code, _, stderr := run(t, e.args("app")...); code != cli.ExitPass {
		t.Fatalf("first run: exit code = %d, want %d\nstderr:\n%s", code, cli.ExitPass, stderr)
	}
	// Without scan on push, the clean report of the first push stays until the gate asks
	// for a scan; that scan sees the tag build-2 and finds the Critical.
	enablePolicies(t, e.srv, map[string]string{"auto_scan": "false"})
	args := replaceFlag(e.args("app", "--scan-grace", "100ms"), "--target",
		e.srv.Host()+"/"+project+"/app:build-2")
	code, _, stderr := run(t, args...)
	if code != cli.ExitFail {
		t.Fatalf("second run: exit code = %d, want %d (the verdict of the new scan)\n"+
			"stderr:\n%s", code, cli.ExitFail, stderr)
	}
}

// verifyReferrerSigned checks with cosign that the digest in the test project's app
// repository carries a signature referrer made with the test key.
func verifyReferrerSigned(t *testing.T, e *env, digest string) {
	t.Helper()
	ref, err := name.NewDigest(e.srv.Host() + "/" + project + "/app@" + digest)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := signing.LoadPublicKey(e.pub)
	if err != nil {
		t.Fatal(err)
	}
	n, err := signing.Verify(t.Context(), ref, verifier, signing.WithAuth(robotAuth()),
		signing.WithFormat(signing.FormatReferrers))
	if err != nil || n != 1 {
		t.Errorf("verifying the referrer signature of %s: %d signatures, error %v", ref, n, err)
	}
}
