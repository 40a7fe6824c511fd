package signing

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	cosignremote "github.com/sigstore/cosign/v2/pkg/cosign/remote"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/empty"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"

	"github.com/druppie/harbor-gate/pkg/registry"
)

// ArtifactTypeSignature is the artifactType of a cosign signature stored as an OCI 1.1
// referrer. Harbor v2.13 records a manifest of this type with a subject as a
// signature.cosign accessory of the subject.
const ArtifactTypeSignature = "application/vnd.dev.cosign.artifact.sig.v1+json"

// signReferrer stores sig as an OCI 1.1 referrer of digest: an untagged manifest whose
// subject is the image and whose artifactType is ArtifactTypeSignature. When a referrer
// of digest already holds a signature of the same payload by key, it pushes nothing.
//
// NOTE: cosign's writer prints one line to standard error for every signature it pushes
// ("Uploading signature for ..."), which this package cannot turn off.
func signReferrer(ctx context.Context, digest name.Digest, key *Key, sig oci.Signature,
	s *settings, registryOpts []ociremote.Option) (*Signature, error) {
	existing, err := findReferrerDuplicate(digest, sig, key, registryOpts)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return describeReferrer(digest, existing.sig, existing.digest, false)
	}
	if s.rekorURL != "" {
		if sig, err = uploadToRekor(ctx, s, sig, key); err != nil {
			return nil, fmt.Errorf("uploading signature of %s to %s: %w", digest, s.rekorURL, err)
		}
	}
	// The referrer manifest holds only the new signature.
	sigs, err := mutate.AppendSignatures(empty.Signatures(), false, sig)
	if err != nil {
		return nil, fmt.Errorf("attaching signature to %s: %w", digest, err)
	}
	signed := pinnedSignatures{signatures: sigs}
	if err := ociremote.WriteSignaturesExperimentalOCI(digest, signed, registryOpts...); err != nil {
		return nil, fmt.Errorf("pushing signature of %s as a referrer: %w", digest,
			registry.ClassifyError(err))
	}
	written, err := findReferrerDuplicate(digest, sig, key, registryOpts)
	if err != nil {
		return nil, err
	}
	if written == nil {
		return nil, fmt.Errorf("pushing signature of %s as a referrer: the registry lists no "+
			"referrer of type %s with it afterwards", digest, ArtifactTypeSignature)
	}
	return describeReferrer(digest, written.sig, written.digest, true)
}

// referrerMatch is a signature found in a referrer manifest.
type referrerMatch struct {
	sig    oci.Signature
	digest name.Digest
}

// findReferrerDuplicate returns the signature among the referrers of digest that cosign's
// duplicate detector matches with sig, or nil.
func findReferrerDuplicate(digest name.Digest, sig oci.Signature, key *Key,
	registryOpts []ociremote.Option) (*referrerMatch, error) {
	index, err := ociremote.Referrers(digest, ArtifactTypeSignature, registryOpts...)
	if err != nil {
		return nil, fmt.Errorf("listing referrers of %s: %w", digest, registry.ClassifyError(err))
	}
	detector := cosignremote.NewDupeDetector(key.signer)
	for _, descriptor := range index.Manifests {
		ref := digest.Context().Digest(descriptor.Digest.String())
		sigs, err := ociremote.Signatures(ref, registryOpts...)
		if err != nil {
			return nil, fmt.Errorf("reading signature referrer %s: %w", ref, err)
		}
		match, err := detector.Find(sigs, sig)
		if err != nil {
			return nil, fmt.Errorf("reading signature referrer %s: %w", ref, err)
		}
		if match != nil {
			return &referrerMatch{sig: match, digest: ref}, nil
		}
	}
	return nil, nil
}

func describeReferrer(digest name.Digest, sig oci.Signature, manifest name.Digest,
	written bool) (*Signature, error) {
	out, err := newSignature(digest, sig, written)
	if err != nil {
		return nil, err
	}
	out.Format = FormatReferrers
	out.Digest = manifest
	return out, nil
}
