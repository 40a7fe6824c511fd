package registry

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// openedSource is what a test compares after Open.
type openedSource struct {
	Kind      Kind
	Digest    v1.Hash
	MediaType types.MediaType
}

func TestOpenDetectsSources(t *testing.T) {
	reg := newTestRegistry(t)
	img := randomImage(t, 2)
	other := randomImage(t, 1)
	idx := platformIndex(t, v1.Platform{OS: "linux", Architecture: "amd64"})
	docker := dockerImage(t, 2)
	imgDigest, otherDigest := mustDigest(t, img), mustDigest(t, other)
	single := writeLayout(t, layoutEntry{image: img})
	several := writeLayout(t, layoutEntry{image: img, refName: "v1"},
		layoutEntry{image: other, refName: "v2"})
	indexLayout := writeLayout(t, layoutEntry{index: idx})
	dockerTar := writeDockerArchive(t, map[string]v1.Image{"example.test/app:1": docker})
	twoImages := writeDockerArchive(t, map[string]v1.Image{
		"example.test/app:1": docker, "example.test/app:2": dockerImage(t, 1),
	})
	writeRemote(t, reg.Host+"/src/app:v1", img)
	// Recent docker save output is an OCI layout with a manifest.json too.
	bothFormats := writeLayout(t, layoutEntry{image: img})
	dockerManifest := filepath.Join(bothFormats, "manifest.json")
	if err := os.WriteFile(dockerManifest, []byte("[]"), 0o644); err != nil {
		t.Fatal(err)
	}

	oci := func(d v1.Hash) openedSource {
		return openedSource{KindOCILayout, d, types.OCIManifestSchema1}
	}
	archive := func(d v1.Hash) openedSource {
		return openedSource{KindOCIArchive, d, types.OCIManifestSchema1}
	}
	dockerWant := openedSource{KindDockerArchive, mustDigest(t, docker), types.DockerManifestSchema2}
	tests := []struct {
		name string
		src  string
		want openedSource
	}{
		{"registry by tag", reg.Host + "/src/app:v1",
			openedSource{KindRegistry, imgDigest, types.OCIManifestSchema1}},
		{"registry by digest", reg.Host + "/src/app@" + imgDigest.String(),
			openedSource{KindRegistry, imgDigest, types.OCIManifestSchema1}},
		{"registry with docker prefix", "docker://" + reg.Host + "/src/app:v1",
			openedSource{KindRegistry, imgDigest, types.OCIManifestSchema1}},
		{"layout directory", single, oci(imgDigest)},
		{"layout with prefix", "oci:" + single, oci(imgDigest)},
		{"layout index", indexLayout,
			openedSource{KindOCILayout, mustDigest(t, idx), types.OCIImageIndex}},
		{"layout selected by digest", "oci:" + several + "@" + otherDigest.String(), oci(otherDigest)},
		{"layout selected by ref name", "oci:" + several + ":v2", oci(otherDigest)},
		{"oci archive detected", tarDirectory(t, single, false), archive(imgDigest)},
		{"oci archive gzip", "oci-archive:" + tarDirectory(t, single, true), archive(imgDigest)},
		{"oci archive selected", "oci-archive:" + tarDirectory(t, several, false) + ":v1",
			archive(imgDigest)},
		{"docker archive detected", dockerTar, dockerWant},
		{"docker archive with prefix", "docker-archive:" + dockerTar, dockerWant},
		{"docker archive gzip", gzipCopy(t, dockerTar), dockerWant},
		{"layout and manifest.json", tarDirectory(t, bothFormats, false), archive(imgDigest)},
		{"docker archive selected", "docker-archive:" + twoImages + ":example.test/app:1",
			dockerWant},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.src)
			if err != nil {
				t.Fatalf("Open(%q): %v", tc.src, err)
			}
			defer s.Close()
			got := openedSource{s.Kind(), s.Digest(), s.MediaType()}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Open(%q) (-want +got):\n%s", tc.src, diff)
			}
			if s.String() != tc.src {
				t.Errorf("String() = %q, want %q", s.String(), tc.src)
			}
		})
	}
}

func TestOpenDockerArchiveKeepsDockerDigest(t *testing.T) {
	// go-containerregistry rebuilds the manifest of a docker save tarball.
	// For an image with Docker media types and gzip layers, as kaniko's
	// --tar-path writes, the rebuilt manifest has the original digest.
	img := dockerImage(t, 3)
	path := writeDockerArchive(t, map[string]v1.Image{"example.test/app:1": img})
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if want := mustDigest(t, img); s.Digest() != want {
		t.Errorf("Digest() = %s, want the saved image's digest %s", s.Digest(), want)
	}
}

func TestOCIArchiveCloseRemovesExtraction(t *testing.T) {
	archive := tarDirectory(t, writeLayout(t, layoutEntry{image: randomImage(t, 1)}), false)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	s, err := Open(t.Context(), archive)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(tmp)
	if len(entries) != 1 {
		t.Fatalf("TMPDIR has %d entries after Open, want the extracted layout", len(entries))
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	entries, _ = os.ReadDir(tmp)
	if len(entries) != 0 {
		t.Errorf("TMPDIR still has %v after Close", entries[0].Name())
	}
}

func TestOpenRejectsBadSources(t *testing.T) {
	notLayout := t.TempDir()
	several := writeLayout(t, layoutEntry{image: randomImage(t, 1), refName: "v1"},
		layoutEntry{image: randomImage(t, 1), refName: "v2"})
	twoImages := writeDockerArchive(t, map[string]v1.Image{
		"example.test/app:1": dockerImage(t, 1), "example.test/app:2": dockerImage(t, 1),
	})
	missing := filepath.Join(t.TempDir(), "missing")
	textFile := writeFile(t, "notes.txt", "this is not a tar archive, it is plain text\n")
	emptyTar := tarDirectory(t, t.TempDir(), false)

	tests := []struct {
		name    string
		src     string
		wantErr error
		// wantText are substrings the message must contain.
		wantText []string
	}{
		{"empty string", "", ErrInvalidSource, []string{"accepted forms"}},
		{"missing absolute path", missing, ErrSourceNotFound, []string{missing, "does not exist"}},
		{"missing relative tarball", "./build/image.tar", ErrSourceNotFound,
			[]string{"./build/image.tar", "accepted forms"}},
		{"missing tarball name", "image.tar", ErrSourceNotFound, []string{"image.tar"}},
		{"missing oci directory", "oci:" + missing, ErrSourceNotFound, []string{missing}},
		{"missing docker archive", "docker-archive:" + missing + ".tar", ErrSourceNotFound,
			[]string{missing + ".tar"}},
		{"prefix without path", "oci-archive:", ErrInvalidSource, []string{"oci-archive:"}},
		{"malformed reference", "Example.test/UPPER/app::tag", ErrInvalidSource,
			[]string{"UPPER", "accepted forms"}},
		{"directory without oci-layout", notLayout, ErrInvalidSource,
			[]string{notLayout, "no oci-layout file"}},
		{"file that is no tar", textFile, ErrInvalidSource, []string{textFile, "tar archive"}},
		{"oci prefix on a file", "oci:" + textFile, ErrInvalidSource,
			[]string{textFile, "not an OCI image layout directory", "oci-archive:FILE"}},
		{"tar without image", emptyTar, ErrInvalidSource, []string{"neither an oci-layout"}},
		{"layout with several manifests", several, ErrAmbiguousSource,
			[]string{"2 manifests", "(v1)", "(v2)", "oci:" + several + "@sha256:<hex>"}},
		{"layout with unknown ref name", "oci:" + several + ":v3", ErrSourceNotFound,
			[]string{`"v3"`, "(v1)"}},
		{"docker archive with several images", twoImages, ErrAmbiguousSource,
			[]string{"2 images", "example.test/app:1", "docker-archive:" + twoImages}},
		{"docker archive with unknown tag", "docker-archive:" + twoImages + ":example.test/app:9",
			ErrSourceNotFound, []string{"example.test/app:9"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.src)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tc.src)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Open(%q) error = %v, want %v", tc.src, err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.src) {
				t.Errorf("error %q does not name the source %q", err, tc.src)
			}
			for _, text := range tc.wantText {
				if !strings.Contains(err.Error(), text) {
					t.Errorf("error %q does not contain %q", err, text)
				}
			}
		})
	}
}

func TestParseSourceSplitsSelectors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "with:colon")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, "image.tar", "")
	tests := []struct {
		name string
		src  string
		want location
	}{
		{"path with colon", "oci:" + dir, location{KindOCILayout, dir, ""}},
		{"path with colon and name", "oci:" + dir + ":v1", location{KindOCILayout, dir, "v1"}},
		{"digest selector", "oci:" + dir + "@sha256:ab",
			location{KindOCILayout, dir, "sha256:ab"}},
		{"docker tag with port", "docker-archive:" + file + ":host:5000/app:1",
			location{KindDockerArchive, file, "host:5000/app:1"}},
		{"plain reference", "example.test/app:1", location{KindRegistry, "example.test/app:1", ""}},
		{"docker prefix", "docker://example.test/app:1",
			location{KindRegistry, "example.test/app:1", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSource(tc.src)
			if err != nil {
				t.Fatalf("parseSource(%q): %v", tc.src, err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(location{})); diff != "" {
				t.Errorf("parseSource(%q) (-want +got):\n%s", tc.src, diff)
			}
		})
	}
}
