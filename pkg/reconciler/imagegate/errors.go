package imagegate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/registry"
)

// runFailure ends the current attempt of a run with a condition reason.
type runFailure struct {
	reason  string
	message string
	// retryable lets spec.retries start a new attempt. Input errors are not retryable,
	// because a new attempt reads the same input.
	retryable bool
}

func (f *runFailure) Error() string { return f.reason + ": " + f.message }

func invalidSpec(format string, args ...any) *runFailure {
	return &runFailure{reason: ReasonInvalidSpec, message: shorten(fmt.Sprintf(format, args...))}
}

// maxMessageBytes bounds a condition or event message. An invalid param is
// quoted in its error several times over, and the whole CustomRun,
// status included, must stay well below etcd's request limit of 1.5 MiB.
const maxMessageBytes = 2048

// shorten cuts message to at most maxMessageBytes, at a rune boundary,
// and says how much it left out.
func shorten(message string) string {
	if len(message) <= maxMessageBytes {
		return message
	}
	cut := maxMessageBytes
	for cut > 0 && !utf8.RuneStart(message[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d more bytes)", message[:cut], len(message)-cut)
}

// secretMissingError reports a Secret, or a key in it, that does not exist (yet).
type secretMissingError struct {
	namespace, name string
	// key is the missing key, or "" when the whole Secret is missing.
	key string
}

func (e *secretMissingError) Error() string {
	if e.key == "" {
		return fmt.Sprintf("Secret %s/%s not found", e.namespace, e.name)
	}
	return fmt.Sprintf("Secret %s/%s has no key %q", e.namespace, e.name, e.key)
}

// classifyStepError turns an error of a gate phase into a retryable runFailure, or returns
// it unchanged when it is transient, so that the work queue repeats the phase. ownSource
// reports that the source is read with Harbor's own credentials, so that a registry error
// in Resolve is Harbor's rather than the source's.
func classifyStepError(phase gate.Phase, err error, ownSource bool) error {
	if isTransient(err) {
		return fmt.Errorf("phase %s: %w", phaseName(phase), err)
	}
	if errors.Is(err, gate.ErrInvalidOptions) {
		return invalidSpec("%v", err)
	}
	reason := ReasonHarborError
	switch {
	case phase == gate.PhasePush || (!ownSource && isSourceError(phase, err)):
		reason = ReasonPushFailed
	case phase == gate.PhaseSign:
		reason = ReasonSignFailed
	}
	// Harbor refused the request by a project policy, such as an immutable
	// tag rule matching the signature tag; a new attempt meets the same rule.
	retryable := !errors.Is(err, gate.ErrPolicyRefused)
	return &runFailure{reason: reason, message: err.Error(), retryable: retryable}
}

// isTransient reports whether a failed request may succeed when repeated unchanged:
// HTTP 429 and 5xx from Harbor's API or the registry, timeouts, refused or dropped
// connections. An untrusted TLS certificate is not transient.
func isTransient(err error) bool {
	var (
		apiErr      *harbor.APIError
		registryErr *transport.Error
		opErr       *net.OpError
		netErr      net.Error
	)
	switch {
	case errors.Is(err, harbor.ErrUntrustedCertificate) || isCertificateError(err):
		return false
	case errors.As(err, &apiErr):
		return apiErr.Temporary()
	case errors.As(err, &registryErr):
		return registryErr.Temporary()
	case errors.As(err, &opErr):
		return true
	case errors.As(err, &netErr) && netErr.Timeout():
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, context.DeadlineExceeded)
}

// isSourceError reports whether err comes from reading the source image. Resolve opens
// the source before it calls Harbor's API, and it reaches no other registry, so a
// registry error there is the source's.
func isSourceError(phase gate.Phase, err error) bool {
	if phase != "" && phase != gate.PhaseResolve {
		return false
	}
	var registryErr *transport.Error
	return errors.As(err, &registryErr) || errors.Is(err, registry.ErrSourceNotFound) ||
		errors.Is(err, registry.ErrInvalidSource)
}

func isCertificateError(err error) bool {
	var (
		verifyErr    *tls.CertificateVerificationError
		authorityErr x509.UnknownAuthorityError
		hostnameErr  x509.HostnameError
		invalidErr   x509.CertificateInvalidError
	)
	return errors.As(err, &verifyErr) || errors.As(err, &authorityErr) ||
		errors.As(err, &hostnameErr) || errors.As(err, &invalidErr)
}

// phaseName returns the phase's name, with the zero Phase spelt as Resolve.
func phaseName(phase gate.Phase) gate.Phase {
	if phase == "" {
		return gate.PhaseResolve
	}
	return phase
}
