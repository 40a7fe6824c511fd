package signing

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/signature"
)

// ErrNotVerified is returned, wrapped, when no signature of the digest verifies with the public
// key. cosign's own error stays in the chain, so errors.As distinguishes an unsigned digest
// (*cosign.ErrNoSignaturesFound) from signatures that fail (*cosign.ErrNoMatchingSignatures).
var ErrNotVerified = errors.New("no signature verifies with the public key")

// Verify checks the cosign signatures of digest with verifier and returns how many verify.
// It reads those under the signature tag in FormatTag, the default, and those in the last
// signature referrer of digest in FormatReferrers, falling back to the tag when that fails. A signature counts when its signature is valid for its payload,
// the payload names digest, and the payload carries every annotation set with WithAnnotations.
//
// Verify works offline apart from the registry: it consults no transparency log, certificate
// transparency log or TUF repository, so a signature verifies on the key alone.
func Verify(ctx context.Context, digest name.Digest, verifier signature.Verifier,
	opts ...Option) (int, error) {
	if verifier == nil {
		return 0, fmt.Errorf("verifying %s: %w: the public key verifier is nil",
			digest, ErrInvalidKey)
	}
	if err := checkDigest(digest); err != nil {
		return 0, err
	}
	s, err := makeSettings(opts)
	if err != nil {
		return 0, err
	}
	registryOpts, err := s.registryOptions(ctx, digest.Repository)
	if err != nil {
		return 0, fmt.Errorf("verifying %s: %w", digest, err)
	}
	checkOpts := &cosign.CheckOpts{
		RegistryClientOpts: registryOpts,
		ExperimentalOCI11:  s.format == FormatReferrers,
		SigVerifier:        verifier,
		ClaimVerifier:      cosign.SimpleClaimVerifier,
		Annotations:        toOptional(s.annotations),
		IgnoreTlog:         true,
		IgnoreSCT:          true,
	}
	verified, _, err := cosign.VerifyImageSignatures(ctx, digest, checkOpts)
	var unsigned *cosign.ErrNoSignaturesFound
	var mismatched *cosign.ErrNoMatchingSignatures
	if errors.As(err, &unsigned) || errors.As(err, &mismatched) {
		return 0, fmt.Errorf("verifying signatures of %s: %w: %w", digest, ErrNotVerified, err)
	}
	if err != nil {
		return 0, fmt.Errorf("verifying signatures of %s: %w", digest, err)
	}
	return len(verified), nil
}
