package v1alpha1

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

// Built-in defaults for the optional fields of an ImageGateSpec. The
// ConfigMap named DefaultsConfigName may override them cluster-wide.
const (
	// DefaultSeverity fails an image with a Critical finding, the
	// platform's rule.
	DefaultSeverity = "critical"
	// DefaultOnFail lets a run with a FAIL verdict succeed, so later
	// tasks gate on VERDICT with when expressions.
	DefaultOnFail = FailActionSucceed
	// DefaultGracePeriod is how long to wait for scan on push before
	// requesting a scan.
	DefaultGracePeriod = 10 * time.Second
	// DefaultPollInterval is the first interval between scan reads.
	DefaultPollInterval = 2 * time.Second
	// DefaultMaxPollInterval caps the interval between scan reads.
	DefaultMaxPollInterval = 30 * time.Second
	// DefaultScanTimeout is how long to wait for a final scan status. It
	// equals Harbor's own 30-minute limit for a scan job.
	DefaultScanTimeout = 30 * time.Minute
	// DefaultWebhookFallbackPollInterval is the shortest interval between
	// scan reads while Harbor webhooks wake waiting runs, so that polling
	// only catches a delivery that was lost.
	DefaultWebhookFallbackPollInterval = time.Minute
)

var _ apis.Defaultable = (*ImageGate)(nil)

// SetDefaults fills the empty optional fields of the spec with the
// defaults from ctx (see WithDefaults), or the built-in ones. It never
// sets a Secret name.
func (g *ImageGate) SetDefaults(ctx context.Context) {
	g.Spec.SetDefaults(ctx)
}

// SetDefaults fills the empty optional fields of s with the defaults from
// ctx (see WithDefaults), or the built-in ones. It leaves Secret names,
// the signing key and the CA bundle as they are.
func (s *ImageGateSpec) SetDefaults(ctx context.Context) {
	d := DefaultsFromContext(ctx)
	if s.Harbor.URL == "" {
		s.Harbor.URL = d.HarborURL
	}
	if s.Policy.Severity == "" {
		s.Policy.Severity = d.Severity
	}
	if s.OnFail == "" {
		s.OnFail = d.OnFail
	}
	setDuration(&s.Scan.GracePeriod, d.GracePeriod)
	setDuration(&s.Scan.PollInterval, d.PollInterval)
	setDuration(&s.Scan.MaxPollInterval, d.MaxPollInterval)
	setDuration(&s.Scan.Timeout, d.ScanTimeout)
}

// setDuration points *field at value when *field is nil.
func setDuration(field **metav1.Duration, value time.Duration) {
	if *field == nil {
		*field = &metav1.Duration{Duration: value}
	}
}

// durationOr returns d's duration, or fallback when d is nil.
func durationOr(d *metav1.Duration, fallback time.Duration) time.Duration {
	if d == nil {
		return fallback
	}
	return d.Duration
}
