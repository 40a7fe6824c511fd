package gate

import (
	"errors"
	"fmt"

	"github.com/druppie/harbor-gate/pkg/registry"
)

// ErrPolicyRefused marks a run that Harbor stopped with a project policy: vulnerability
// prevention or cosign content trust on a pull, or an immutable tag rule on a push.
// Repeating the run unchanged fails the same way. Errors wrapping it also wrap the
// *registry.PolicyError with Harbor's code and message.
var ErrPolicyRefused = registry.ErrPolicyRefused

// ErrSignatureTagImmutable marks a signature push that an immutable tag rule refused.
// Cosign's tag scheme rewrites the tag sha256-<hex>.sig for every signature of a digest,
// and Harbor exempts no tag from its rules, so a rule matching that tag lets only the
// first signature through. It wraps ErrPolicyRefused.
var ErrSignatureTagImmutable = fmt.Errorf("signature tag is immutable: %w", ErrPolicyRefused)

// policyRefusal returns err with ErrPolicyRefused in its chain when Harbor's registry
// refused a request with HTTP 412, and err unchanged otherwise.
func policyRefusal(err error) error {
	return registry.ClassifyError(err)
}

// signatureRefusal wraps an error of signing digest. An immutable tag rule gets
// ErrSignatureTagImmutable and a message with the fix.
func (g *Gate) signatureRefusal(digest string, err error) error {
	err = policyRefusal(err)
	var refusal *registry.PolicyError
	if !errors.As(err, &refusal) || !refusal.Immutable() {
		return fmt.Errorf("signing %s: %w", digest, err)
	}
	return fmt.Errorf("signing %s: %w: an immutable tag rule of Harbor project %q covers "+
		"the signature tag (Harbor: %q); exclude sha256-*.sig from the rule or use the "+
		"referrers signature format: %w", digest, ErrSignatureTagImmutable,
		g.opts.Target.Project, refusal.Message, err)
}
