//go:build integration

package integration

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/policy"
	"github.com/druppie/harbor-gate/pkg/reconciler/imagegate"
)

func TestControllerRestartDuringScan(t *testing.T) {
	e := newTestEnv(t)
	e.createSecrets()
	e.createImageGate()
	e.createPipeline(0)
	target := e.target(repoSlow)
	pr := e.runPipeline(target)

	e.waitCustomRun(pr, "scan running", e.isScanning)
	if err := e.c.stopGate(); err != nil {
		t.Fatalf("stopping the harbor-gate controller: %v", err)
	}
	// A failure below must not leave the later tests without a controller.
	t.Cleanup(func() {
		if e.c.gateRunning() {
			return
		}
		if err := e.c.startGate(); err != nil {
			t.Errorf("starting the harbor-gate controller again: %v", err)
		}
	})
	stopped, err := e.customRun(e.ctx, pr)
	if err != nil {
		t.Fatal(err)
	}
	if stopped.IsDone() {
		t.Fatalf("the CustomRun finished before the controller stopped, so the restart " +
			"proves nothing; lengthen the fixture's scan of slow-* repositories")
	}
	if err := e.c.startGate(); err != nil {
		t.Fatalf("starting the harbor-gate controller again: %v", err)
	}

	run := e.waitCustomRun(pr, "done", isDone)
	cond := succeeded(run)
	if cond.Status != corev1.ConditionTrue || cond.Reason != imagegate.ReasonPolicyViolation {
		t.Fatalf("CustomRun condition = %s/%s (%s), want True/%s", cond.Status, cond.Reason,
			cond.Message, imagegate.ReasonPolicyViolation)
	}
	got := results(run)
	if got[gate.ResultVerdict] != string(policy.Fail) {
		t.Errorf("result %s = %q, want %q", gate.ResultVerdict, got[gate.ResultVerdict], policy.Fail)
	}
	if diff := cmp.Diff(map[string]int64{"Critical": 1}, counts(t, got)); diff != "" {
		t.Errorf("result %s (-want +got):\n%s", gate.ResultCounts, diff)
	}

	// One manifest for the image and one for its signature, and nothing pushed twice.
	repository := e.repository(repoSlow)
	if puts := e.c.harbor.srv.Stats().ManifestPuts[repository]; puts != 2 {
		t.Errorf("manifest PUTs to %s = %d, want 2: the image and its signature", repository,
			puts)
	}
	digest := got[gate.ResultImageDigest]
	wantTags := []string{"build-1", signatureTag(digest)}
	if diff := cmp.Diff(wantTags, e.listTags(target)); diff != "" {
		t.Errorf("tags of %s (-want +got):\n%s", repository, diff)
	}
}

func TestPipelineRunCancelledDuringScan(t *testing.T) {
	e := newTestEnv(t)
	e.createSecrets()
	e.createImageGate()
	e.createPipeline(0)
	pr := e.runPipeline(e.target(repoStuck))

	e.waitCustomRun(pr, "scan running", e.isScanning)
	patch := []byte(`{"spec":{"status":"` + pipelinev1.PipelineRunSpecStatusCancelled + `"}}`)
	_, err := e.c.pipeline.TektonV1().PipelineRuns(e.ns).Patch(e.ctx, pr,
		types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("cancelling PipelineRun %s: %v", pr, err)
	}

	run := e.waitCustomRun(pr, "done", isDone)
	if run.Spec.Status != v1beta1.CustomRunSpecStatusCancelled {
		t.Errorf("CustomRun spec.status = %q, want %q set by Tekton", run.Spec.Status,
			v1beta1.CustomRunSpecStatusCancelled)
	}
	cond := succeeded(run)
	if cond.Status != corev1.ConditionFalse || cond.Reason != imagegate.ReasonCancelled {
		t.Errorf("CustomRun condition = %s/%s (%s), want False/%s", cond.Status, cond.Reason,
			cond.Message, imagegate.ReasonCancelled)
	}
	pipelineRun := e.waitPipelineRun(pr, "done", func(p *pipelinev1.PipelineRun) bool {
		return p.IsDone()
	})
	prCond := pipelineRun.Status.GetCondition("Succeeded")
	if prCond.Reason != pipelinev1.PipelineRunReasonCancelled.String() {
		t.Errorf("PipelineRun reason = %q, want %q", prCond.Reason,
			pipelinev1.PipelineRunReasonCancelled)
	}
	if deploy := e.taskRuns(pr)[taskDeploy]; deploy != nil {
		t.Errorf("deploy TaskRun %s exists, want none after cancellation", deploy.Name)
	}
}

func TestCustomRunTimeoutSkipsDeploy(t *testing.T) {
	e := newTestEnv(t)
	e.createSecrets()
	e.createImageGate()
	// Long enough to reach the scan on a busy machine. Resolving, pushing and signing, with
	// two scrypt key decryptions, took up to 3 s on 2 cores, and more than 8 s with -race
	// while other builds ran.
	const gateTimeout = 15 * time.Second
	e.createPipeline(gateTimeout)
	pr := e.runPipeline(e.target(repoStuck))

	scanning := e.waitCustomRun(pr, "scan running or done", func(run *v1beta1.CustomRun) bool {
		return run.IsDone() || e.isScanning(run)
	})
	if scanning.IsDone() {
		t.Fatalf("the CustomRun ended before its scan began, with %+v; the machine is too "+
			"slow for a timeout of %s", succeeded(scanning), gateTimeout)
	}
	run := e.waitCustomRun(pr, "done", isDone)
	if got := run.Spec.Timeout; got == nil || got.Duration != gateTimeout {
		t.Errorf("CustomRun spec.timeout = %v, want %s from the pipeline task", got, gateTimeout)
	}
	cond := succeeded(run)
	if cond.Status != corev1.ConditionFalse || cond.Reason != imagegate.ReasonTimedOut {
		t.Errorf("CustomRun condition = %s/%s (%s), want False/%s", cond.Status, cond.Reason,
			cond.Message, imagegate.ReasonTimedOut)
	}
	if fields, err := gateState(run); err != nil || fields.State.Phase != gate.PhaseScan {
		t.Errorf("CustomRun phase = %q (decoding error: %v), want %q: the scan never ends",
			fields.State.Phase, err, gate.PhaseScan)
	}

	pipelineRun := e.waitPipelineRun(pr, "done", func(p *pipelinev1.PipelineRun) bool {
		return p.IsDone()
	})
	if reason := skippedReason(pipelineRun, taskDeploy); reason == "" {
		t.Errorf("deploy not in skippedTasks %+v", pipelineRun.Status.SkippedTasks)
	}
	if deploy := e.taskRuns(pr)[taskDeploy]; deploy != nil {
		t.Errorf("deploy TaskRun %s exists, want none after the gate timed out", deploy.Name)
	}
}

// isScanning reports whether the run waits for a scan that Harbor has started: pushed,
// signed, and the last poll read Pending or Running.
func (e *testEnv) isScanning(run *v1beta1.CustomRun) bool {
	fields, err := gateState(run)
	if err != nil {
		e.t.Fatalf("decoding the CustomRun's status.extraFields: %v", err)
	}
	status := fields.State.Scan.LastStatus
	return fields.State.Phase == gate.PhaseScan &&
		(status == harbor.ScanPending || status == harbor.ScanRunning)
}

// listTags lists the tags of the target's repository in the double.
func (e *testEnv) listTags(target string) []string {
	e.t.Helper()
	ref, err := name.ParseReference(target)
	if err != nil {
		e.t.Fatal(err)
	}
	tags, err := remote.List(ref.Context(), remote.WithAuth(e.robotAuth()),
		remote.WithContext(e.ctx))
	if err != nil {
		e.t.Fatalf("listing the tags of %s: %v", ref.Context(), err)
	}
	return tags
}
