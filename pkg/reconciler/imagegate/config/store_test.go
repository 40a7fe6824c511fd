package config

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	logtesting "knative.dev/pkg/logging/testing"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
)

func configMap(data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.DefaultsConfigName, Namespace: "harbor-gate"},
		Data:       data,
	}
}

func TestStoreBeforeConfigMapUsesBuiltinDefaults(t *testing.T) {
	store := NewStore(logtesting.TestLogger(t))
	got := v1alpha1.DefaultsFromContext(store.ToContext(context.Background()))
	if diff := cmp.Diff(v1alpha1.BuiltinDefaults(), got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestStoreKeepsLastValidConfigMap(t *testing.T) {
	store := NewStore(logtesting.TestLogger(t))
	store.OnConfigChanged(configMap(map[string]string{
		"harbor-url": "https://registry.druppie.local", "severity": "high",
		"scan-timeout": "20m",
	}))
	want := v1alpha1.BuiltinDefaults()
	want.HarborURL = "https://registry.druppie.local"
	want.Severity = "high"
	want.ScanTimeout = 20 * time.Minute
	got := v1alpha1.DefaultsFromContext(store.ToContext(context.Background()))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults after a valid ConfigMap (-want +got):\n%s", diff)
	}

	store.OnConfigChanged(configMap(map[string]string{"severity": "dire"}))
	got = v1alpha1.DefaultsFromContext(store.ToContext(context.Background()))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults after an invalid ConfigMap (-want +got):\n%s", diff)
	}
}
