//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/harbortest"
	"github.com/druppie/harbor-gate/pkg/policy"
	"github.com/druppie/harbor-gate/pkg/reconciler/imagegate"
)

func TestCleanImagePassesAndDeploys(t *testing.T) {
	e := newTestEnv(t)
	e.createSecrets()
	e.createImageGate()
	e.createPipeline(0)
	target := e.target(repoClean)
	pr := e.runPipeline(target)

	run := e.waitCustomRun(pr, "done", isDone)
	cond := succeeded(run)
	if cond.Status != corev1.ConditionTrue || cond.Reason != imagegate.ReasonPassed {
		t.Fatalf("CustomRun condition = %s/%s (%s), want True/%s", cond.Status, cond.Reason,
			cond.Message, imagegate.ReasonPassed)
	}
	got := results(run)
	digest := e.pushedDigest(target)
	if got[gate.ResultVerdict] != string(policy.Pass) {
		t.Errorf("result %s = %q, want %q", gate.ResultVerdict, got[gate.ResultVerdict], policy.Pass)
	}
	if got[gate.ResultImageURL] != target {
		t.Errorf("result %s = %q, want %q", gate.ResultImageURL, got[gate.ResultImageURL], target)
	}
	if got[gate.ResultImageDigest] != digest {
		t.Errorf("result %s = %q, want the pushed digest %q", gate.ResultImageDigest,
			got[gate.ResultImageDigest], digest)
	}
	if !strings.HasSuffix(e.source, "@"+digest) {
		t.Errorf("pushed digest %s differs from the source %s", digest, e.source)
	}
	if diff := cmp.Diff(map[string]int64{}, counts(t, got)); diff != "" {
		t.Errorf("result %s (-want +got):\n%s", gate.ResultCounts, diff)
	}
	repository := strings.TrimSuffix(target, ":build-1")
	wantSignature := repository + ":" + signatureTag(digest)
	if got[gate.ResultSignatureRef] != wantSignature {
		t.Errorf("result %s = %q, want %q", gate.ResultSignatureRef,
			got[gate.ResultSignatureRef], wantSignature)
	}

	var deploy *pipelinev1.TaskRun
	e.waitFor("the deploy TaskRun", runTimeout, func(context.Context) (bool, error) {
		deploy = e.taskRuns(pr)[taskDeploy]
		return deploy != nil, nil
	})
	wantImage := target + "@" + digest
	if image := paramValue(deploy.Spec.Params, "image"); image != wantImage {
		t.Errorf("deploy TaskRun param image = %q, want %q", image, wantImage)
	}
}

func TestVulnerableImageFailsAndNotifies(t *testing.T) {
	e := newTestEnv(t)
	e.createSecrets()
	e.createImageGate()
	e.createPipeline(0)
	pr := e.runPipeline(e.target(repoVulnerable))

	run := e.waitCustomRun(pr, "done", isDone)
	cond := succeeded(run)
	// onFail Succeed lets the run succeed with VERDICT=FAIL, so that when expressions
	// choose the next task.
	if cond.Status != corev1.ConditionTrue || cond.Reason != imagegate.ReasonPolicyViolation {
		t.Fatalf("CustomRun condition = %s/%s (%s), want True/%s", cond.Status, cond.Reason,
			cond.Message, imagegate.ReasonPolicyViolation)
	}
	got := results(run)
	if got[gate.ResultVerdict] != string(policy.Fail) {
		t.Errorf("result %s = %q, want %q", gate.ResultVerdict, got[gate.ResultVerdict], policy.Fail)
	}
	wantCounts := map[string]int64{"Critical": 1, "Low": 1}
	if diff := cmp.Diff(wantCounts, counts(t, got)); diff != "" {
		t.Errorf("result %s (-want +got):\n%s", gate.ResultCounts, diff)
	}

	var notify *pipelinev1.TaskRun
	e.waitFor("the notify TaskRun", runTimeout, func(context.Context) (bool, error) {
		notify = e.taskRuns(pr)[taskNotify]
		return notify != nil, nil
	})
	if reason := paramValue(notify.Spec.Params, "reason"); reason != got[gate.ResultReason] {
		t.Errorf("notify TaskRun param reason = %q, want the gate's REASON %q", reason,
			got[gate.ResultReason])
	}
	pipelineRun := e.waitPipelineRun(pr, "deploy skipped", func(p *pipelinev1.PipelineRun) bool {
		return skippedReason(p, taskDeploy) != ""
	})
	if reason := skippedReason(pipelineRun, taskDeploy); reason != pipelinev1.WhenExpressionsSkip {
		t.Errorf("deploy skipped with reason %q, want %q", reason, pipelinev1.WhenExpressionsSkip)
	}
	if deploy := e.taskRuns(pr)[taskDeploy]; deploy != nil {
		t.Errorf("deploy TaskRun %s exists, want none for a FAIL verdict", deploy.Name)
	}
}

// pushedDigest returns the digest the double's registry stores under the target's tag.
func (e *testEnv) pushedDigest(target string) string {
	e.t.Helper()
	ref, err := name.ParseReference(target)
	if err != nil {
		e.t.Fatal(err)
	}
	desc, err := remote.Head(ref, remote.WithAuth(e.robotAuth()), remote.WithContext(e.ctx))
	if err != nil {
		e.t.Fatalf("reading %s from the double: %v", target, err)
	}
	return desc.Digest.String()
}

func (e *testEnv) robotAuth() authn.Authenticator {
	return &authn.Basic{Username: harbortest.RobotName(targetProject, robotName),
		Password: e.c.harbor.robotSecret}
}

// signatureTag returns the tag under which cosign stores the signature of digest.
func signatureTag(digest string) string {
	return strings.Replace(digest, ":", "-", 1) + ".sig"
}

// counts decodes the VULNERABILITY_COUNTS result.
func counts(t *testing.T, results map[string]string) map[string]int64 {
	t.Helper()
	var values map[string]int64
	if err := json.Unmarshal([]byte(results[gate.ResultCounts]), &values); err != nil {
		t.Fatalf("decoding result %s %q: %v", gate.ResultCounts, results[gate.ResultCounts], err)
	}
	return values
}

func paramValue(params pipelinev1.Params, name string) string {
	for _, p := range params {
		if p.Name == name {
			return p.Value.StringVal
		}
	}
	return ""
}

// skippedReason returns why the PipelineRun skipped the task, or "" when it did not.
func skippedReason(pr *pipelinev1.PipelineRun, task string) pipelinev1.SkippingReason {
	for _, skipped := range pr.Status.SkippedTasks {
		if skipped.Name == task {
			return skipped.Reason
		}
	}
	return ""
}
