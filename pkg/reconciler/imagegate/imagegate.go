package imagegate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	versioned "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"github.com/tektoncd/pipeline/pkg/client/injection/reconciler/pipeline/v1beta1/customrun"
	listers "github.com/tektoncd/pipeline/pkg/client/listers/pipeline/v1beta1"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	"knative.dev/pkg/apis"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/reconciler"

	"github.com/druppie/harbor-gate/pkg/gate"
)

// Bounds of the delay between two checks for a missing Secret. The delay equals the time
// the run has been running, so the checks grow further apart as the wait goes on.
const (
	minSecretWait = time.Second
	maxSecretWait = time.Minute
)

// Keys of the controller's structured log fields.
const (
	logKeyPhase     = "phase"
	logKeyNextPhase = "nextPhase"
	logKeyDigest    = "digest"
	logKeyReason    = "reason"
	logKeyWait      = "wait"
)

// Reconciler advances ImageGate CustomRuns by at most one phase per reconcile.
type Reconciler struct {
	kubeClient     kubernetes.Interface
	dynamicClient  dynamic.Interface
	pipelineClient versioned.Interface
	runLister      listers.CustomRunLister
	// clock is the source of time for start times, timeouts and the scan wait.
	clock clock.Clock
	// webhooks wakes runs in the scan phase when Harbor announces the end of a scan.
	webhooks *webhookWaker
	// relay sends each verdict to the core sink of config-harbor-gate, if one is set.
	relay *verdictRelay
	// secrets keeps the Harbor credentials that scan polls reuse for secretCacheTTL.
	secrets *secretCache
}

var _ customrun.Interface = (*Reconciler)(nil)

// ReconcileKind advances one run: it starts it, ends it when it is cancelled or timed out,
// resolves its input once per attempt, and then runs one gate phase.
func (r *Reconciler) ReconcileKind(ctx context.Context, run *v1beta1.CustomRun) reconciler.Event {
	if run.Status.ObservedGeneration != run.Generation {
		r.restoreConditions(run)
	}
	switch {
	case run.IsDone():
		r.webhooks.unregister(runKey(run))
		return nil
	case !run.HasStarted():
		r.markStarted(run)
	}
	switch {
	case run.IsCancelled():
		r.fail(ctx, run, ReasonCancelled, cancelMessage(run))
	case run.HasTimedOut(r.clock):
		r.retryOrFail(ctx, run, ReasonTimedOut, fmt.Sprintf(
			"the run did not finish within its timeout of %s", run.GetTimeout()))
	default:
		event := r.handle(ctx, run, r.advance(ctx, run))
		if run.IsDone() {
			r.webhooks.unregister(runKey(run))
		}
		return event
	}
	r.webhooks.unregister(runKey(run))
	return nil
}

// restoreConditions puts back the stored conditions. The generated reconciler resets the
// Succeeded condition to Unknown when the run's generation changed, as it does when
// spec.status is set, even on a run that already finished.
func (r *Reconciler) restoreConditions(run *v1beta1.CustomRun) {
	stored, err := r.runLister.CustomRuns(run.Namespace).Get(run.Name)
	if err == nil {
		run.Status.Conditions = stored.Status.DeepCopy().Conditions
	}
}

func cancelMessage(run *v1beta1.CustomRun) string {
	if run.Spec.StatusMessage != "" {
		return fmt.Sprintf("the run was cancelled: %s", run.Spec.StatusMessage)
	}
	return "the run was cancelled through spec.status RunCancelled"
}

// advance resolves the run's input if needed and runs the next gate phase, unless the run
// waits for a later time.
func (r *Reconciler) advance(ctx context.Context, run *v1beta1.CustomRun) error {
	fields, err := readExtraFields(run)
	if err != nil {
		return err
	}
	woken := r.wokenByWebhook(run, fields)
	if wait := fields.NextStepAfter.Sub(r.clock.Now()); wait > 0 && !woken {
		return controller.NewRequeueAfter(r.untilTimeout(run, wait))
	}
	if woken {
		logging.FromContext(ctx).Debugw("A Harbor webhook woke the run",
			zap.String(logKeyDigest, fields.State.Digest))
	}
	if fields.Run == nil {
		if fields.Run, err = r.resolve(ctx, run); err != nil {
			return err
		}
		if err := writeExtraFields(run, fields); err != nil {
			return err
		}
	}
	return r.step(ctx, run, fields)
}

// step runs one gate phase and stores its outcome in the run's status.
func (r *Reconciler) step(ctx context.Context, run *v1beta1.CustomRun, fields *ExtraFields) error {
	before := fields.State
	if hasSideEffects(before.Phase) {
		if stale, err := r.isStale(ctx, run, fields); err != nil || stale {
			return err
		}
	}
	opts, cachedCredentials, err := r.gateOptions(ctx, run.Namespace, fields.Run, before.Phase)
	var missing *secretMissingError
	if errors.As(err, &missing) {
		return r.waitForSecret(ctx, run, fields, missing)
	}
	if err != nil {
		return err
	}
	if opts.Transport, err = gate.NewTransport(opts.CABundle, opts.InsecureSkipVerify); err != nil {
		return invalidSpec("spec.harbor.caBundle: %v", err)
	}
	defer closeIdleConnections(opts.Transport)
	g, err := gate.New(opts)
	if err != nil {
		return invalidSpec("%v", err)
	}

	ctx, cancel := r.withRunDeadline(ctx, run)
	defer cancel()
	if before.Phase == gate.PhaseScan {
		r.registerScan(ctx, run, fields, opts)
	}
	result, err := g.Step(ctx, before)
	if err != nil && cachedCredentials {
		return r.retryWithoutCache(run.Namespace, fields.Run, err)
	}
	if err != nil {
		ownSource := opts.SourceKeychain == nil && sameRegistry(fields.Run)
		return classifyStepError(before.Phase, err, ownSource)
	}

	if before.Phase == gate.PhaseScan && result.Result == nil {
		result.Wait = r.scanWait(ctx, fields.Run, result.State.Scan, result.Wait)
	}
	return r.record(ctx, run, fields, before, result)
}

// retryWithoutCache drops the cached Harbor credentials after a scan poll that used them
// failed. A transient error goes back to the work queue as it is. Any other error, such
// as HTTP 401 after the credentials were rotated, is returned as transient once, so the
// work queue repeats the poll with a fresh GET of the Secret. A second failure then ends
// the run as it would have without the cache.
func (r *Reconciler) retryWithoutCache(namespace string, spec *RunSpec, err error) error {
	r.secrets.forget(types.NamespacedName{Namespace: namespace,
		Name: spec.Spec.Harbor.CredentialsSecret})
	if isTransient(err) {
		return classifyStepError(gate.PhaseScan, err, false)
	}
	return fmt.Errorf("phase %s failed with Harbor credentials cached for up to %s; "+
		"repeating it with a fresh read of Secret %s/%s: %w", phaseName(gate.PhaseScan),
		secretCacheTTL, namespace, spec.Spec.Harbor.CredentialsSecret, err)
}

// sameRegistry reports whether the source is in the target's registry, which the gate
// reads with Harbor's credentials unless a source credentials Secret is named.
func sameRegistry(spec *RunSpec) bool {
	source, err := name.ParseReference(spec.Source)
	if err != nil {
		return false
	}
	target, err := gate.ParseTarget(spec.Target)
	return err == nil && source.Context().RegistryStr() == target.Repo.RegistryStr()
}

// hasSideEffects reports whether a phase writes to the registry.
func hasSideEffects(phase gate.Phase) bool {
	return phase == gate.PhasePush || phase == gate.PhaseSign
}

// isStale reports whether the API server holds a later state of the run than the informer
// copy this reconcile works on. That happens when a reconcile starts between a status
// update and the informer's receipt of it. Repeating Push or Sign from the older state
// would push or sign a second time, so the reconcile then does nothing and waits for the
// update, which enqueues the run again.
func (r *Reconciler) isStale(ctx context.Context, run *v1beta1.CustomRun,
	fields *ExtraFields) (bool, error) {
	latest, err := r.pipelineClient.TektonV1beta1().CustomRuns(run.Namespace).
		Get(ctx, run.Name, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("reading CustomRun %s/%s: %w", run.Namespace, run.Name, err)
	}
	latestFields, err := readExtraFields(latest)
	if err != nil {
		return false, err
	}
	return latest.IsDone() || latestFields.State.Phase != fields.State.Phase ||
		len(latest.Status.RetriesStatus) != len(run.Status.RetriesStatus), nil
}

// withRunDeadline bounds a phase by the time left until the run's timeout. The time left
// is measured on r.clock, and the context counts it down on the system clock.
func (r *Reconciler) withRunDeadline(ctx context.Context, run *v1beta1.CustomRun) (
	context.Context, context.CancelFunc) {
	if run.GetTimeout() <= 0 {
		return context.WithCancel(ctx)
	}
	remaining := run.Status.StartTime.Add(run.GetTimeout()).Sub(r.clock.Now())
	return context.WithTimeout(ctx, remaining)
}

// untilTimeout shortens a requeue delay so that the run is reconciled just after its
// timeout passes. CustomRun.HasTimedOut counts a run as timed out only strictly after the
// deadline, hence the extra millisecond.
func (r *Reconciler) untilTimeout(run *v1beta1.CustomRun, delay time.Duration) time.Duration {
	if run.GetTimeout() <= 0 || run.Status.StartTime == nil {
		return delay
	}
	remaining := run.Status.StartTime.Add(run.GetTimeout()).Sub(r.clock.Now())
	return min(delay, max(remaining, 0)+time.Millisecond)
}

func closeIdleConnections(transport http.RoundTripper) {
	if t, ok := transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// record stores the outcome of a phase, emits its events and sets the condition.
func (r *Reconciler) record(ctx context.Context, run *v1beta1.CustomRun, fields *ExtraFields,
	before gate.State, result gate.StepResult) error {
	fields.State = result.State
	fields.NextStepAfter = time.Time{}
	if result.Wait > 0 {
		fields.NextStepAfter = r.clock.Now().Add(result.Wait)
	}
	if err := writeExtraFields(run, fields); err != nil {
		return err
	}
	r.recordPhase(ctx, run, fields.Run, before, result)
	if result.Result != nil {
		if err := r.complete(ctx, run, fields.Run.Spec.OnFail, result.Result); err != nil {
			return err
		}
		r.relay.send(verdictEvent(run, fields.Run, result.Result))
		return nil
	}
	run.Status.MarkCustomRunRunning(ReasonRunning, "%s", progressMessage(fields))
	if result.Wait > 0 {
		return controller.NewRequeueAfter(r.untilTimeout(run, result.Wait))
	}
	// The status update of this reconcile enqueues the run again, and that reconcile
	// reads the new state from the informer.
	return nil
}

// recordPhase emits the Event of a finished phase and logs it.
func (r *Reconciler) recordPhase(ctx context.Context, run *v1beta1.CustomRun, spec *RunSpec,
	before gate.State, result gate.StepResult) {
	state := result.State
	switch {
	case before.Phase == gate.PhasePush:
		r.event(ctx, run, corev1.EventTypeNormal, EventPushed, "pushed %s to %s@%s",
			spec.Source, spec.Target, state.Digest)
	case before.Phase == gate.PhaseSign && state.SignatureRef != "":
		r.event(ctx, run, corev1.EventTypeNormal, EventSigned, "signed %s, signature stored at %s",
			state.Digest, state.SignatureRef)
	case before.Phase == gate.PhaseScan && before.Scan.Polls == 0:
		r.event(ctx, run, corev1.EventTypeNormal, EventScanStarted,
			"waiting for Harbor's scan of %s", state.Digest)
	}
	logger := logging.FromContext(ctx).With(
		zap.String(logKeyPhase, string(phaseName(before.Phase))),
		zap.String(logKeyDigest, state.Digest))
	if before.Phase == state.Phase && result.Result == nil {
		logger.Debugw("Waiting for the scan", zap.Duration(logKeyWait, result.Wait))
		return
	}
	logger.Infow("Phase finished", zap.String(logKeyNextPhase, string(state.Phase)))
}

func progressMessage(fields *ExtraFields) string {
	state, spec := fields.State, fields.Run
	switch state.Phase {
	case gate.PhasePush:
		return fmt.Sprintf("Harbor %s answers; pushing %s to %s", spec.Spec.Harbor.URL,
			spec.Source, spec.Target)
	case gate.PhaseSign:
		return fmt.Sprintf("pushed %s; signing it", state.Digest)
	}
	status := string(state.Scan.LastStatus)
	if status == "" {
		status = "no scan yet"
	}
	return fmt.Sprintf("waiting for Harbor's scan of %s: %s after %d polls", state.Digest,
		status, state.Scan.Polls)
}

// waitForSecret keeps the run running while a Secret it needs is missing, and checks
// again after a delay. The run's timeout ends the wait.
func (r *Reconciler) waitForSecret(ctx context.Context, run *v1beta1.CustomRun,
	fields *ExtraFields, missing *secretMissingError) error {
	delay := min(max(r.clock.Since(run.Status.StartTime.Time), minSecretWait), maxSecretWait)
	fields.NextStepAfter = r.clock.Now().Add(delay)
	if err := writeExtraFields(run, fields); err != nil {
		return err
	}
	run.Status.MarkCustomRunRunning(ReasonSecretNotFound,
		"%v; create it in the run's namespace, the run checks again at least every %s",
		missing, maxSecretWait)
	logging.FromContext(ctx).Infow("Waiting for a Secret", zap.String(logKeyReason,
		missing.Error()), zap.Duration(logKeyWait, delay))
	return controller.NewRequeueAfter(r.untilTimeout(run, delay))
}

// handle turns the outcome of advance into the run's condition and the reconciler's
// return value. A failure ends the attempt and returns nil, and a requeue passes through.
// Any other error is transient and goes back to the work queue for a rate-limited retry.
func (r *Reconciler) handle(ctx context.Context, run *v1beta1.CustomRun, err error) reconciler.Event {
	var failure *runFailure
	switch {
	case err == nil:
		return nil
	case errors.As(err, &failure) && failure.retryable:
		r.retryOrFail(ctx, run, failure.reason, failure.message)
		return nil
	case errors.As(err, &failure):
		r.fail(ctx, run, failure.reason, failure.message)
		return nil
	}
	if requeue, _ := controller.IsRequeueKey(err); requeue {
		return err
	}
	// Keeping the first message while the error repeats leaves the status unchanged, so
	// no status update enqueues the run ahead of the work queue's backoff.
	if cond := run.Status.GetCondition(apis.ConditionSucceeded); cond == nil ||
		cond.Reason != ReasonTransientError {
		run.Status.MarkCustomRunRunning(ReasonTransientError, "retrying after: %s",
			shorten(err.Error()))
	}
	logging.FromContext(ctx).Warnw("Retrying after a transient error", zap.Error(err))
	return err
}
