package imagegate

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/logging"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
	"github.com/druppie/harbor-gate/pkg/gate"
)

// ExtraFields is the progress record the controller stores in a CustomRun's
// status.extraFields. It contains no secret, because Secrets are named and never copied.
type ExtraFields struct {
	// Run is the resolved input of the current attempt, nil until it was resolved. An
	// attempt keeps it, so later changes to the ImageGate or the defaults do not alter
	// a run in progress.
	Run *RunSpec `json:"run,omitempty"`
	// State is the progress of the gate: the next phase, the pushed digest, the signature
	// reference and the scan wait.
	State gate.State `json:"state"`
	// NextStepAfter is the earliest time of the next step while the run waits. Reconciles
	// before it, for example those caused by the controller's own status updates, do
	// nothing but requeue.
	NextStepAfter time.Time `json:"nextStepAfter,omitzero"`
	// ScanDigests are the digests whose Harbor scan events wake the run: the pushed
	// digest and, for an image index, its children. They are read once per attempt, in
	// the scan phase and only while the controller receives webhooks.
	ScanDigests []string `json:"scanDigests,omitempty"`
}

// RunSpec is the resolved input of one attempt.
type RunSpec struct {
	// ImageGate is the name of the ImageGate that customRef named, or "" for a customSpec.
	ImageGate string `json:"imageGate,omitempty"`
	// Source is the image to publish, from the param "source".
	Source string `json:"source"`
	// Target is the Harbor repository, from the param "target".
	Target string `json:"target"`
	// Spec is the spec with params and defaults applied.
	Spec v1alpha1.ImageGateSpec `json:"spec"`
}

func readExtraFields(run *v1beta1.CustomRun) (*ExtraFields, error) {
	fields := &ExtraFields{}
	if err := run.Status.DecodeExtraFields(fields); err != nil {
		return nil, &runFailure{reason: ReasonInvalidStatus, message: fmt.Sprintf(
			"status.extraFields cannot be read (%v); it is written by the controller only",
			err)}
	}
	if err := fields.validate(); err != nil {
		return nil, &runFailure{reason: ReasonInvalidStatus, message: shorten(fmt.Sprintf(
			"status.extraFields holds invalid data (%v); it is written by the controller "+
				"only", err))}
	}
	return fields, nil
}

// validate checks stored data as strictly as the input it came from, so
// that a hand-edited status ends the run instead of driving it.
//
// NOTE: a user allowed to update customruns/status can still replace the
// stored spec with other valid values, such as another Harbor URL that
// then receives the run's Harbor credentials. Grant that permission to
// controllers only.
func (f *ExtraFields) validate() error {
	switch f.State.Phase {
	case "", gate.PhaseResolve, gate.PhasePush, gate.PhaseSign, gate.PhaseScan:
	default:
		return fmt.Errorf("unknown phase %q", f.State.Phase)
	}
	if d := f.State.Digest; d != "" {
		if h, err := v1.NewHash(d); err != nil || h.Algorithm != "sha256" {
			return fmt.Errorf("the digest %q is not a sha256 digest", d)
		}
	}
	if f.Run == nil {
		return nil
	}
	if err := checkSource(f.Run.Source, "run.source"); err != nil {
		return err
	}
	if _, err := gate.ParseTarget(f.Run.Target); err != nil {
		return err
	}
	if err := f.Run.Spec.Validate(context.Background()); err != nil {
		return err
	}
	return nil
}

func writeExtraFields(run *v1beta1.CustomRun, fields *ExtraFields) error {
	if err := run.Status.EncodeExtraFields(fields); err != nil {
		return fmt.Errorf("encoding status.extraFields: %w", err)
	}
	return nil
}

// markStarted sets the start time and the Succeeded condition of a new run.
func (r *Reconciler) markStarted(run *v1beta1.CustomRun) {
	run.Status.StartTime = &metav1.Time{Time: r.clock.Now()}
	run.Status.InitializeConditions()
	run.Status.MarkCustomRunRunning(ReasonStarted, "the ImageGate run started")
}

// fail ends the run as failed.
func (r *Reconciler) fail(ctx context.Context, run *v1beta1.CustomRun, reason, message string) {
	message = shorten(message)
	run.Status.MarkCustomRunFailed(reason, "%s", message)
	run.Status.CompletionTime = &metav1.Time{Time: r.clock.Now()}
	r.event(ctx, run, corev1.EventTypeWarning, EventFailed, "%s: %s", reason, message)
	logging.FromContext(ctx).Infow("Run failed", zap.String(logKeyReason, reason))
}

// retryOrFail starts a new attempt when spec.retries allows one, and fails the run
// otherwise. The failed attempt is kept in status.retriesStatus.
func (r *Reconciler) retryOrFail(ctx context.Context, run *v1beta1.CustomRun, reason,
	message string) {
	message = shorten(message)
	if len(run.Status.RetriesStatus) >= run.Spec.Retries {
		r.fail(ctx, run, reason, message)
		return
	}
	// The new attempt pushes again and registers its own digest in the scan phase.
	r.webhooks.unregister(runKey(run))
	now := metav1.Time{Time: r.clock.Now()}
	attempt := run.Status.DeepCopy()
	attempt.RetriesStatus = nil
	attempt.MarkCustomRunFailed(reason, "%s", message)
	attempt.CompletionTime = &now
	run.Status.RetriesStatus = append(run.Status.RetriesStatus, *attempt)
	run.Status.StartTime = &now
	run.Status.CompletionTime = nil
	run.Status.Results = nil
	run.Status.ExtraFields = runtime.RawExtension{}
	run.Status.MarkCustomRunRunning(ReasonRetrying, "attempt %d of %d failed with %s: %s",
		len(run.Status.RetriesStatus), run.Spec.Retries+1, reason, message)
	r.event(ctx, run, corev1.EventTypeWarning, EventRetrying,
		"attempt %d of %d failed with %s; starting again", len(run.Status.RetriesStatus),
		run.Spec.Retries+1, reason)
}

// complete sets the results and the final condition of a run that reached its verdict.
func (r *Reconciler) complete(ctx context.Context, run *v1beta1.CustomRun,
	onFail v1alpha1.FailAction, res *gate.Result) error {
	results, err := resultsOf(res)
	if err != nil {
		return err
	}
	run.Status.Results = results
	verdict := res.Verdict
	reason, message := string(verdict.Reason), fmt.Sprintf("%s: %s", verdict.Result,
		verdict.Message())
	if !verdict.Passed() && onFail == v1alpha1.FailActionFail {
		run.Status.MarkCustomRunFailed(reason, "%s", message)
	} else {
		run.Status.MarkCustomRunSucceeded(reason, "%s", message)
	}
	run.Status.CompletionTime = &metav1.Time{Time: r.clock.Now()}
	// One Event carries both the verdict and the scan summary. Each Event is a write to
	// the API server under the Kubernetes client's rate limit, so a second Event per
	// verdict slows down every run when many scans end at once.
	scan := fmt.Sprintf("the scan of %s ended with status %q, findings %s", res.Digest,
		res.Scan.Status, resultValue(results, gate.ResultCounts))
	if verdict.Passed() {
		r.event(ctx, run, corev1.EventTypeNormal, EventPassed, "%s; %s", message, scan)
	} else {
		r.event(ctx, run, corev1.EventTypeWarning, EventFailed, "%s: %s; %s", reason,
			message, scan)
	}
	return nil
}

// resultsOf returns the results of a verdict, with the same names and values as the
// results "harbor-gate publish" writes.
func resultsOf(res *gate.Result) ([]v1beta1.CustomRunResult, error) {
	values, err := res.Values()
	if err != nil {
		return nil, err
	}
	results := make([]v1beta1.CustomRunResult, len(values))
	for i, v := range values {
		results[i] = v1beta1.CustomRunResult{Name: v.Name, Value: v.Value}
	}
	return results, nil
}

func resultValue(results []v1beta1.CustomRunResult, name string) string {
	for _, result := range results {
		if result.Name == name {
			return result.Value
		}
	}
	return ""
}

// event records a Kubernetes Event on the run through the recorder in ctx.
func (r *Reconciler) event(ctx context.Context, run *v1beta1.CustomRun, eventType,
	reason, format string, args ...any) {
	if recorder := controller.GetEventRecorder(ctx); recorder != nil {
		recorder.Eventf(run, eventType, reason, format, args...)
	}
}
