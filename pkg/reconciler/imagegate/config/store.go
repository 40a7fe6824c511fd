// Package config keeps the cluster-wide ImageGate defaults from the ConfigMap
// config-harbor-gate current for the reconciler.
//
// The parsing and the meaning of each key belong to the ImageGate API
// (v1alpha1.NewDefaultsFromConfigMap). This package only watches the ConfigMap and puts the
// latest valid defaults into each reconcile's context, where ImageGateSpec.SetDefaults reads
// them.
package config

import (
	"context"

	"knative.dev/pkg/configmap"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
)

// Store keeps the latest valid defaults, updated by a configmap.Watcher. The generated
// reconciler calls ToContext at the start of every reconcile, so one reconcile uses one
// consistent set of defaults even when the ConfigMap changes during it.
type Store struct {
	*configmap.UntypedStore
}

// NewStore returns a Store for the ConfigMap v1alpha1.DefaultsConfigName. Call WatchConfigs
// with a configmap.Watcher to keep it current. The logger reports parse errors: an invalid
// ConfigMap at startup is fatal, and an invalid later change is logged and ignored, so the
// previous defaults stay in force.
func NewStore(logger configmap.Logger, onAfterStore ...func(name string, value any)) *Store {
	return &Store{UntypedStore: configmap.NewUntypedStore(
		"harbor-gate",
		logger,
		configmap.Constructors{v1alpha1.DefaultsConfigName: v1alpha1.NewDefaultsFromConfigMap},
		onAfterStore...,
	)}
}

// ToContext returns a copy of ctx that carries the current defaults for
// v1alpha1.DefaultsFromContext.
func (s *Store) ToContext(ctx context.Context) context.Context {
	return v1alpha1.WithDefaults(ctx, s.Load())
}

// Load returns the current defaults, or v1alpha1.BuiltinDefaults before the ConfigMap was
// first read.
func (s *Store) Load() *v1alpha1.Defaults {
	if defaults, ok := s.UntypedLoad(v1alpha1.DefaultsConfigName).(*v1alpha1.Defaults); ok {
		return defaults
	}
	return v1alpha1.BuiltinDefaults()
}
