package imagegate

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/druppie/harbor-gate/pkg/harbor"
)

func TestJitterUpward(t *testing.T) {
	tests := []struct {
		name string
		wait time.Duration
		want time.Duration
	}{
		{name: "below the jitter range", wait: 23 * time.Second, want: 23 * time.Second},
		{name: "lowest jitter", wait: 24 * time.Second, want: 36 * time.Second},
		{name: "within the jitter", wait: 28 * time.Second, want: 32 * time.Second},
		{name: "capped at the maximum", wait: 30 * time.Second, want: 30 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := jitterUpward(tc.wait, 30*time.Second); got != tc.want {
				t.Errorf("jitterUpward(%s, 30s) = %s, want %s", tc.wait, got, tc.want)
			}
		})
	}
}

func TestScanWaitWithoutWebhooks(t *testing.T) {
	clock := clocktesting.NewFakeClock(time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC))
	spec := &RunSpec{}
	spec.Spec.Scan.MaxPollInterval = &metav1.Duration{Duration: 30 * time.Second}
	running := harbor.WaitState{FirstSeen: clock.Now(), LastStatus: harbor.ScanRunning}
	tests := []struct {
		name     string
		webhooks bool
		scan     harbor.WaitState
		wait     time.Duration
		want     time.Duration
	}{
		{name: "polling mirrors early jitter", scan: running, wait: 27 * time.Second,
			want: 33 * time.Second},
		{name: "polling keeps the backoff", scan: running, wait: 10 * time.Second,
			want: 10 * time.Second},
		{name: "polling before the scan started",
			scan: harbor.WaitState{FirstSeen: clock.Now()}, wait: 27 * time.Second,
			want: 27 * time.Second},
		{name: "webhooks use the fallback", webhooks: true, scan: running,
			wait: 27 * time.Second, want: time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Reconciler{clock: clock, webhooks: &webhookWaker{enabled: tc.webhooks}}
			got := r.scanWait(t.Context(), spec, tc.scan, tc.wait)
			if got != tc.want {
				t.Errorf("scanWait(%s) = %s, want %s", tc.wait, got, tc.want)
			}
		})
	}
}
