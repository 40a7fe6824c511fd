package imagegate

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	corev1 "k8s.io/api/core/v1"

	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/harbortest"
	"github.com/druppie/harbor-gate/pkg/signing"
)

// trapPolicies are the settings of a production project: no pulls of images with Critical
// findings or without a scan, and only cosign-signed pulls.
var trapPolicies = map[string]string{
	"prevent_vul": "true", "severity": "critical", "enable_content_trust_cosign": "true",
}

func (e *env) enableTrapPolicies() {
	e.t.Helper()
	for key, value := range trapPolicies {
		if err := e.srv.SetProjectMetadata(project, key, value); err != nil {
			e.t.Fatal(err)
		}
	}
}

// pushTrapIndex pushes an index of an amd64 and an arm64 image and an attestation
// manifest to staging/traps:v1 and returns its reference.
func (e *env) pushTrapIndex() string {
	e.t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(256, 1)
		if err != nil {
			e.t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	attestation, err := random.Image(64, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	adds = append(adds, mutate.IndexAddendum{Add: attestation, Descriptor: v1.Descriptor{
		Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}})
	index := mutate.AppendManifests(mutate.IndexMediaType(empty.Index,
		ggcrtypes.OCIImageIndex), adds...)
	source := e.srv.Host() + "/staging/traps:v1"
	ref, err := name.ParseReference(source)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, index, remote.WithAuth(trapAdmin())); err != nil {
		e.t.Fatalf("pushing the index: %v", err)
	}
	return source
}

func trapAdmin() authn.Authenticator {
	return &authn.Basic{Username: "admin", Password: "Harbor12345"}
}

func trapRobot() authn.Authenticator {
	return &authn.Basic{Username: "robot$" + project + "+" + robotName, Password: robotSecret}
}

func TestReconcileIndexUnderPullPolicies(t *testing.T) {
	e := newEnv(t)
	e.enableTrapPolicies()
	source := e.pushTrapIndex()
	e.create(refRun(param(ParamSource, source), param(ParamTarget, e.target("traps"))))
	run := e.drive(nil)
	if reason := succeeded(run).Reason; reason != ReasonPassed {
		t.Fatalf("reason = %q (%s), want %q", reason, succeeded(run).Message, ReasonPassed)
	}
	var platforms map[string]map[string]int64
	value := resultValues(t, e)[gate.ResultPlatformCounts]
	if err := json.Unmarshal([]byte(value), &platforms); err != nil {
		t.Fatalf("%s %q: %v", gate.ResultPlatformCounts, value, err)
	}
	want := map[string]map[string]int64{"linux/amd64": {}, "linux/arm64": {}}
	if diff := cmp.Diff(want, platforms); diff != "" {
		t.Errorf("%s (-want +got):\n%s", gate.ResultPlatformCounts, diff)
	}
	state := extraFields(t, run).State
	if len(state.Platforms) != 2 {
		t.Fatalf("platforms in the state = %d, want 2 (the attestation left out)",
			len(state.Platforms))
	}
	for _, p := range state.Platforms {
		ref, err := name.NewDigest(e.srv.Host() + "/" + project + "/traps@" + p.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := remote.Get(ref, remote.WithAuth(trapRobot())); err != nil {
			t.Errorf("plain pull of %s (%s) under cosign-only pulls: %v", p.Digest,
				p.Platform, err)
		}
	}
}

func TestReconcileImmutableSignatureTag(t *testing.T) {
	e := newEnv(t)
	// Another key signed the digest in the target repository before, so the run's
	// signature must rewrite the sha256-<hex>.sig tag that the rule covers.
	digest, err := name.NewDigest(e.srv.Host() + "/" + project + "/fixed@" + e.digest)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(mustParse(t, e.source), remote.WithAuth(trapAdmin()))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(digest, img, remote.WithAuth(trapRobot())); err != nil {
		t.Fatalf("pushing the image: %v", err)
	}
	password := func(bool) ([]byte, error) { return []byte(keyPassword), nil }
	other, err := cosign.GenerateKeyPair(password)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := signing.LoadKey(other.PrivateBytes, []byte(keyPassword))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.Sign(e.ctx, digest, otherKey, signing.WithAuth(trapRobot())); err != nil {
		t.Fatalf("signing with the other key: %v", err)
	}
	if _, err := e.srv.AddImmutableRule(project, "sha256-*", "**"); err != nil {
		t.Fatal(err)
	}

	cr := refRun(e.params("fixed")...)
	cr.Spec.Retries = 2
	e.create(cr)
	run := e.drive(nil)
	cond := succeeded(run)
	if cond.Reason != ReasonSignFailed {
		t.Errorf("reason = %q, want %q", cond.Reason, ReasonSignFailed)
	}
	if n := len(run.Status.RetriesStatus); n != 0 {
		t.Errorf("retries used = %d, want 0: the same rule refuses every attempt", n)
	}
	for _, want := range []string{"exclude sha256-*.sig from the rule",
		"referrers signature format", "configured as immutable"} {
		if !strings.Contains(cond.Message, want) {
			t.Errorf("message does not contain %q: %s", want, cond.Message)
		}
	}
}

func mustParse(t *testing.T, ref string) name.Reference {
	t.Helper()
	parsed, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	return parsed
}

func TestReconcileReferrersFormatByHarborVersion(t *testing.T) {
	e := newEnv(t, withHarbor(harbortest.WithHarborVersion("v2.15.0-6e7b2a42")))
	if _, err := e.srv.AddImmutableRule(project, "**", "**"); err != nil {
		t.Fatal(err)
	}
	e.enableTrapPolicies()
	e.create(refRun(e.params("app")...))
	run := e.drive(nil)
	if reason := succeeded(run).Reason; reason != ReasonPassed {
		t.Fatalf("reason = %q (%s), want %q", reason, succeeded(run).Message, ReasonPassed)
	}
	if got := extraFields(t, run).State.SignatureFormat; got != gate.SignatureFormatReferrers {
		t.Errorf("signature format = %q, want %q", got, gate.SignatureFormatReferrers)
	}
	for _, r := range e.srv.RegistryRequests() {
		if r.Method == http.MethodPut && strings.HasSuffix(r.Reference, ".sig") {
			t.Errorf("PUT %s, want no signature tag in the referrers format", r.Path)
		}
	}
}

func TestReconcileMountFallsBackToUpload(t *testing.T) {
	e := newEnv(t, withHarbor(harbortest.WithMountUnauthorized()))
	// The robot may not read the private project, so the double refuses to
	// mount the source's blobs into the target with 401.
	e.copySourceToPrivate()
	e.replaceSecret(dockerConfigSecret(fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":%q}}}`,
		e.srv.Host(), sourceUser, sourcePassword)))
	spec := e.gateSpec()
	spec.Harbor.SourceCredentialsSecret = sourceSecretRef
	e.create(specRun(t, spec, e.params("app")...))
	run := e.drive(nil)
	if reason := succeeded(run).Reason; reason != ReasonPassed {
		t.Fatalf("reason = %q (%s), want %q", reason, succeeded(run).Message, ReasonPassed)
	}
	refused := 0
	for _, r := range e.srv.RegistryRequests() {
		if r.Method == http.MethodPost && r.Repository == project+"/app" &&
			r.Status == http.StatusUnauthorized {
			refused++
		}
	}
	if refused == 0 {
		t.Error("no blob mount was refused with 401, so the fallback was not exercised")
	}
}

func TestReconcileImmutableImageTagIsPolicyRefusal(t *testing.T) {
	e := newEnv(t)
	other, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(mustParse(t, e.target("app")), other,
		remote.WithAuth(trapRobot())); err != nil {
		t.Fatalf("pushing the existing tag: %v", err)
	}
	if _, err := e.srv.AddImmutableRule(project, "build-*", "**"); err != nil {
		t.Fatal(err)
	}
	cr := refRun(e.params("app")...)
	cr.Spec.Retries = 2
	e.create(cr)
	run := e.drive(nil)
	cond := succeeded(run)
	if cond.Status != corev1.ConditionFalse || cond.Reason != ReasonPushFailed {
		t.Errorf("condition = %s/%s, want False/%s", cond.Status, cond.Reason, ReasonPushFailed)
	}
	if !strings.Contains(cond.Message, "configured as immutable") {
		t.Errorf("message = %q, want Harbor's immutable-tag refusal", cond.Message)
	}
	if n := len(run.Status.RetriesStatus); n != 0 {
		t.Errorf("retries used = %d, want 0: the same rule refuses every attempt", n)
	}
}

func TestReconcileReadsNoManifestByTag(t *testing.T) {
	e := newEnv(t)
	e.enableTrapPolicies()
	e.create(refRun(e.params("app")...))
	if reason := succeeded(e.drive(nil)).Reason; reason != ReasonPassed {
		t.Fatalf("reason = %q, want %q", reason, ReasonPassed)
	}
	for _, r := range e.srv.RegistryRequests() {
		if r.Repository != project+"/app" || !r.ByTag() || strings.HasSuffix(r.Reference, ".sig") {
			continue
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			t.Errorf("%s %s: the gate read a manifest by tag", r.Method, r.Path)
		}
		if r.Status == http.StatusPreconditionFailed {
			t.Errorf("%s %s answered 412", r.Method, r.Path)
		}
	}
}
