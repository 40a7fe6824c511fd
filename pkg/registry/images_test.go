package registry

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// randomImage returns an image with the given number of random layers of
// 1 KiB each, with OCI media types.
func randomImage(t *testing.T, layers int) v1.Image {
	t.Helper()
	img, err := random.Image(1024, int64(layers))
	if err != nil {
		t.Fatalf("random.Image: %v", err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON)
}

// dockerImage returns an image with random layers and Docker media types,
// as random.Image builds it.
func dockerImage(t *testing.T, layers int) v1.Image {
	t.Helper()
	img, err := random.Image(1024, int64(layers))
	if err != nil {
		t.Fatalf("random.Image: %v", err)
	}
	return img
}

// platformIndex returns an OCI index of one random image per platform.
func platformIndex(t *testing.T, platforms ...v1.Platform) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, p := range platforms {
		img := randomImage(t, 2)
		config, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		config = config.DeepCopy()
		config.OS, config.Architecture, config.Variant = p.OS, p.Architecture, p.Variant
		if img, err = mutate.ConfigFile(img, config); err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &p},
		})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
}

func mustDigest(t *testing.T, d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	return h
}

// layoutEntry is one manifest to put into a test OCI layout.
type layoutEntry struct {
	image   v1.Image
	index   v1.ImageIndex
	refName string
}

// writeLayout writes the entries into a new OCI layout and returns its
// directory.
func writeLayout(t *testing.T, entries ...layoutEntry) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatalf("layout.Write: %v", err)
	}
	for _, e := range entries {
		var opts []layout.Option
		if e.refName != "" {
			opts = append(opts, layout.WithAnnotations(map[string]string{
				refNameAnnotation: e.refName,
			}))
		}
		if e.index != nil {
			err = p.AppendIndex(e.index, opts...)
		} else {
			err = p.AppendImage(e.image, opts...)
		}
		if err != nil {
			t.Fatalf("appending to layout: %v", err)
		}
	}
	return dir
}

// tarDirectory writes the files under dir into a tar file, gzip-compressed
// when compress is set, and returns the file's path.
func tarDirectory(t *testing.T, dir string, compress bool) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "archive.tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w io.Writer = f
	if compress {
		zw := gzip.NewWriter(f)
		defer zw.Close()
		w = zw
	}
	tw := tar.NewWriter(w)
	defer tw.Close()
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatalf("writing tar of %s: %v", dir, err)
	}
	return out
}

// writeDockerArchive writes images in the docker save format and returns
// the file's path.
func writeDockerArchive(t *testing.T, images map[string]v1.Image) string {
	t.Helper()
	refs := map[name.Tag]v1.Image{}
	for ref, img := range images {
		tag, err := name.NewTag(ref)
		if err != nil {
			t.Fatal(err)
		}
		refs[tag] = img
	}
	out := filepath.Join(t.TempDir(), "image.tar")
	if err := tarball.MultiWriteToFile(out, refs); err != nil {
		t.Fatalf("tarball.MultiWriteToFile: %v", err)
	}
	return out
}

// writeRemote pushes img to ref as test setup.
func writeRemote(t *testing.T, ref string, img v1.Image) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("remote.Write %s: %v", ref, err)
	}
	return r
}

// writeFile writes content to a new file in a temporary directory.
func writeFile(t *testing.T, base, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), base)
	if err := os.WriteFile(p, []byte(content), fs.FileMode(0o644)); err != nil {
		t.Fatal(err)
	}
	return p
}

// gzipCopy writes a gzip-compressed copy of the file at path and returns
// the copy's path.
func gzipCopy(t *testing.T, path string) string {
	t.Helper()
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out := filepath.Join(t.TempDir(), filepath.Base(path)+".gz")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := io.Copy(zw, in); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(zw.Close(), f.Close()); err != nil {
		t.Fatal(err)
	}
	return out
}
