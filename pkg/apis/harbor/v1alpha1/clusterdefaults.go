package v1alpha1

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"
)

// DefaultsConfigName is the name of the ConfigMap, in the controller's
// namespace, that holds cluster-wide defaults for ImageGate specs.
const DefaultsConfigName = "config-harbor-gate"

// Keys of the DefaultsConfigName ConfigMap. An empty or absent value keeps
// the built-in default.
const (
	// DefaultsKeyHarborURL is Harbor's base URL for specs that name none.
	DefaultsKeyHarborURL = "harbor-url"
	// DefaultsKeySeverity is the lowest severity that fails an image.
	DefaultsKeySeverity = "severity"
	// DefaultsKeyGracePeriod is a Go duration, such as 10s.
	DefaultsKeyGracePeriod = "grace-period"
	// DefaultsKeyPollInterval is a Go duration, such as 2s.
	DefaultsKeyPollInterval = "poll-interval"
	// DefaultsKeyMaxPollInterval is a Go duration, such as 30s.
	DefaultsKeyMaxPollInterval = "max-poll-interval"
	// DefaultsKeyScanTimeout is a Go duration, such as 30m.
	DefaultsKeyScanTimeout = "scan-timeout"
	// DefaultsKeyOnFail is Succeed or Fail.
	DefaultsKeyOnFail = "on-fail"
	// DefaultsKeyCoreSinkURL is the URL that receives a CloudEvent per
	// verdict. It is a controller setting, not a spec default.
	DefaultsKeyCoreSinkURL = "core-sink-url"
	// DefaultsKeyWebhookFallbackPollInterval is a Go duration, such as
	// 60s. It is a controller setting, not a spec default.
	DefaultsKeyWebhookFallbackPollInterval = "webhook-fallback-poll-interval"
)

// Defaults are the values SetDefaults writes into empty optional fields.
type Defaults struct {
	// HarborURL is Harbor's base URL. Empty means specs must name one.
	HarborURL string
	// Severity is the lowest severity that fails an image.
	Severity string
	// GracePeriod is the wait for scan on push before requesting a scan.
	GracePeriod time.Duration
	// PollInterval is the first interval between scan reads.
	PollInterval time.Duration
	// MaxPollInterval is the ceiling of the backoff between scan reads;
	// jitter lengthens intervals at the ceiling by up to a fifth.
	MaxPollInterval time.Duration
	// ScanTimeout is how long to wait for a final scan status.
	ScanTimeout time.Duration
	// OnFail is the action a FAIL verdict takes on the CustomRun.
	OnFail FailAction
	// CoreSinkURL is where the controller sends a CloudEvent for each
	// verdict. Empty means no events are sent.
	CoreSinkURL string
	// WebhookFallbackPollInterval is the shortest interval between scan
	// reads while the controller receives Harbor webhooks.
	WebhookFallbackPollInterval time.Duration
}

// BuiltinDefaults returns the defaults that apply when no ConfigMap
// overrides them: no Harbor URL, severity critical, onFail Succeed, scan
// durations 10s, 2s, 30s and 30m, no core sink, and a webhook fallback
// poll interval of 1m.
func BuiltinDefaults() *Defaults {
	return &Defaults{
		Severity:                    DefaultSeverity,
		GracePeriod:                 DefaultGracePeriod,
		PollInterval:                DefaultPollInterval,
		MaxPollInterval:             DefaultMaxPollInterval,
		ScanTimeout:                 DefaultScanTimeout,
		OnFail:                      DefaultOnFail,
		WebhookFallbackPollInterval: DefaultWebhookFallbackPollInterval,
	}
}

// NewDefaultsFromConfigMap parses the data of the DefaultsConfigName
// ConfigMap, as NewDefaultsFromMap does.
func NewDefaultsFromConfigMap(cm *corev1.ConfigMap) (*Defaults, error) {
	d, err := NewDefaultsFromMap(cm.Data)
	if err != nil {
		return nil, fmt.Errorf("parsing ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	return d, nil
}

// NewDefaultsFromMap parses ConfigMap data into Defaults, starting from
// BuiltinDefaults. Keys starting with "_", such as "_example", are
// ignored. It rejects unknown keys, so that a misspelt key fails loudly,
// and values that an ImageGateSpec would reject.
func NewDefaultsFromMap(data map[string]string) (*Defaults, error) {
	d := BuiltinDefaults()
	durations := map[string]*time.Duration{
		DefaultsKeyGracePeriod:     &d.GracePeriod,
		DefaultsKeyPollInterval:    &d.PollInterval,
		DefaultsKeyMaxPollInterval: &d.MaxPollInterval,
		DefaultsKeyScanTimeout:     &d.ScanTimeout,

		DefaultsKeyWebhookFallbackPollInterval: &d.WebhookFallbackPollInterval,
	}
	for _, key := range sortedKeys(data) {
		value := strings.TrimSpace(data[key])
		if strings.HasPrefix(key, "_") || value == "" {
			continue
		}
		switch key {
		case DefaultsKeyHarborURL:
			d.HarborURL = value
		case DefaultsKeySeverity:
			d.Severity = value
		case DefaultsKeyOnFail:
			d.OnFail = FailAction(value)
		case DefaultsKeyCoreSinkURL:
			d.CoreSinkURL = value
		default:
			field, ok := durations[key]
			if !ok {
				return nil, fmt.Errorf("unknown key %q: use one of %s", key,
					strings.Join(defaultsKeys(), ", "))
			}
			parsed, err := time.ParseDuration(value)
			if err != nil {
				return nil, fmt.Errorf("invalid %s %q: use a Go duration such as 30s or 5m",
					key, value)
			}
			*field = parsed
		}
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// validate checks d with the rules of ImageGateSpec, naming the
// ConfigMap key of each invalid value.
func (d *Defaults) validate() error {
	checks := []struct {
		key string
		err *apis.FieldError
	}{
		{DefaultsKeySeverity, validateSeverity(d.Severity)},
		{DefaultsKeyOnFail, validateOnFail(d.OnFail)},
		{DefaultsKeyGracePeriod, validatePositive(d.GracePeriod)},
		{DefaultsKeyPollInterval, validatePositive(d.PollInterval)},
		{DefaultsKeyMaxPollInterval, validatePositive(d.MaxPollInterval)},
		{DefaultsKeyScanTimeout, validatePositive(d.ScanTimeout)},
		{DefaultsKeyWebhookFallbackPollInterval,
			validatePositive(d.WebhookFallbackPollInterval)},
	}
	urls := []struct{ key, value string }{
		{DefaultsKeyHarborURL, d.HarborURL},
		{DefaultsKeyCoreSinkURL, d.CoreSinkURL},
	}
	for _, u := range urls {
		if u.value != "" {
			checks = append(checks, struct {
				key string
				err *apis.FieldError
			}{u.key, validateHTTPURL(u.value)})
		}
	}
	for _, c := range checks {
		if c.err != nil {
			return fmt.Errorf("%s: %s", c.key, flatMessage(c.err))
		}
	}
	if d.PollInterval > d.MaxPollInterval {
		return fmt.Errorf("invalid %s %s: it is longer than %s %s, so shorten it or raise %s",
			DefaultsKeyPollInterval, d.PollInterval, DefaultsKeyMaxPollInterval,
			d.MaxPollInterval, DefaultsKeyMaxPollInterval)
	}
	return nil
}

// flatMessage returns the message and details of a FieldError whose path
// is empty, on one line.
func flatMessage(fe *apis.FieldError) string {
	if fe.Details == "" {
		return fe.Message
	}
	return fe.Message + ": " + fe.Details
}

// defaultsKeys lists the keys NewDefaultsFromMap accepts, sorted.
func defaultsKeys() []string {
	keys := []string{
		DefaultsKeyHarborURL, DefaultsKeySeverity, DefaultsKeyGracePeriod,
		DefaultsKeyPollInterval, DefaultsKeyMaxPollInterval, DefaultsKeyScanTimeout,
		DefaultsKeyOnFail, DefaultsKeyCoreSinkURL, DefaultsKeyWebhookFallbackPollInterval,
	}
	sort.Strings(keys)
	return keys
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type defaultsKey struct{}

// WithDefaults returns a copy of ctx that carries d, so that SetDefaults
// and Validate use d in place of BuiltinDefaults.
func WithDefaults(ctx context.Context, d *Defaults) context.Context {
	return context.WithValue(ctx, defaultsKey{}, d)
}

// DefaultsFromContext returns the Defaults stored by WithDefaults, or
// BuiltinDefaults when ctx carries none.
func DefaultsFromContext(ctx context.Context) *Defaults {
	if d, ok := ctx.Value(defaultsKey{}).(*Defaults); ok && d != nil {
		return d
	}
	return BuiltinDefaults()
}
