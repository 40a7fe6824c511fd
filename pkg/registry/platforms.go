package registry

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// mediaTypeInToto is the layer media type of in-toto attestations, such as the provenance
// and SBOM manifests that BuildKit adds to an index.
const mediaTypeInToto = "application/vnd.in-toto+json"

// platformImages returns the children of idx that run somewhere: image manifests with a
// platform other than unknown/unknown and without an in-toto layer. Harbor v2.13 skips the
// others when it scans an index (src/controller/scan/base_controller.go).
//
// NOTE: children that are indexes themselves are left out; their images are not looked at.
func platformImages(idx v1.ImageIndex) ([]v1.Descriptor, error) {
	manifest, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index manifest: %w", err)
	}
	var platforms []v1.Descriptor
	for _, child := range manifest.Manifests {
		if !child.MediaType.IsImage() || child.Platform == nil ||
			(child.Platform.OS == "unknown" && child.Platform.Architecture == "unknown") {
			continue
		}
		img, err := idx.Image(child.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading child image %s: %w", child.Digest, err)
		}
		attestation, err := hasInTotoLayer(img)
		if err != nil {
			return nil, fmt.Errorf("reading child image %s: %w", child.Digest, err)
		}
		if !attestation {
			platforms = append(platforms, child)
		}
	}
	return platforms, nil
}

func hasInTotoLayer(img v1.Image) (bool, error) {
	manifest, err := img.Manifest()
	if err != nil {
		return false, err
	}
	for _, layer := range manifest.Layers {
		if layer.MediaType == mediaTypeInToto {
			return true, nil
		}
	}
	return false, nil
}
