package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// benchImage is an image in the source registry.
type benchImage struct {
	name   string
	source name.Tag
	digest v1.Hash
	// bytes is the size of its blobs, compressed.
	bytes int64
	blobs int
}

// prepareImages builds the Debian image and the synthetic image and writes them to the
// source registry.
func prepareImages(ctx context.Context, cfg config, source string) ([]benchImage, error) {
	var images []benchImage
	if cfg.rootfs != "" {
		img, err := rootfsImage(cfg.rootfs)
		if err != nil {
			return nil, err
		}
		bi, err := writeSource(ctx, source, "debian", img)
		if err != nil {
			return nil, err
		}
		images = append(images, bi)
	}
	if cfg.syntheticMiB > 0 {
		img, err := syntheticImage(int64(cfg.syntheticMiB)<<20, cfg.syntheticLayers)
		if err != nil {
			return nil, err
		}
		bi, err := writeSource(ctx, source, "synthetic", img)
		if err != nil {
			return nil, err
		}
		images = append(images, bi)
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("no image to push: pass -rootfs or a -synthetic-mib above 0")
	}
	return images, nil
}

// rootfsImage is a linux/amd64 image whose only layer is the gzip-compressed tar file.
func rootfsImage(tarFile string) (v1.Image, error) {
	layer, err := tarball.LayerFromFile(tarFile)
	if err != nil {
		return nil, fmt.Errorf("reading root file system %s: %w", tarFile, err)
	}
	return imageOf(layer)
}

// syntheticImage is an image of layers gzip layers, each a tar of one file of random bytes,
// size bytes in all. The random data comes from a fixed seed, so every run pushes the same
// blobs.
func syntheticImage(size int64, layers int) (v1.Image, error) {
	var all []v1.Layer
	for i := range layers {
		n := size / int64(layers)
		if i == layers-1 {
			n = size - n*int64(layers-1)
		}
		compressed, err := randomLayer(uint64(i), n)
		if err != nil {
			return nil, err
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(compressed)), nil
		})
		if err != nil {
			return nil, err
		}
		all = append(all, layer)
	}
	return imageOf(all...)
}

// randomLayer returns a gzip tar that holds one file of n random bytes from seed.
func randomLayer(seed uint64, n int64) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	hdr := &tar.Header{
		Name: fmt.Sprintf("random-%02d", seed), Mode: 0o644, Size: n,
		ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	random := rand.NewChaCha8([32]byte{byte(seed), 'h', 'a', 'r', 'b', 'o', 'r'})
	if _, err := io.CopyN(tw, random, n); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// imageOf is a linux/amd64 image of the layers, with a fixed creation time.
func imageOf(layers ...v1.Layer) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = []string{"/bin/sh"}
	return mutate.ConfigFile(img, cf)
}

// writeSource pushes img to <source>/<repository>:latest and describes it.
func writeSource(ctx context.Context, source, repository string, img v1.Image) (benchImage, error) {
	tag, err := name.NewTag(source + "/" + repository + ":latest")
	if err != nil {
		return benchImage{}, err
	}
	start := time.Now()
	fmt.Fprintf(os.Stderr, "writing %s to the source registry\n", tag)
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		return benchImage{}, fmt.Errorf("writing %s: %w", tag, err)
	}
	bi := benchImage{name: repository, source: tag}
	if bi.digest, err = img.Digest(); err != nil {
		return benchImage{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return benchImage{}, err
	}
	for _, l := range layers {
		size, err := l.Size()
		if err != nil {
			return benchImage{}, err
		}
		bi.bytes += size
	}
	bi.blobs = len(layers) + 1
	fmt.Fprintf(os.Stderr, "wrote %s: %d blobs, %.1f MiB, in %s\n", tag, bi.blobs,
		float64(bi.bytes)/(1<<20), time.Since(start).Round(time.Millisecond))
	return bi, nil
}
