//go:build integration

package integration

import (
	"context"
	"fmt"
	"time"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/wait"
	"knative.dev/pkg/apis"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/policy"
	"github.com/druppie/harbor-gate/pkg/reconciler/imagegate"
)

// Names of the test Pipeline and its tasks.
const (
	pipelineName = "gate-deploy"
	taskGate     = "gate"
	taskDeploy   = "deploy"
	taskNotify   = "notify"
)

// Bounds of the waits on the API. A clean run of the test Pipeline takes about 1.5 s on a
// 2-core machine: push, sign with two scrypt key decryptions, and a 350 ms scan.
const (
	pollInterval = 100 * time.Millisecond
	runTimeout   = 90 * time.Second
)

// createPipeline creates the test Pipeline: the ImageGate custom task, a deploy task
// guarded by VERDICT=PASS and a finally task guarded by VERDICT=FAIL. gateTimeout, when
// not zero, becomes the gate task's timeout and so the CustomRun's.
func (e *testEnv) createPipeline(gateTimeout time.Duration) {
	e.t.Helper()
	p := &pipelinev1.Pipeline{
		ObjectMeta: metav1.ObjectMeta{Name: pipelineName, Namespace: e.ns},
		Spec: pipelinev1.PipelineSpec{
			Params: pipelinev1.ParamSpecs{
				{Name: imagegate.ParamSource, Type: pipelinev1.ParamTypeString},
				{Name: imagegate.ParamTarget, Type: pipelinev1.ParamTypeString},
			},
			Tasks:   []pipelinev1.PipelineTask{gateTask(gateTimeout), deployTask()},
			Finally: []pipelinev1.PipelineTask{notifyTask()},
		},
	}
	_, err := e.c.pipeline.TektonV1().Pipelines(e.ns).Create(e.ctx, p, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating Pipeline %s/%s: %v", e.ns, pipelineName, err)
	}
}

func gateTask(timeout time.Duration) pipelinev1.PipelineTask {
	task := pipelinev1.PipelineTask{
		Name: taskGate,
		TaskRef: &pipelinev1.TaskRef{APIVersion: v1alpha1.SchemeGroupVersion.String(),
			Kind: v1alpha1.Kind, Name: imageGateName},
		Params: pipelinev1.Params{
			stringParam(imagegate.ParamSource, "$(params.source)"),
			stringParam(imagegate.ParamTarget, "$(params.target)"),
		},
	}
	if timeout > 0 {
		task.Timeout = &metav1.Duration{Duration: timeout}
	}
	return task
}

// deployTask deploys the gated digest on PASS. Its step never runs, because no kubelet
// does, so only the TaskRun's creation shows that the task was scheduled.
func deployTask() pipelinev1.PipelineTask {
	return pipelinev1.PipelineTask{
		Name: taskDeploy,
		When: pipelinev1.WhenExpressions{verdictIs(policy.Pass)},
		Params: pipelinev1.Params{stringParam("image",
			gateResult(gate.ResultImageURL)+"@"+gateResult(gate.ResultImageDigest))},
		TaskSpec: &pipelinev1.EmbeddedTask{TaskSpec: pipelinev1.TaskSpec{
			Params: pipelinev1.ParamSpecs{{Name: "image", Type: pipelinev1.ParamTypeString}},
			Steps: []pipelinev1.Step{{
				Name: "set-image",
				// An explicit command, so that Tekton never reads the image's entrypoint
				// from a registry.
				Image:   "tools.invalid/kubectl:itest",
				Command: []string{"kubectl"},
				Args:    []string{"set", "image", "deployment/app", "app=$(params.image)"},
			}},
		}},
	}
}

// notifyTask reports a FAIL verdict. As a finally task it runs once the DAG is done.
func notifyTask() pipelinev1.PipelineTask {
	return pipelinev1.PipelineTask{
		Name: taskNotify,
		When: pipelinev1.WhenExpressions{verdictIs(policy.Fail)},
		Params: pipelinev1.Params{
			stringParam("reason", gateResult(gate.ResultReason)),
			stringParam("counts", gateResult(gate.ResultCounts)),
		},
		TaskSpec: &pipelinev1.EmbeddedTask{TaskSpec: pipelinev1.TaskSpec{
			Params: pipelinev1.ParamSpecs{
				{Name: "reason", Type: pipelinev1.ParamTypeString},
				{Name: "counts", Type: pipelinev1.ParamTypeString},
			},
			Steps: []pipelinev1.Step{{
				Name:    "post",
				Image:   "tools.invalid/curl:itest",
				Command: []string{"echo"},
				Args:    []string{"$(params.reason)", "$(params.counts)"},
			}},
		}},
	}
}

func verdictIs(verdict policy.Result) pipelinev1.WhenExpression {
	return pipelinev1.WhenExpression{Input: gateResult(gate.ResultVerdict),
		Operator: selection.In, Values: []string{string(verdict)}}
}

func gateResult(name string) string {
	return fmt.Sprintf("$(tasks.%s.results.%s)", taskGate, name)
}

func stringParam(name, value string) pipelinev1.Param {
	return pipelinev1.Param{Name: name, Value: *pipelinev1.NewStructuredValues(value)}
}

// runPipeline starts a PipelineRun of the test Pipeline that gates the source image into
// target, and returns its name.
func (e *testEnv) runPipeline(target string) string {
	e.t.Helper()
	pr := &pipelinev1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{GenerateName: pipelineName + "-", Namespace: e.ns},
		Spec: pipelinev1.PipelineRunSpec{
			PipelineRef: &pipelinev1.PipelineRef{Name: pipelineName},
			Params: pipelinev1.Params{
				stringParam(imagegate.ParamSource, e.source),
				stringParam(imagegate.ParamTarget, target),
			},
		},
	}
	created, err := e.c.pipeline.TektonV1().PipelineRuns(e.ns).Create(e.ctx, pr,
		metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating a PipelineRun of %s/%s: %v", e.ns, pipelineName, err)
	}
	return created.Name
}

// waitFor polls condition until it returns true, and fails the test when it returns an
// error or timeout passes. what completes "waiting for ..." in the failure message.
func (e *testEnv) waitFor(what string, timeout time.Duration,
	condition func(context.Context) (bool, error)) {
	e.t.Helper()
	if err := wait.PollUntilContextTimeout(e.ctx, pollInterval, timeout, true, condition); err != nil {
		e.t.Fatalf("waiting %s for %s: %v", timeout, what, err)
	}
}

// customRun returns the CustomRun of the PipelineRun's gate task, or nil while Tekton has
// not created it.
func (e *testEnv) customRun(ctx context.Context, pipelineRun string) (*v1beta1.CustomRun, error) {
	list, err := e.c.pipeline.TektonV1beta1().CustomRuns(e.ns).List(ctx, metav1.ListOptions{
		LabelSelector: pipeline.PipelineRunLabelKey + "=" + pipelineRun,
	})
	if err != nil || len(list.Items) == 0 {
		return nil, err
	}
	if len(list.Items) > 1 {
		return nil, fmt.Errorf("PipelineRun %s has %d CustomRuns, expected one", pipelineRun,
			len(list.Items))
	}
	return &list.Items[0], nil
}

// waitCustomRun waits until the PipelineRun's CustomRun exists and done returns true for
// it, and returns the CustomRun then.
func (e *testEnv) waitCustomRun(pipelineRun, what string,
	done func(*v1beta1.CustomRun) bool) *v1beta1.CustomRun {
	e.t.Helper()
	var run *v1beta1.CustomRun
	e.waitFor(fmt.Sprintf("the CustomRun of %s: %s", pipelineRun, what), runTimeout,
		func(ctx context.Context) (bool, error) {
			var err error
			run, err = e.customRun(ctx, pipelineRun)
			return run != nil && done(run), err
		})
	return run
}

// waitPipelineRun waits until done returns true for the PipelineRun and returns it then.
func (e *testEnv) waitPipelineRun(name, what string,
	done func(*pipelinev1.PipelineRun) bool) *pipelinev1.PipelineRun {
	e.t.Helper()
	var pr *pipelinev1.PipelineRun
	e.waitFor(fmt.Sprintf("PipelineRun %s: %s", name, what), runTimeout,
		func(ctx context.Context) (bool, error) {
			var err error
			pr, err = e.c.pipeline.TektonV1().PipelineRuns(e.ns).Get(ctx, name,
				metav1.GetOptions{})
			return err == nil && done(pr), err
		})
	return pr
}

// taskRuns returns the PipelineRun's TaskRuns by pipeline task name.
func (e *testEnv) taskRuns(pipelineRun string) map[string]*pipelinev1.TaskRun {
	e.t.Helper()
	list, err := e.c.pipeline.TektonV1().TaskRuns(e.ns).List(e.ctx, metav1.ListOptions{
		LabelSelector: pipeline.PipelineRunLabelKey + "=" + pipelineRun,
	})
	if err != nil {
		e.t.Fatalf("listing the TaskRuns of %s: %v", pipelineRun, err)
	}
	runs := map[string]*pipelinev1.TaskRun{}
	for i := range list.Items {
		runs[list.Items[i].Labels[pipeline.PipelineTaskLabelKey]] = &list.Items[i]
	}
	return runs
}

// isDone reports whether a CustomRun has finished, successfully or not.
func isDone(run *v1beta1.CustomRun) bool { return run.IsDone() }

// succeeded returns the Succeeded condition of a CustomRun, never nil.
func succeeded(run *v1beta1.CustomRun) apis.Condition {
	if cond := run.Status.GetCondition(apis.ConditionSucceeded); cond != nil {
		return *cond
	}
	return apis.Condition{}
}

// results returns a CustomRun's results by name.
func results(run *v1beta1.CustomRun) map[string]string {
	values := map[string]string{}
	for _, r := range run.Status.Results {
		values[r.Name] = r.Value
	}
	return values
}

// gateState decodes the progress the controller records in the CustomRun's status.
func gateState(run *v1beta1.CustomRun) (imagegate.ExtraFields, error) {
	var fields imagegate.ExtraFields
	err := run.Status.DecodeExtraFields(&fields)
	return fields, err
}
