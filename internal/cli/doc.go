// Package cli holds the harbor-gate command line: a thin cobra layer over
// pkg/gate and pkg/harbortest. People read stderr; machines read stdout
// (--output json) and the Tekton results directory.
package cli
