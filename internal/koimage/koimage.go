// Package koimage builds an image from a static Go binary the way ko lays
// one out: an empty base, one layer with the binary at /ko-app/NAME, and
// that path as the entrypoint. The demo and the end-to-end tests publish
// such images, so they push a real, runnable image without a Docker engine.
package koimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// appDir is where ko puts the binary inside the image.
const appDir = "/ko-app"

// Build returns a linux/amd64 OCI image holding the binary at
// /ko-app/<base name of binaryPath>, with labels set on the config. The
// image is reproducible: the same binary and labels give the same digest.
func Build(binaryPath string, labels map[string]string) (v1.Image, error) {
	data, err := os.ReadFile(binaryPath)
	if err != nil {
		return nil, fmt.Errorf("reading the binary: %w", err)
	}
	target := path.Join(appDir, filepath.Base(binaryPath))
	layer, err := binaryLayer(target, data)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{CreatedBy: "harbor-gate koimage", Created: v1.Time{Time: time.Unix(0, 0)}},
	})
	if err != nil {
		return nil, fmt.Errorf("adding the binary layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.Entrypoint = []string{target}
	cfg.Config.Env = []string{"PATH=" + appDir, "KO_DATA_PATH=/var/run/ko"}
	cfg.Config.User = "65532"
	cfg.Config.Labels = labels
	return mutate.ConfigFile(img, cfg)
}

func binaryLayer(target string, data []byte) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := &tar.Header{Name: appDir[1:] + "/", Typeflag: tar.TypeDir, Mode: 0o555,
		ModTime: time.Unix(0, 0)}
	file := &tar.Header{Name: target[1:], Typeflag: tar.TypeReg, Mode: 0o555,
		Size: int64(len(data)), ModTime: time.Unix(0, 0)}
	if err := tw.WriteHeader(dir); err != nil {
		return nil, err
	}
	if err := tw.WriteHeader(file); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// WriteLayout writes img as the only image of a new OCI image layout at
// dir.
func WriteLayout(dir string, img v1.Image) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("creating the OCI layout %s: %w", dir, err)
	}
	if err := p.AppendImage(img); err != nil {
		return fmt.Errorf("writing the image into %s: %w", dir, err)
	}
	return nil
}
