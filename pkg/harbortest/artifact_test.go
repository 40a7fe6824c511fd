package harbortest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	artifactapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// pushIndex pushes an index from buildIndex and returns it and its two image digests.
func pushIndex(t *testing.T, srv *Server, ref string) (v1.ImageIndex, []string) {
	t.Helper()
	index, digests := buildIndex(t)
	if err := remote.WriteIndex(parseRef(t, srv, ref), index,
		remoteOptions(srv, robotAuth())...); err != nil {
		t.Fatalf("pushing index: %v", err)
	}
	return index, digests
}

// buildIndex builds an index of two platform images and one in-toto attestation manifest,
// and returns it and the digests of the two images.
func buildIndex(t *testing.T) (v1.ImageIndex, []string) {
	t.Helper()
	var adds []mutate.IndexAddendum
	var digests []string
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(128, 1)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, digestOf(t, img))
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	attestation, err := mutate.AppendLayers(empty.Image,
		static.NewLayer([]byte(`{}`), types.MediaType(mediaTypeInToto)))
	if err != nil {
		t.Fatal(err)
	}
	adds = append(adds, mutate.IndexAddendum{Add: attestation, Descriptor: v1.Descriptor{
		Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}})
	index := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		adds...)
	return index, digests
}

func TestIndexAggregation(t *testing.T) {
	clock := newFakeClock()
	index, children := buildIndex(t)
	// The second platform image fails its scan.
	fixture := &Fixture{Rules: []Rule{{Digest: children[1], Status: StatusError}}}
	srv := startServer(t, WithClock(clock), WithFixture(fixture))
	if err := remote.WriteIndex(parseRef(t, srv, "demo/multi:v1"), index,
		remoteOptions(srv, robotAuth())...); err != nil {
		t.Fatalf("pushing index: %v", err)
	}
	client := apiClient(t, srv, robotLogin, robotSecret)

	if err := triggerScan(client, "multi", children[0]); err != nil {
		t.Fatal(err)
	}
	if got := getArtifact(t, client, "multi", "v1", nil).ScanOverview; got != nil {
		t.Errorf("overview while a child has no report = %v, want none", got)
	}
	if err := triggerScan(client, "multi", "v1"); err != nil {
		t.Fatalf("scan index with one child still pending: %v", err)
	}
	running, _ := overviewOf(t, getArtifact(t, client, "multi", "v1", nil))
	if running.ScanStatus != StatusPending {
		t.Errorf("merged status while pending = %s, want Pending", running.ScanStatus)
	}
	clock.Advance(time.Hour)
	merged, _ := overviewOf(t, getArtifact(t, client, "multi", "v1", nil))
	if merged.ScanStatus != StatusSuccess || merged.CompletePercent != 50 {
		t.Errorf("merged = %s %d%%, want Success 50%%", merged.ScanStatus,
			merged.CompletePercent)
	}
	if merged.Summary == nil || merged.Severity != "None" {
		t.Errorf("merged severity %q summary %v, want None with an empty summary",
			merged.Severity, merged.Summary)
	}
	failed, _ := overviewOf(t, getArtifact(t, client, "multi", children[1], nil))
	if failed.ScanStatus != StatusError {
		t.Errorf("child status = %s, want Error", failed.ScanStatus)
	}
	got := getArtifact(t, client, "multi", "v1", nil)
	var platforms []string
	for _, ref := range got.References {
		platforms = append(platforms, ref.Platform.Os+"/"+ref.Platform.Architecture)
	}
	want := []string{"linux/amd64", "linux/arm64", "unknown/unknown"}
	if diff := cmp.Diff(want, platforms); diff != "" {
		t.Errorf("references (-want +got):\n%s", diff)
	}
	if got.Digest != digestOf(t, index) {
		t.Errorf("index digest = %s, want %s", got.Digest, digestOf(t, index))
	}
	if _, ok := got.AdditionLinks["build_history"]; ok {
		t.Error("index has a build_history link, want none")
	}
}

func TestIndexConflictOnlyWhenAllChildrenConflict(t *testing.T) {
	srv := startServer(t, WithClock(newFakeClock()))
	_, children := pushIndex(t, srv, "demo/multi:v1")
	client := apiClient(t, srv, robotLogin, robotSecret)
	if err := triggerScan(client, "multi", children[0]); err != nil {
		t.Fatal(err)
	}
	if err := triggerScan(client, "multi", "v1"); err != nil {
		t.Errorf("index scan with one free child: %v, want 202", err)
	}
	if status := apiStatus(triggerScan(client, "multi", "v1")); status != http.StatusConflict {
		t.Errorf("index scan with all children busy: status = %d, want 409", status)
	}
}

func TestCosignSignatureIsAccessory(t *testing.T) {
	srv := startServer(t)
	img := pushImage(t, srv, "demo/app:v1", robotAuth())
	digest := digestOf(t, img)
	pushCosignSignature(t, srv, "demo/app", digest)
	client := apiClient(t, srv, robotLogin, robotSecret)

	got := getArtifact(t, client, "app", "v1", nil)
	if len(got.Accessories) != 1 {
		t.Fatalf("accessories = %d, want 1", len(got.Accessories))
	}
	accessory := got.Accessories[0]
	if accessory.Type != accessoryTypeCosignSignature ||
		accessory.SubjectArtifactDigest != digest ||
		accessory.SubjectArtifactRepo != "demo/app" {
		t.Errorf("accessory = %+v, want a signature.cosign of %s in demo/app", accessory, digest)
	}
	list, err := client.Artifact.ListArtifacts(context.Background(),
		artifactapi.NewListArtifactsParams().WithProjectName("demo").WithRepositoryName("app"))
	if err != nil {
		t.Fatal(err)
	}
	if list.XTotalCount != 1 || len(list.Payload) != 1 {
		t.Errorf("artifact list has %d (total %d), want only the image", len(list.Payload),
			list.XTotalCount)
	}
	accessories, err := client.Artifact.ListAccessories(context.Background(),
		artifactapi.NewListAccessoriesParams().WithProjectName("demo").
			WithRepositoryName("app").WithReference(digest))
	if err != nil {
		t.Fatal(err)
	}
	if len(accessories.Payload) != 1 || accessories.XTotalCount != 1 {
		t.Errorf("accessories list = %d (total %d), want 1", len(accessories.Payload),
			accessories.XTotalCount)
	}
	if diff := cmp.Diff(map[string]int{"demo/app": 2}, srv.Stats().ManifestPuts); diff != "" {
		t.Errorf("ManifestPuts (-want +got):\n%s", diff)
	}
}

func TestReferrers(t *testing.T) {
	srv := startServer(t)
	img := pushImage(t, srv, "demo/app:v1", robotAuth())
	subject, err := remote.Get(parseRef(t, srv, "demo/app:v1"), remoteOptions(srv, robotAuth())...)
	if err != nil {
		t.Fatal(err)
	}
	sbom := mutate.Subject(mutate.ConfigMediaType(
		mutate.MediaType(empty.Image, types.OCIManifestSchema1),
		"application/vnd.example.sbom"), subject.Descriptor).(v1.Image)
	sbomDigest := digestOf(t, sbom)
	if err := remote.Write(parseRef(t, srv, "demo/app@"+sbomDigest), sbom,
		remoteOptions(srv, robotAuth())...); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		filter string
		want   []string
	}{
		{name: "all", want: []string{sbomDigest}},
		{name: "matching filter", filter: "application/vnd.example.sbom",
			want: []string{sbomDigest}},
		{name: "other filter", filter: "application/vnd.other", want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := remoteOptions(srv, robotAuth())
			if tc.filter != "" {
				opts = append(opts, remote.WithFilter("artifactType", tc.filter))
			}
			digest, err := v1.NewHash(digestOf(t, img))
			if err != nil {
				t.Fatal(err)
			}
			index, err := remote.Referrers(parseRef(t, srv, "demo/app@"+digest.String()).
				Context().Digest(digest.String()), opts...)
			if err != nil {
				t.Fatal(err)
			}
			manifest, err := index.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range manifest.Manifests {
				got = append(got, d.Digest.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("referrers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestArtifactPagination(t *testing.T) {
	srv := startServer(t)
	for _, tag := range []string{"v1", "v2", "v3"} {
		pushImage(t, srv, "demo/app:"+tag, robotAuth())
	}
	client := apiClient(t, srv, robotLogin, robotSecret)
	page, size := int64(2), int64(1)
	got, err := client.Artifact.ListArtifacts(context.Background(),
		artifactapi.NewListArtifactsParams().WithProjectName("demo").WithRepositoryName("app").
			WithPage(&page).WithPageSize(&size))
	if err != nil {
		t.Fatal(err)
	}
	if got.XTotalCount != 3 || len(got.Payload) != 1 {
		t.Errorf("page has %d of total %d, want 1 of 3", len(got.Payload), got.XTotalCount)
	}
	base := "/api/v2.0/projects/demo/repositories/app/artifacts"
	want := "<" + base + "?page=1&page_size=1>; rel=\"prev\" , <" + base +
		"?page=3&page_size=1>; rel=\"next\""
	if got.Link != want {
		t.Errorf("Link = %s, want %s", got.Link, want)
	}
	_, header, _ := rawGet(t, srv, base+"?page_size=10", robotLogin, robotSecret, nil)
	if _, present := header["Link"]; present {
		t.Errorf("single page: Link = %q, want no header", header.Get("Link"))
	}
}

func TestMissingProjectStatusByCaller(t *testing.T) {
	srv := startServer(t)
	tests := []struct {
		name     string
		username string
		password string
		want     int
	}{
		{name: "anonymous", want: http.StatusUnauthorized},
		{name: "wrong password acts as anonymous", username: "dev", password: "wrong",
			want: http.StatusUnauthorized},
		{name: "robot", username: robotLogin, password: robotSecret, want: http.StatusForbidden},
		{name: "user", username: "dev", password: userSecret, want: http.StatusForbidden},
		{name: "admin", username: DefaultAdminUser, password: DefaultAdminPassword,
			want: http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := rawGet(t, srv,
				"/api/v2.0/projects/missing/repositories/app/artifacts/v1", tc.username,
				tc.password, nil)
			if status != tc.want {
				t.Errorf("status = %d, want %d (body %s)", status, tc.want, body)
			}
		})
	}
}

func TestPrivateProjectAnonymousAndPublicRead(t *testing.T) {
	srv := startServer(t, WithProject(Project{Name: "open", Public: true}),
		WithRobot("open", "ci", robotSecret))
	pushImage(t, srv, "demo/app:v1", robotAuth())
	pushImage(t, srv, "open/app:v1", basicAuth(RobotName("open", "ci"), robotSecret))
	tests := []struct {
		name string
		path string
		want int
	}{
		{name: "private project", path: "/api/v2.0/projects/demo/repositories/app/artifacts/v1",
			want: http.StatusUnauthorized},
		{name: "public project", path: "/api/v2.0/projects/open/repositories/app/artifacts/v1",
			want: http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if status, _, _ := rawGet(t, srv, tc.path, "", "", nil); status != tc.want {
				t.Errorf("status = %d, want %d", status, tc.want)
			}
		})
	}
	if _, err := remote.Get(parseRef(t, srv, "open/app:v1"),
		remoteOptions(srv, basicAuth("", ""))...); err != nil {
		t.Errorf("anonymous pull from public project: %v", err)
	}
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") {
		t.Errorf("URL = %s, want http on 127.0.0.1", srv.URL())
	}
}
