// Package integration runs the ImageGate controller under a real control
// plane: etcd, kube-apiserver and the Tekton Pipelines controller as
// processes on loopback, this project's controller in the test process as
// its own ServiceAccount, and the Harbor double. Each test drives a Tekton
// v1 PipelineRun whose gate task is an ImageGate CustomRun. The test that
// kills the controller with SIGKILL runs it instead as a child process, which
// is the test binary started again with HARBOR_GATE_ITEST_KUBE_URL set.
//
// The tests are behind the "integration" build tag. They need the binaries
// that "make itest-bins" builds, and skip when those are missing:
//
//	make integration
//
// No kubelet, scheduler or kube-controller-manager runs, so pods stay
// Pending: a test checks which TaskRuns Tekton creates or skips, never
// their execution. Tekton's webhook does not run either, so Pipelines,
// PipelineRuns and TaskRuns are read and written as tekton.dev/v1 only.
package integration
