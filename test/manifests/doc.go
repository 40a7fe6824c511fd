// Package manifests tests the Kubernetes manifests in config/ and the
// Tekton files in tekton/. Every YAML document must decode strictly
// through the Kubernetes, apiextensions, Tekton and harbor-gate schemes.
// Tekton objects and ImageGates must pass their own validation. The
// ImageGate CRD schema must be structural and match the Go types, and the
// controller's RBAC rules must stay least-privilege.
package manifests
