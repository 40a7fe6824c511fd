package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// pushOutcome is the part of a Result that tests compare.
type pushOutcome struct {
	Digest                                    string
	DigestConfirmed                           bool
	MediaType                                 types.MediaType
	Tag                                       string
	BlobsUploaded, BlobsMounted, BlobsSkipped int
}

func outcome(r *Result) pushOutcome {
	return pushOutcome{r.Digest.String(), r.DigestConfirmed, r.MediaType, r.Tag,
		r.BlobsUploaded, r.BlobsMounted, r.BlobsSkipped}
}

func openSource(t *testing.T, src string, opts ...Option) *Source {
	t.Helper()
	s, err := Open(t.Context(), src, opts...)
	if err != nil {
		t.Fatalf("Open(%q): %v", src, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func parseRef(t *testing.T, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// manifestReads returns the requests that read a manifest of repo, other
// than a HEAD by digest. Harbor may reject such reads with 412 while it has
// not scanned the image, so a push must send none. Push sends one HEAD by
// digest and treats its failure as a missing manifest.
func manifestReads(reqs []recordedRequest, repo string) []string {
	prefix := "/v2/" + repo + "/manifests/"
	var reads []string
	for _, r := range reqs {
		ref, ok := strings.CutPrefix(r.Path, prefix)
		if !ok || r.Method == http.MethodPut {
			continue
		}
		if _, err := v1.NewHash(ref); err == nil && r.Method == http.MethodHead {
			continue
		}
		reads = append(reads, r.String())
	}
	return reads
}

// registryRequests returns the requests as strings, without the ping of /v2/.
func registryRequests(reqs []recordedRequest) []string {
	var out []string
	for _, r := range reqs {
		if r.Path != "/v2/" {
			out = append(out, r.String())
		}
	}
	return out
}

// checkPulls reads the pushed image back by digest and validates every
// blob and manifest against its digest.
func checkPulls(t *testing.T, ref name.Digest, mediaType types.MediaType) {
	t.Helper()
	var err error
	if mediaType.IsIndex() {
		var idx v1.ImageIndex
		if idx, err = remote.Index(ref); err == nil {
			err = validate.Index(idx)
		}
	} else {
		var img v1.Image
		if img, err = remote.Image(ref); err == nil {
			err = validate.Image(img)
		}
	}
	if err != nil {
		t.Errorf("validating %s in the target: %v", ref, err)
	}
}

func TestPushSources(t *testing.T) {
	source := newTestRegistry(t)
	img := randomImage(t, 3) // 3 layers and a config: 4 blobs.
	digest := mustDigest(t, img)
	several := writeLayout(t, layoutEntry{image: randomImage(t, 1), refName: "v1"},
		layoutEntry{image: img, refName: "v2"})
	writeRemote(t, source.Host+"/src/app:v1", img)
	docker := dockerImage(t, 3)
	dockerTar := writeDockerArchive(t, map[string]v1.Image{"example.test/app:1": docker})

	tests := []struct {
		name       string
		src        string
		wantDigest v1.Hash
		wantType   types.MediaType
	}{
		{"registry by tag", source.Host + "/src/app:v1", digest, types.OCIManifestSchema1},
		{"registry by digest", source.Host + "/src/app@" + digest.String(), digest,
			types.OCIManifestSchema1},
		{"oci layout", writeLayout(t, layoutEntry{image: img}), digest, types.OCIManifestSchema1},
		{"layout selection", "oci:" + several + ":v2", digest, types.OCIManifestSchema1},
		{"oci archive", tarDirectory(t, writeLayout(t, layoutEntry{image: img}), false), digest,
			types.OCIManifestSchema1},
		{"docker archive", dockerTar, mustDigest(t, docker), types.DockerManifestSchema2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := newTestRegistry(t)
			src := openSource(t, tc.src)
			ref := parseRef(t, target.Host+"/team/app:1.0")

			res, err := Push(t.Context(), src, ref)
			if err != nil {
				t.Fatalf("Push: %v", err)
			}

			want := pushOutcome{
				Digest:          target.Host + "/team/app@" + tc.wantDigest.String(),
				DigestConfirmed: true,
				MediaType:       tc.wantType,
				Tag:             "1.0",
				BlobsUploaded:   4,
			}
			if diff := cmp.Diff(want, outcome(res)); diff != "" {
				t.Errorf("Push result (-want +got):\n%s", diff)
			}
			if res.Children != nil {
				t.Errorf("Children = %v, want nil for an image", res.Children)
			}
			if reads := manifestReads(target.takeRequests(), "team/app"); reads != nil {
				t.Errorf("push read manifests of the target: %v", reads)
			}
			checkPulls(t, res.Digest, tc.wantType)
		})
	}
}

// TestManifestReadsSeesRemoteWrite shows that the manifest read check can
// fail: go-containerregistry's remote.Write checks the tag with HEAD.
func TestManifestReadsSeesRemoteWrite(t *testing.T) {
	reg := newTestRegistry(t)
	writeRemote(t, reg.Host+"/team/app:1", randomImage(t, 1))

	reads := manifestReads(reg.takeRequests(), "team/app")

	if want := "HEAD /v2/team/app/manifests/1"; !slices.Contains(reads, want) {
		t.Errorf("manifestReads = %v, want it to contain %q", reads, want)
	}
}

func TestPushWithoutTagUsesDigest(t *testing.T) {
	reg := newTestRegistry(t)
	src := openSource(t, writeLayout(t, layoutEntry{image: randomImage(t, 1)}))
	repo, err := name.NewRepository(reg.Host + "/team/app")
	if err != nil {
		t.Fatal(err)
	}

	res, err := Push(t.Context(), src, src.DigestIn(repo))
	if err != nil {
		t.Fatalf("Push: %v", err)
	}

	if res.Tag != "" {
		t.Errorf("Tag = %q, want none", res.Tag)
	}
	if want := repo.Digest(src.Digest().String()); res.Digest != want {
		t.Errorf("Digest = %s, want %s", res.Digest, want)
	}
	var got []string
	for _, r := range reg.takeRequests() {
		if strings.Contains(r.Path, "/manifests/") {
			got = append(got, r.String())
		}
	}
	want := []string{
		"HEAD /v2/team/app/manifests/" + src.Digest().String(),
		"PUT /v2/team/app/manifests/" + src.Digest().String(),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("manifest requests (-want +got):\n%s", diff)
	}
	checkPulls(t, res.Digest, types.OCIManifestSchema1)
}

func TestPushIndexWithAllChildren(t *testing.T) {
	reg := newTestRegistry(t)
	platforms := []v1.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm64", Variant: "v8"},
		{OS: "linux", Architecture: "s390x"},
	}
	idx := platformIndex(t, platforms...)
	src := openSource(t, writeLayout(t, layoutEntry{index: idx}))

	res, err := Push(t.Context(), src, parseRef(t, reg.Host+"/team/multi:1"))
	if err != nil {
		t.Fatalf("Push: %v", err)
	}

	if want := mustDigest(t, idx).String(); res.Digest.DigestStr() != want {
		t.Errorf("Digest = %s, want the index digest %s", res.Digest.DigestStr(), want)
	}
	var gotPlatforms []v1.Platform
	for _, c := range res.Children {
		gotPlatforms = append(gotPlatforms, *c.Platform)
		checkPulls(t, res.Digest.Context().Digest(c.Digest.String()), c.MediaType)
	}
	if diff := cmp.Diff(platforms, gotPlatforms); diff != "" {
		t.Errorf("Children platforms (-want +got):\n%s", diff)
	}
	if res.BlobsUploaded != 9 { // 2 layers and a config per platform.
		t.Errorf("BlobsUploaded = %d, want 9", res.BlobsUploaded)
	}
	checkPulls(t, res.Digest, types.OCIImageIndex)
}

func TestPushNestedIndex(t *testing.T) {
	reg := newTestRegistry(t)
	inner := platformIndex(t, v1.Platform{OS: "linux", Architecture: "amd64"})
	outer := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: inner}, mutate.IndexAddendum{Add: randomImage(t, 1)})
	src := openSource(t, writeLayout(t, layoutEntry{index: outer}))

	res, err := Push(t.Context(), src, parseRef(t, reg.Host+"/team/nested:1"))
	if err != nil {
		t.Fatalf("Push: %v", err)
	}

	if want := mustDigest(t, outer).String(); res.Digest.DigestStr() != want {
		t.Errorf("Digest = %s, want %s", res.Digest.DigestStr(), want)
	}
	checkPulls(t, res.Digest, types.OCIImageIndex)
}

func TestRepushUploadsNothing(t *testing.T) {
	reg := newTestRegistry(t)
	src := openSource(t, writeLayout(t, layoutEntry{image: randomImage(t, 3)}))
	ref := parseRef(t, reg.Host+"/team/app:1")
	if _, err := Push(t.Context(), src, ref); err != nil {
		t.Fatalf("first Push: %v", err)
	}
	reg.takeRequests()

	res, err := Push(t.Context(), src, ref)
	if err != nil {
		t.Fatalf("second Push: %v", err)
	}

	if res.BlobsUploaded != 0 || res.BlobsSkipped != 4 {
		t.Errorf("BlobsUploaded, BlobsSkipped = %d, %d, want 0, 4", res.BlobsUploaded, res.BlobsSkipped)
	}
	want := []string{
		"HEAD /v2/team/app/manifests/" + src.Digest().String(),
		"PUT /v2/team/app/manifests/1",
	}
	if diff := cmp.Diff(want, registryRequests(reg.takeRequests())); diff != "" {
		t.Errorf("requests of the second push (-want +got):\n%s", diff)
	}
}

// TestRepushWhenManifestHeadFails pushes twice to a registry that rejects
// every manifest HEAD with 412, as Harbor does for an unscanned image under
// its vulnerability policy. Both pushes must succeed, the second one by
// checking each blob.
func TestRepushWhenManifestHeadFails(t *testing.T) {
	reg := newTestRegistry(t)
	reg.setBeforeServe(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/manifests/") {
			w.WriteHeader(http.StatusPreconditionFailed)
			return true
		}
		return false
	})
	src := openSource(t, writeLayout(t, layoutEntry{image: randomImage(t, 3)}))
	ref := parseRef(t, reg.Host+"/team/app:1")
	first, err := Push(t.Context(), src, ref)
	if err != nil {
		t.Fatalf("first Push: %v", err)
	}

	second, err := Push(t.Context(), src, ref)
	if err != nil {
		t.Fatalf("second Push: %v", err)
	}

	if first.BlobsUploaded != 4 {
		t.Errorf("first push BlobsUploaded = %d, want 4", first.BlobsUploaded)
	}
	if second.BlobsUploaded != 0 || second.BlobsSkipped != 4 {
		t.Errorf("second push BlobsUploaded, BlobsSkipped = %d, %d, want 0, 4",
			second.BlobsUploaded, second.BlobsSkipped)
	}
}

func TestPushMountsFromSameRegistry(t *testing.T) {
	reg := newTestRegistry(t)
	img := randomImage(t, 2)
	writeRemote(t, reg.Host+"/src/app:v1", img)
	src := openSource(t, reg.Host+"/src/app:v1")

	res, err := Push(t.Context(), src, parseRef(t, reg.Host+"/team/app:1"))
	if err != nil {
		t.Fatalf("Push: %v", err)
	}

	if res.BlobsMounted != 3 || res.BlobsUploaded != 0 {
		t.Errorf("BlobsMounted, BlobsUploaded = %d, %d, want 3, 0", res.BlobsMounted, res.BlobsUploaded)
	}
	checkPulls(t, res.Digest, types.OCIManifestSchema1)
}

// headerRewriter changes the Docker-Content-Digest header of manifest PUT
// responses, as a registry or proxy that rewrote the manifest would.
type headerRewriter struct {
	digest string // "" removes the header
}

func (h headerRewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := remote.DefaultTransport.RoundTrip(req)
	if err == nil && req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/") {
		resp.Header.Del("Docker-Content-Digest")
		if h.digest != "" {
			resp.Header.Set("Docker-Content-Digest", h.digest)
		}
	}
	return resp, err
}

func TestPushChecksRegistryDigest(t *testing.T) {
	reg := newTestRegistry(t)
	src := openSource(t, writeLayout(t, layoutEntry{image: randomImage(t, 1)}))
	ref := parseRef(t, reg.Host+"/team/app:1")
	otherDigest := "sha256:" + strings.Repeat("0", 64)

	_, err := Push(t.Context(), src, ref, WithTransport(headerRewriter{digest: otherDigest}))
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("Push with rewritten digest: error = %v, want ErrDigestMismatch", err)
	}
	if !strings.Contains(err.Error(), otherDigest) {
		t.Errorf("error %q does not name the registry's digest", err)
	}

	res, err := Push(t.Context(), src, ref, WithTransport(headerRewriter{}))
	if err != nil {
		t.Fatalf("Push without digest header: %v", err)
	}
	if res.DigestConfirmed {
		t.Error("DigestConfirmed = true without a Docker-Content-Digest header")
	}
	if res.Digest.DigestStr() != src.Digest().String() {
		t.Errorf("Digest = %s, want the computed %s", res.Digest, src.Digest())
	}
}

func TestPushRejectsTargetWithOtherDigest(t *testing.T) {
	src := openSource(t, writeLayout(t, layoutEntry{image: randomImage(t, 1)}))
	// Nothing listens on this address; the check must fail before any request.
	target := parseRef(t, "127.0.0.1:1/team/app@sha256:"+strings.Repeat("1", 64))

	_, err := Push(t.Context(), src, target)
	if !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("error = %v, want ErrDigestMismatch", err)
	}
}

func TestPushWithBasicAuth(t *testing.T) {
	const user, password = "robot$ci", "s3cret-robot-password"
	reg := newTestRegistry(t)
	reg.setBeforeServe(func(w http.ResponseWriter, r *http.Request) bool {
		if u, p, ok := r.BasicAuth(); ok && u == user && p == password {
			return false
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
		return true
	})
	src := openSource(t, writeLayout(t, layoutEntry{image: randomImage(t, 1)}))
	ref := parseRef(t, reg.Host+"/team/app:1")

	_, err := Push(t.Context(), src, ref, WithAuth(&authn.Basic{Username: user, Password: "wrong"}))
	if err == nil {
		t.Fatal("Push with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error %q contains the password", err)
	}

	_, err = Push(t.Context(), src, ref, WithAuth(&authn.Basic{Username: user, Password: password}))
	if err != nil {
		t.Errorf("Push with the right password: %v", err)
	}
}

func TestPushCancelled(t *testing.T) {
	reg := newTestRegistry(t)
	src := openSource(t, writeLayout(t, layoutEntry{image: randomImage(t, 2)}))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	reg.setBeforeServe(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPatch {
			return false
		}
		// Hold each blob upload until the client gives up. The server
		// notices the closed connection only after the body is read.
		cancel()
		_, _ = io.Copy(io.Discard, r.Body)
		// The bound keeps the server's Close from hanging the test binary
		// if the client never closes the connection.
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		return true
	})

	_, err := Push(ctx, src, parseRef(t, reg.Host+"/team/app:1"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}

func TestPushRejectsBadOptions(t *testing.T) {
	src := openSource(t, writeLayout(t, layoutEntry{image: randomImage(t, 1)}))
	ref := parseRef(t, "127.0.0.1:1/team/app:1")
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{"zero jobs", []Option{WithJobs(0)}, "invalid job count 0"},
		{"auth and keychain", []Option{WithAuth(authn.Anonymous),
			WithKeychain(authn.DefaultKeychain)}, "WithAuth and WithKeychain"},
		{"nil transport", []Option{WithTransport(nil)}, "nil transport"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Push(t.Context(), src, ref, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestInsecureTargetUsesHTTP(t *testing.T) {
	src := &Source{digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}}
	tests := []struct {
		insecure bool
		want     string
	}{
		{false, "https"},
		{true, "http"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint("insecure=", tc.insecure), func(t *testing.T) {
			o, err := newOptions([]Option{WithInsecure(tc.insecure)})
			if err != nil {
				t.Fatal(err)
			}
			got, err := resolveTarget(parseRef(t, "registry.example.test/team/app:1"), src, o)
			if err != nil {
				t.Fatal(err)
			}
			if scheme := got.Context().Scheme(); scheme != tc.want {
				t.Errorf("scheme = %q, want %q", scheme, tc.want)
			}
		})
	}
}
