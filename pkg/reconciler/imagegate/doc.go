// Package imagegate is the Tekton custom-task controller for CustomRuns whose customRef or
// customSpec names apiVersion harbor.druppie.dev/v1alpha1, kind ImageGate.
//
// A run publishes one image to Harbor, signs the pushed digest with cosign, waits for
// Harbor's vulnerability scan of that digest and sets the verdict as results. The work is
// done by pkg/gate one phase per reconcile. The progress of a run is stored in the
// CustomRun's status.extraFields (see ExtraFields), so a waiting run holds no goroutine and
// a restarted controller continues each run from its stored phase.
//
// controller.go wires informers and clients; imagegate.go holds the reconciler's state
// machine.
package imagegate
