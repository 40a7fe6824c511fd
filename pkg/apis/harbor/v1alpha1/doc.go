// Package v1alpha1 holds the ImageGate API, group harbor.druppie.dev.
//
// An ImageGate holds reusable settings for publishing images to Harbor and
// gating them on the scan verdict. Tekton CustomRuns refer to one through
// customRef, or embed the same spec in customSpec; their params override it.
//
// +k8s:deepcopy-gen=package
// +groupName=harbor.druppie.dev
package v1alpha1
