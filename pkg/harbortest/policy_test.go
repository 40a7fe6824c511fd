package harbortest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	v2client "github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/immutable"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const policyFixture = `
pending: 1s
running: 1s
rules:
  - repository: "demo/vulnerable"
    vulnerabilities:
      - {id: CVE-2024-0001, package: openssl, version: 3.0.0, severity: High}
      - {id: CVE-2024-0002, package: zlib, version: 1.2.0, severity: Low}
`

// preventionText is the policy part of Harbor's messages for a project severity.
func preventionText(severity string) string {
	return `due to configured policy in 'Prevent images with vulnerability severity of "` +
		severity + `" or higher from running.'`
}

// pullManifest sends GET or HEAD for a manifest and returns the registry's error. A
// signer, such as cosign, holds a token with push and pull on the repository, because
// Harbor lets only such clients through its pull policies.
func pullManifest(t *testing.T, srv *Server, ref, method, userAgent string,
	auth authn.Authenticator) error {
	t.Helper()
	opts := append(remoteOptions(srv, auth), remote.WithUserAgent(userAgent))
	if strings.Contains(userAgent, "cosign") || strings.Contains(userAgent, "notation") {
		repo := parseRef(t, srv, ref).Context()
		base := transport.NewUserAgent(srv.Client().Transport, userAgent)
		wrapped, err := transport.NewWithContext(context.Background(), repo.Registry, auth,
			base, []string{repo.Scope(transport.PushScope)})
		if err != nil {
			t.Fatalf("authenticating with push scope: %v", err)
		}
		opts = []remote.Option{remote.WithTransport(wrapped)}
	}
	if method == http.MethodHead {
		_, err := remote.Head(parseRef(t, srv, ref), opts...)
		return err
	}
	_, err := remote.Get(parseRef(t, srv, ref), opts...)
	return err
}

// policyRefusal returns the status, code and message of a registry error, or zeros.
func policyRefusal(err error) (int, string, string) {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return 0, "", ""
	}
	if len(terr.Errors) == 0 {
		return terr.StatusCode, "", ""
	}
	return terr.StatusCode, string(terr.Errors[0].Code), terr.Errors[0].Message
}

func TestVulnerabilityPreventionBlocksPulls(t *testing.T) {
	fixture, err := ParseFixture([]byte(policyFixture))
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	srv := startServer(t, WithFixture(fixture), WithClock(clock))
	img := pushImage(t, srv, "demo/vulnerable:v1", robotAuth())
	digest := digestOf(t, img)
	pushIndex(t, srv, "demo/multi:v1")
	signatureTag := pushCosignSignature(t, srv, "demo/vulnerable", digest)
	for key, value := range map[string]string{"prevent_vul": "true", "severity": "high"} {
		if err := srv.SetProjectMetadata("demo", key, value); err != nil {
			t.Fatal(err)
		}
	}
	admin := apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword)
	const agent = "go-containerregistry/test"

	type check struct {
		name, ref, method, agent string
		auth                     authn.Authenticator
		wantStatus               int
		wantMessage              string
	}
	run := func(t *testing.T, checks []check) {
		t.Helper()
		for _, c := range checks {
			status, code, message := policyRefusal(pullManifest(t, srv, c.ref, c.method,
				c.agent, c.auth))
			if status != c.wantStatus {
				t.Errorf("%s: status %d, want %d", c.name, status, c.wantStatus)
			}
			if c.wantMessage == "" {
				continue
			}
			if code != codePolicyViolation {
				t.Errorf("%s: code %q, want %q", c.name, code, codePolicyViolation)
			}
			if !strings.HasPrefix(message, c.wantMessage) {
				t.Errorf("%s: message %q, want the prefix %q", c.name, message, c.wantMessage)
			}
		}
	}
	run(t, []check{
		{name: "not scanned by tag", ref: "demo/vulnerable:v1", method: http.MethodGet,
			agent: agent, auth: robotAuth(), wantStatus: http.StatusPreconditionFailed,
			wantMessage: "current image without vulnerability scanning cannot be pulled " +
				preventionText("High") + " To continue with pull, please contact your " +
				"project administrator for help."},
		{name: "not scanned, HEAD without body", ref: "demo/vulnerable@" + digest,
			method: http.MethodHead, agent: agent, auth: robotAuth(),
			wantStatus: http.StatusPreconditionFailed},
		{name: "index passes", ref: "demo/multi:v1", method: http.MethodGet, agent: agent,
			auth: robotAuth()},
		{name: "signature passes", ref: "demo/vulnerable:" + signatureTag,
			method: http.MethodGet, agent: agent, auth: robotAuth()},
		{name: "cosign client with push passes", ref: "demo/vulnerable@" + digest,
			method: http.MethodHead, agent: "cosign/v2.6.5 (linux; amd64)", auth: robotAuth()},
		{name: "notation client with push passes", ref: "demo/vulnerable@" + digest,
			method: http.MethodGet, agent: "notation/1.3.0", auth: robotAuth()},
	})

	if err := triggerScan(admin, "vulnerable", "v1"); err != nil {
		t.Fatal(err)
	}
	run(t, []check{{name: "pending scan", ref: "demo/vulnerable@" + digest,
		method: http.MethodGet, agent: agent, auth: robotAuth(),
		wantStatus: http.StatusPreconditionFailed,
		wantMessage: `current image with "Pending" status of vulnerability scanning cannot ` +
			"be pulled " + preventionText("High")}})

	clock.Advance(3 * time.Second)
	run(t, []check{{name: "High finding at threshold High", ref: "demo/vulnerable@" + digest,
		method: http.MethodGet, agent: agent, auth: robotAuth(),
		wantStatus: http.StatusPreconditionFailed,
		wantMessage: "current image with 2 vulnerabilities cannot be pulled " +
			preventionText("High") + " To continue with pull, please contact your project " +
			"administrator to exempt matched vulnerabilities through configuring the CVE " +
			"allowlist."}})

	if err := srv.SetProjectMetadata("demo", "severity", "critical"); err != nil {
		t.Fatal(err)
	}
	run(t, []check{{name: "High finding below threshold Critical", ref: "demo/vulnerable:v1",
		method: http.MethodGet, agent: agent, auth: robotAuth()}})
}

func TestCosignContentTrustRunsFirst(t *testing.T) {
	srv := startServer(t, WithProject(Project{Name: "open", Public: true}),
		WithRobot("open", "ci", robotSecret))
	openRobot := &authn.Basic{Username: RobotName("open", "ci"), Password: robotSecret}
	img := pushImage(t, srv, "open/app:v1", openRobot)
	digest := digestOf(t, img)
	for key, value := range map[string]string{
		"enable_content_trust_cosign": "true", "prevent_vul": "true",
	} {
		if err := srv.SetProjectMetadata("open", key, value); err != nil {
			t.Fatal(err)
		}
	}
	const unsigned = "The image is not signed by cosign."
	tests := []struct {
		name        string
		agent       string
		auth        authn.Authenticator
		wantStatus  int
		wantMessage string
	}{
		{"plain client", "go-containerregistry/test", openRobot, 412, unsigned},
		{"cosign client without push", "cosign/v2.6.5", authn.Anonymous, 412, unsigned},
		{"cosign client with push", "cosign/v2.6.5", openRobot, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, message := policyRefusal(pullManifest(t, srv, "open/app@"+digest,
				http.MethodGet, tt.agent, tt.auth))
			if status != tt.wantStatus || message != tt.wantMessage {
				t.Errorf("status %d message %q, want %d %q", status, message, tt.wantStatus,
					tt.wantMessage)
			}
		})
	}

	payload := []byte(`{"critical":{"image":{"docker-manifest-digest":"` + digest + `"}}}`)
	pushSignatureAs(t, srv, "open/app", digest, payload, openRobot)
	_, _, message := policyRefusal(pullManifest(t, srv, "open/app@"+digest, http.MethodGet,
		"go-containerregistry/test", openRobot))
	if !strings.HasPrefix(message, "current image without vulnerability scanning") {
		t.Errorf("signed image: message %q, want the vulnerability prevention message", message)
	}
}

func TestImmutableRuleBlocksOverwrite(t *testing.T) {
	srv := startServer(t)
	img := pushImage(t, srv, "demo/app:v1", robotAuth())
	digest := digestOf(t, img)
	signatureTag := pushCosignSignature(t, srv, "demo/app", digest)
	if _, err := srv.AddImmutableRule("demo", "{v*,sha256-*}", "**"); err != nil {
		t.Fatal(err)
	}
	opts := remoteOptions(srv, robotAuth())
	put := func(tag string) error {
		return remote.Put(parseRef(t, srv, "demo/app:"+tag), img, opts...)
	}
	tests := []struct {
		name        string
		tag         string
		wantMessage string
	}{
		{"same digest to immutable tag", "v1",
			"Failed to process request due to 'app:v1' configured as immutable."},
		{"signature tag is not exempt", signatureTag,
			"Failed to process request due to 'app:" + signatureTag + "' configured as immutable."},
		{"new tag", "v2", ""},
		{"tag outside the rule", "latest", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code, message := policyRefusal(put(tt.tag))
			if tt.wantMessage == "" {
				if status != 0 {
					t.Errorf("status %d %s %q, want success", status, code, message)
				}
				return
			}
			if status != http.StatusPreconditionFailed || code != "PRECONDITION" {
				t.Errorf("status %d code %q, want 412 PRECONDITION", status, code)
			}
			if message != tt.wantMessage {
				t.Errorf("message %q, want %q", message, tt.wantMessage)
			}
		})
	}
	if err := remote.Put(parseRef(t, srv, "demo/app@"+digest), img, opts...); err != nil {
		t.Errorf("push by digest: %v, want success", err)
	}
}

func TestImmutableRuleRoutes(t *testing.T) {
	srv := startServer(t)
	img := pushImage(t, srv, "demo/app:v1", robotAuth())
	admin := apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword)
	id := exerciseImmutableRoutes(t, admin)
	put := func() error {
		return remote.Put(parseRef(t, srv, "demo/app:v1"), img, remoteOptions(srv, robotAuth())...)
	}
	if status, _, _ := policyRefusal(put()); status != http.StatusPreconditionFailed {
		t.Errorf("push to v1 under the created rule: status %d, want 412", status)
	}
	ctx := context.Background()
	disabled := immutableRule("v*", "a*")
	disabled.Disabled = true
	_, err := admin.Immutable.UpdateImmuRule(ctx, immutable.NewUpdateImmuRuleParams().
		WithProjectNameOrID("demo").WithImmutableRuleID(id).WithImmutableRule(disabled))
	if err != nil {
		t.Fatalf("updating rule: %v", err)
	}
	if err := put(); err != nil {
		t.Errorf("push to v1 with the rule disabled: %v, want success", err)
	}
	_, err = admin.Immutable.DeleteImmuRule(ctx, immutable.NewDeleteImmuRuleParams().
		WithProjectNameOrID("demo").WithImmutableRuleID(id))
	if err != nil {
		t.Fatalf("deleting rule: %v", err)
	}
	list, err := admin.Immutable.ListImmuRules(ctx, immutable.NewListImmuRulesParams().
		WithProjectNameOrID("demo"))
	if err != nil {
		t.Fatalf("listing rules: %v", err)
	}
	if len(list.Payload) != 0 {
		t.Errorf("rules after delete = %d, want 0", len(list.Payload))
	}
	robot := apiClient(t, srv, robotLogin, robotSecret)
	_, err = robot.Immutable.CreateImmuRule(ctx, immutable.NewCreateImmuRuleParams().
		WithProjectNameOrID("demo").WithImmutableRule(immutableRule("**", "**")))
	if apiStatus(err) != http.StatusForbidden {
		t.Errorf("robot creating a rule: %v, want 403", err)
	}
}

func immutableRule(tagPattern, repoPattern string) *models.ImmutableRule {
	return &models.ImmutableRule{
		Action: "immutable", Template: "immutable_template",
		TagSelectors: []*models.ImmutableSelector{{
			Kind: "doublestar", Decoration: "matches", Pattern: tagPattern}},
		ScopeSelectors: map[string][]models.ImmutableSelector{"repository": {{
			Kind: "doublestar", Decoration: "repoMatches", Pattern: repoPattern}}},
	}
}

// exerciseImmutableRoutes creates a rule for tags v* in repositories a* of project demo,
// lists it and returns its id.
func exerciseImmutableRoutes(t *testing.T, admin *v2client.HarborAPI) int64 {
	t.Helper()
	ctx := context.Background()
	created, err := admin.Immutable.CreateImmuRule(ctx, immutable.NewCreateImmuRuleParams().
		WithProjectNameOrID("demo").WithImmutableRule(immutableRule("v*", "a*")))
	if err != nil {
		t.Fatalf("creating rule: %v", err)
	}
	if !strings.Contains(created.Location, "/immutabletagrules/") {
		t.Errorf("Location = %q, want a rule URL", created.Location)
	}
	list, err := admin.Immutable.ListImmuRules(ctx, immutable.NewListImmuRulesParams().
		WithProjectNameOrID("demo"))
	if err != nil || len(list.Payload) != 1 {
		t.Fatalf("listing rules: %v, %d rules, want 1", err, len(list.Payload))
	}
	got := list.Payload[0]
	want := immutableRule("v*", "a*")
	want.ID = got.ID
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listed rule (-want +got):\n%s", diff)
	}
	return got.ID
}

func TestMountUnauthorizedFallsBack(t *testing.T) {
	tests := []struct {
		name         string
		opts         []Option
		wantStatuses []int
	}{
		{"Distribution starts a plain upload", nil, []int{http.StatusAccepted}},
		// The client asks for a token with the challenge's scope, is refused again, and
		// then starts the upload without the mount.
		{"WithMountUnauthorized answers 401", []Option{WithMountUnauthorized()},
			[]int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusAccepted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, append(tt.opts, WithProject(Project{Name: "base"}),
				WithUser("builder", userSecret, "base"))...)
			img := pushImage(t, srv, "base/app:v1", basicAuth("builder", userSecret))
			ref := parseRef(t, srv, "base/app:v1")
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			layer := &remote.MountableLayer{Layer: layers[0], Reference: ref}
			target := parseRef(t, srv, "demo/app:v1").Context()
			if err := remote.WriteLayer(target, layer, remoteOptions(srv, robotAuth())...); err != nil {
				t.Fatalf("writing the layer: %v", err)
			}
			var statuses []int
			for _, r := range srv.RegistryRequests() {
				if r.Method == http.MethodPost && r.Repository == "demo/app" {
					statuses = append(statuses, r.Status)
				}
			}
			if diff := cmp.Diff(tt.wantStatuses, statuses); diff != "" {
				t.Errorf("POST statuses of the upload (-want +got):\n%s", diff)
			}
			if got := srv.Stats().BlobUploads; got != 3 {
				t.Errorf("completed blob uploads = %d, want 3 (two for the source, one for "+
					"the target)", got)
			}
		})
	}
}

// pushSignatureAs pushes a cosign tag-scheme signature of subject with payload as auth.
func pushSignatureAs(t *testing.T, srv *Server, repo, subject string, payload []byte,
	auth authn.Authenticator) {
	t.Helper()
	layer := static.NewLayer(payload, types.MediaType(mediaTypeCosignSimpleSigning))
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
		layer)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	tag := strings.Replace(subject, ":", "-", 1) + ".sig"
	if err := remote.Write(parseRef(t, srv, repo+":"+tag), img,
		remoteOptions(srv, auth)...); err != nil {
		t.Fatalf("pushing signature: %v", err)
	}
}
