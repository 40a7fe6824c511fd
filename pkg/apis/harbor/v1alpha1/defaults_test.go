package v1alpha1

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

func TestSetDefaults(t *testing.T) {
	clusterWide := &Defaults{
		HarborURL:       "https://harbor.cluster.local",
		Severity:        "high",
		GracePeriod:     time.Second,
		PollInterval:    3 * time.Second,
		MaxPollInterval: time.Minute,
		ScanTimeout:     time.Hour,
		OnFail:          FailActionFail,
	}
	tests := []struct {
		name string
		ctx  context.Context
		in   ImageGateSpec
		want ImageGateSpec
	}{{
		name: "built-in defaults",
		ctx:  context.Background(),
		in:   ImageGateSpec{Harbor: HarborSpec{URL: "https://registry.druppie.local"}},
		want: ImageGateSpec{
			Harbor: HarborSpec{URL: "https://registry.druppie.local"},
			Policy: PolicySpec{Severity: "critical"},
			Scan: ScanSpec{
				GracePeriod:     duration(10 * time.Second),
				PollInterval:    duration(2 * time.Second),
				MaxPollInterval: duration(30 * time.Second),
				Timeout:         duration(30 * time.Minute),
			},
			OnFail: FailActionSucceed,
		},
	}, {
		name: "cluster-wide defaults",
		ctx:  WithDefaults(context.Background(), clusterWide),
		in:   ImageGateSpec{Signing: SigningSpec{KeySecret: "cosign-key"}},
		want: ImageGateSpec{
			Harbor:  HarborSpec{URL: "https://harbor.cluster.local"},
			Signing: SigningSpec{KeySecret: "cosign-key"},
			Policy:  PolicySpec{Severity: "high"},
			Scan: ScanSpec{
				GracePeriod:     duration(time.Second),
				PollInterval:    duration(3 * time.Second),
				MaxPollInterval: duration(time.Minute),
				Timeout:         duration(time.Hour),
			},
			OnFail: FailActionFail,
		},
	}, {
		name: "set fields kept",
		ctx:  WithDefaults(context.Background(), clusterWide),
		in: ImageGateSpec{
			Harbor: HarborSpec{URL: "https://registry.druppie.local"},
			Policy: PolicySpec{Severity: "medium"},
			Scan: ScanSpec{
				GracePeriod:     duration(5 * time.Second),
				PollInterval:    duration(time.Second),
				MaxPollInterval: duration(10 * time.Second),
				Timeout:         duration(5 * time.Minute),
			},
			OnFail: FailActionSucceed,
		},
		want: ImageGateSpec{
			Harbor: HarborSpec{URL: "https://registry.druppie.local"},
			Policy: PolicySpec{Severity: "medium"},
			Scan: ScanSpec{
				GracePeriod:     duration(5 * time.Second),
				PollInterval:    duration(time.Second),
				MaxPollInterval: duration(10 * time.Second),
				Timeout:         duration(5 * time.Minute),
			},
			OnFail: FailActionSucceed,
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &ImageGate{Spec: tc.in}
			g.SetDefaults(tc.ctx)
			if diff := cmp.Diff(tc.want, g.Spec); diff != "" {
				t.Errorf("SetDefaults() spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetDefaultsLeavesSecretsEmpty(t *testing.T) {
	var s ImageGateSpec
	s.SetDefaults(context.Background())
	if diff := cmp.Diff(HarborSpec{}, s.Harbor); diff != "" {
		t.Errorf("SetDefaults() harbor (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(SigningSpec{}, s.Signing); diff != "" {
		t.Errorf("SetDefaults() signing (-want +got):\n%s", diff)
	}
}

func TestSetDefaultsImplementsDefaultable(t *testing.T) {
	var d apis.Defaultable = &ImageGate{}
	d.SetDefaults(context.Background())
	if got := d.(*ImageGate).Spec.Policy.Severity; got != DefaultSeverity {
		t.Errorf("severity after SetDefaults = %q, want %q", got, DefaultSeverity)
	}
}

func TestNewDefaultsFromMap(t *testing.T) {
	tests := []struct {
		name string
		data map[string]string
		want *Defaults
	}{{
		name: "nil map",
		want: BuiltinDefaults(),
	}, {
		name: "empty values and example ignored",
		data: map[string]string{
			"harbor-url": "", "severity": " ", "_example": "severity: nonsense",
		},
		want: BuiltinDefaults(),
	}, {
		name: "every key",
		data: map[string]string{
			"harbor-url":        "https://registry.druppie.local",
			"severity":          "High",
			"grace-period":      "5s",
			"poll-interval":     "1s",
			"max-poll-interval": "1m",
			"scan-timeout":      "45m",
			"on-fail":           "Fail",
			"core-sink-url":     "https://core.druppie.local/events",

			"webhook-fallback-poll-interval": "2m",
		},
		want: &Defaults{
			HarborURL:                   "https://registry.druppie.local",
			Severity:                    "High",
			GracePeriod:                 5 * time.Second,
			PollInterval:                time.Second,
			MaxPollInterval:             time.Minute,
			ScanTimeout:                 45 * time.Minute,
			OnFail:                      FailActionFail,
			CoreSinkURL:                 "https://core.druppie.local/events",
			WebhookFallbackPollInterval: 2 * time.Minute,
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewDefaultsFromMap(tc.data)
			if err != nil {
				t.Fatalf("NewDefaultsFromMap() error = %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("NewDefaultsFromMap() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewDefaultsFromMapRejects(t *testing.T) {
	tests := []struct {
		name string
		data map[string]string
		want string
	}{{
		name: "unknown key",
		data: map[string]string{"serverity": "high"},
		want: `unknown key "serverity": use one of core-sink-url, grace-period, ` +
			"harbor-url, max-poll-interval, on-fail, poll-interval, scan-timeout, " +
			"severity, webhook-fallback-poll-interval",
	}, {
		name: "bad duration",
		data: map[string]string{"scan-timeout": "30"},
		want: `invalid scan-timeout "30": use a Go duration such as 30s or 5m`,
	}, {
		name: "negative duration",
		data: map[string]string{"grace-period": "-1s"},
		want: "grace-period: invalid value: -1s: use a positive duration such as 10s or 5m",
	}, {
		name: "unknown severity",
		data: map[string]string{"severity": "severe"},
		want: "severity: invalid value: severe: " +
			"use one of none, unknown, negligible, low, medium, high, critical",
	}, {
		name: "unknown on-fail",
		data: map[string]string{"on-fail": "fail"},
		want: "on-fail: invalid value: fail: use Succeed or Fail",
	}, {
		name: "relative harbor URL",
		data: map[string]string{"harbor-url": "registry.druppie.local"},
		want: "harbor-url: invalid value: registry.druppie.local: " +
			"use an absolute http or https URL such as https://registry.druppie.local",
	}, {
		name: "core sink URL with credentials",
		data: map[string]string{"core-sink-url": "https://user:pw@core.druppie.local"},
		want: "core-sink-url: invalid value: https://user:xxxxx@core.druppie.local: " +
			"remove the user info: credentials belong in a Secret",
	}, {
		name: "zero webhook fallback interval",
		data: map[string]string{"webhook-fallback-poll-interval": "0s"},
		want: "webhook-fallback-poll-interval: invalid value: 0s: " +
			"use a positive duration such as 10s or 5m",
	}, {
		name: "poll longer than max poll",
		data: map[string]string{"poll-interval": "1m"},
		want: "invalid poll-interval 1m0s: it is longer than max-poll-interval 30s, so " +
			"shorten it or raise max-poll-interval",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDefaultsFromMap(tc.data)
			if err == nil {
				t.Fatal("NewDefaultsFromMap() = nil error, want one")
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("NewDefaultsFromMap() error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewDefaultsFromConfigMapNamesIt(t *testing.T) {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "harbor-gate", Name: DefaultsConfigName},
		Data:       map[string]string{"on-fail": "Abort"},
	}
	_, err := NewDefaultsFromConfigMap(cm)
	want := "parsing ConfigMap harbor-gate/config-harbor-gate: " +
		"on-fail: invalid value: Abort: use Succeed or Fail"
	if err == nil || err.Error() != want {
		t.Errorf("NewDefaultsFromConfigMap() error = %v, want %q", err, want)
	}
}

func TestDefaultsFromContext(t *testing.T) {
	if diff := cmp.Diff(BuiltinDefaults(), DefaultsFromContext(context.Background())); diff != "" {
		t.Errorf("DefaultsFromContext(empty) (-want +got):\n%s", diff)
	}
	d := &Defaults{Severity: "low"}
	if got := DefaultsFromContext(WithDefaults(context.Background(), d)); got != d {
		t.Errorf("DefaultsFromContext() = %+v, want the stored %+v", got, d)
	}
}
