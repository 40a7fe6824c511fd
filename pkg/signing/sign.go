package signing

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	cosignremote "github.com/sigstore/cosign/v2/pkg/cosign/remote"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/druppie/harbor-gate/pkg/registry"
)

// ErrImageNotFound is returned, wrapped, when the registry has no manifest for the digest to
// sign.
var ErrImageNotFound = errors.New("image not found")

// Signature describes a cosign signature of one image digest.
type Signature struct {
	// Format is the storage form of the signature.
	Format Format
	// Ref is the tag of the signature manifest, <repository>:sha256-<hex>.sig, in
	// FormatTag. It is the zero name.Tag in FormatReferrers, which uses no tag.
	Ref name.Tag
	// Digest is the digest of the signature manifest after Sign returned: in FormatTag the
	// manifest under Ref, in FormatReferrers the referrer manifest that holds the signature.
	// It is the digest of the manifest Sign pushed, or of the one already there when Written
	// is false.
	Digest name.Digest
	// Payload is the signed simple-signing payload (JSON naming the image digest).
	Payload []byte
	// Base64Signature is the signature over Payload, base64-encoded, as stored in the layer
	// annotation dev.cosignproject.cosign/signature.
	Base64Signature string
	// Written reports whether Sign pushed a new signature manifest. It is false when the
	// registry already held a signature of the same payload by the same key.
	Written bool
}

// Sign signs the image at digest with key and pushes the signature to the image's repository.
// In FormatTag, the default, it stores the signature under the tag sha256-<hex>.sig. When
// that tag already holds a signature of the same payload by the same key, Sign pushes
// nothing and returns the existing one with Written false. A new signature is appended to
// the signatures already under the tag. In FormatReferrers (WithFormat) it pushes a
// referrer manifest with the signature, unless a referrer already holds a matching one.
//
// Sign reads the image manifest first and returns ErrImageNotFound when it is missing. It
// uploads to a transparency log only with WithTransparencyLog. When Harbor refuses the push
// with HTTP 412, for example because an immutable tag rule covers the signature tag, the
// error wraps a *registry.PolicyError.
//
// For an image index Sign signs the index digest only. Harbor 2.13 does not pass an index
// signature on to its child manifests, so its cosign content-trust policy rejects pulls of
// unsigned children: sign each child digest as well where that policy is on.
func Sign(ctx context.Context, digest name.Digest, key *Key, opts ...Option) (*Signature, error) {
	if key == nil {
		return nil, fmt.Errorf("signing %s: %w: the key is nil", digest, ErrInvalidKey)
	}
	if err := checkDigest(digest); err != nil {
		return nil, err
	}
	s, err := makeSettings(opts)
	if err != nil {
		return nil, err
	}

	registryOpts, err := s.registryOptions(ctx, digest.Repository)
	if err != nil {
		return nil, fmt.Errorf("signing %s: %w", digest, err)
	}
	entity, err := fetchEntity(digest, registryOpts)
	if err != nil {
		return nil, err
	}
	sig, err := signPayload(ctx, digest, key, s.annotations)
	if err != nil {
		return nil, err
	}
	if s.format == FormatReferrers {
		return signReferrer(ctx, digest, key, sig, s, registryOpts)
	}

	match, existing, err := findDuplicate(entity, sig, key)
	if err != nil {
		return nil, fmt.Errorf("reading signatures of %s: %w", digest, err)
	}
	if match != nil && !needsLogEntry(match, s.rekorURL) {
		return describe(digest, match, existing, false, registryOpts)
	}

	if s.rekorURL != "" {
		if sig, err = uploadToRekor(ctx, s, sig, key); err != nil {
			return nil, fmt.Errorf("uploading signature of %s to %s: %w", digest, s.rekorURL, err)
		}
	}
	written, err := writeSignature(digest, entity, sig, registryOpts)
	if err != nil {
		return nil, err
	}
	return describe(digest, sig, written, true, registryOpts)
}

// needsLogEntry reports whether an existing signature lacks the
// transparency log entry that a signing with rekorURL set must provide.
func needsLogEntry(sig oci.Signature, rekorURL string) bool {
	if rekorURL == "" {
		return false
	}
	bundle, err := sig.Bundle()
	return err != nil || bundle == nil
}

// checkDigest rejects a zero or malformed name.Digest, which the type alone cannot rule out.
func checkDigest(digest name.Digest) error {
	if _, err := v1.NewHash(digest.DigestStr()); err != nil {
		return fmt.Errorf("invalid image digest %q: %w; pass the digest the registry returned "+
			"for the push, as in registry.example/project/app@sha256:<hex>", digest.String(), err)
	}
	return nil
}

func fetchEntity(digest name.Digest, registryOpts []ociremote.Option) (oci.SignedEntity, error) {
	entity, err := ociremote.SignedEntity(digest, registryOpts...)
	var notFound *ociremote.EntityNotFoundError
	if errors.As(err, &notFound) {
		return nil, fmt.Errorf("reading %s: %w; push the image before signing it: %w",
			digest, ErrImageNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", digest, registry.ClassifyError(err))
	}
	return entity, nil
}

// signPayload signs the simple-signing payload that names digest and wraps it as a cosign
// signature layer.
func signPayload(ctx context.Context, digest name.Digest, key *Key,
	annotations map[string]string) (oci.Signature, error) {
	body, err := payload.Cosign{Image: digest, Annotations: toOptional(annotations)}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding signature payload for %s: %w", digest, err)
	}
	raw, err := key.signer.SignMessage(bytes.NewReader(body), options.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("signing payload for %s: %w", digest, err)
	}
	sig, err := static.NewSignature(body, base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		return nil, fmt.Errorf("creating signature layer for %s: %w", digest, err)
	}
	return sig, nil
}

func toOptional(annotations map[string]string) map[string]interface{} {
	if len(annotations) == 0 {
		return nil
	}
	optional := make(map[string]interface{}, len(annotations))
	for k, v := range annotations {
		optional[k] = v
	}
	return optional
}

// findDuplicate returns the signature under the entity's signature tag that cosign's duplicate
// detector matches with sig (same payload and annotations, verified by key), together with all
// signatures under that tag. ECDSA signatures differ on every call, so the detector verifies
// instead of comparing bytes.
func findDuplicate(entity oci.SignedEntity, sig oci.Signature,
	key *Key) (oci.Signature, oci.Signatures, error) {
	existing, err := entity.Signatures()
	if err != nil {
		return nil, nil, err
	}
	match, err := cosignremote.NewDupeDetector(key.signer).Find(existing, sig)
	if err != nil {
		return nil, nil, err
	}
	return match, existing, nil
}

// writeSignature appends sig to the signatures of entity, pushes them under the signature tag
// and returns what it pushed.
func writeSignature(digest name.Digest, entity oci.SignedEntity, sig oci.Signature,
	registryOpts []ociremote.Option) (oci.Signatures, error) {
	signed, err := mutate.AttachSignatureToEntity(entity, sig)
	if err != nil {
		return nil, fmt.Errorf("attaching signature to %s: %w", digest, err)
	}
	// Each call of Signatures on the attached entity reads the signature tag again, so after
	// the push it would append sig a second time. Reading it once keeps the pushed manifest.
	sigs, err := signed.Signatures()
	if err != nil {
		return nil, fmt.Errorf("reading signatures of %s: %w", digest, err)
	}
	pinned := pinnedSignatures{SignedEntity: signed, signatures: sigs}
	if err := ociremote.WriteSignatures(digest.Repository, pinned, registryOpts...); err != nil {
		return nil, fmt.Errorf("pushing signature of %s: %w", digest, registry.ClassifyError(err))
	}
	return sigs, nil
}

// pinnedSignatures is a signed entity whose signatures are fixed in memory.
type pinnedSignatures struct {
	oci.SignedEntity
	signatures oci.Signatures
}

// Signatures returns the fixed signatures.
func (p pinnedSignatures) Signatures() (oci.Signatures, error) {
	return p.signatures, nil
}

// describe builds the Signature that Sign returns for sig, stored in the manifest sigs.
func describe(digest name.Digest, sig oci.Signature, sigs oci.Signatures, written bool,
	registryOpts []ociremote.Option) (*Signature, error) {
	ref, err := ociremote.SignatureTag(digest, registryOpts...)
	if err != nil {
		return nil, fmt.Errorf("naming signature tag for %s: %w", digest, err)
	}
	manifestDigest, err := sigs.Digest()
	if err != nil {
		return nil, fmt.Errorf("computing manifest digest of %s: %w", ref, err)
	}
	out, err := newSignature(digest, sig, written)
	if err != nil {
		return nil, err
	}
	out.Format = FormatTag
	out.Ref = ref
	out.Digest = ref.Context().Digest(manifestDigest.String())
	return out, nil
}

// newSignature returns a Signature with the payload and signature of sig,
// made for digest.
func newSignature(digest name.Digest, sig oci.Signature, written bool) (*Signature, error) {
	body, err := sig.Payload()
	if err != nil {
		return nil, fmt.Errorf("reading signature payload of %s: %w", digest, err)
	}
	b64, err := sig.Base64Signature()
	if err != nil {
		return nil, fmt.Errorf("reading signature of %s: %w", digest, err)
	}
	return &Signature{Payload: body, Base64Signature: b64, Written: written}, nil
}
