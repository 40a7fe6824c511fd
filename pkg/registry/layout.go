package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// refNameAnnotation names an image in an OCI layout's index.json.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// openLayout opens the manifest that selector picks from the OCI layout in
// dir. The selector is a digest, a ref.name annotation, or empty when the
// layout's index.json lists exactly one manifest.
func openLayout(dir, selector string) (*Source, error) {
	return openLayoutAs(KindOCILayout, dir, dir, selector)
}

// openLayoutAs opens the layout in dir for a source of the given kind.
// Error messages name displayPath, which differs from dir for an extracted
// archive.
func openLayoutAs(kind Kind, dir, displayPath, selector string) (*Source, error) {
	if info, err := os.Stat(dir); err == nil && !info.IsDir() {
		return nil, fmt.Errorf("%w: %s is a file, not an OCI image layout directory; "+
			"for a tarball use oci-archive:FILE or docker-archive:FILE", ErrInvalidSource,
			displayPath)
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s is not an OCI image layout (it has no oci-layout file)",
				ErrInvalidSource, displayPath)
		}
		return nil, fmt.Errorf("reading OCI layout %s: %w", displayPath, err)
	}

	index, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: reading index.json of OCI layout %s: %w",
			ErrInvalidSource, displayPath, err)
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%w: parsing index.json of OCI layout %s: %w",
			ErrInvalidSource, displayPath, err)
	}

	desc, err := selectManifest(kind, displayPath, manifest.Manifests, selector)
	if err != nil {
		return nil, err
	}

	var a artifact
	switch {
	case desc.MediaType.IsIndex():
		a, err = index.ImageIndex(desc.Digest)
	case desc.MediaType.IsImage():
		a, err = index.Image(desc.Digest)
	default:
		return nil, fmt.Errorf("%w %q of %s in %s: push an image or an index",
			ErrUnsupportedMediaType, desc.MediaType, desc.Digest, displayPath)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s from OCI layout %s: %w", desc.Digest, displayPath, err)
	}
	return newSource(kind, a, &desc.Digest)
}

func selectManifest(
	kind Kind, displayPath string, descs []v1.Descriptor, selector string,
) (v1.Descriptor, error) {
	if selector == "" {
		switch len(descs) {
		case 1:
			return descs[0], nil
		case 0:
			return v1.Descriptor{}, fmt.Errorf("%w: OCI layout %s lists no manifest in index.json",
				ErrInvalidSource, displayPath)
		}
		return v1.Descriptor{}, fmt.Errorf("%w: %s lists %d manifests (%s); select one with "+
			"%s:%s@sha256:<hex> or %s:%s:<%s>", ErrAmbiguousSource, displayPath, len(descs),
			describeManifests(descs), kind, displayPath, kind, displayPath, refNameAnnotation)
	}
	if h, err := v1.NewHash(selector); err == nil {
		for _, d := range descs {
			if d.Digest == h {
				return d, nil
			}
		}
	}
	for _, d := range descs {
		if d.Annotations[refNameAnnotation] == selector {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("%w: %s lists no manifest with digest or %s %q; it lists %s",
		ErrSourceNotFound, displayPath, refNameAnnotation, selector, describeManifests(descs))
}

// describeManifests lists the digests and ref.name annotations of descs.
func describeManifests(descs []v1.Descriptor) string {
	parts := make([]string, 0, len(descs))
	for _, d := range descs {
		part := d.Digest.String()
		if n := d.Annotations[refNameAnnotation]; n != "" {
			part += " (" + n + ")"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}
