package imagegate

import (
	"context"
	"time"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"go.uber.org/zap"
	"knative.dev/pkg/logging"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/harbor"
)

// runKey returns the work queue key of a run, "<namespace>/<name>".
func runKey(run *v1beta1.CustomRun) string {
	return run.Namespace + "/" + run.Name
}

// wokenByWebhook reports whether a Harbor webhook delivery woke the run since its last
// scan poll, and clears the wake-up. Only a run in the scan phase can be woken.
func (r *Reconciler) wokenByWebhook(run *v1beta1.CustomRun, fields *ExtraFields) bool {
	return fields.State.Phase == gate.PhaseScan && r.webhooks.takeWake(runKey(run))
}

// registerScan records the digests whose scan events wake the run, before the run polls,
// so that a scan that ends after the poll read it wakes the run. The digests of an image
// index are read from Harbor once per attempt and kept in fields. When that read fails,
// the run waits for the index digest alone, whose webhook never comes, and tries again
// on its next poll.
func (r *Reconciler) registerScan(ctx context.Context, run *v1beta1.CustomRun,
	fields *ExtraFields, opts gate.Options) {
	if !r.webhooks.enabled {
		return
	}
	digest := fields.State.Digest
	if fields.ScanDigests == nil {
		digests, err := r.readScanDigests(ctx, opts, digest)
		if err != nil {
			logging.FromContext(ctx).Warnw("Reading the image's child digests for webhooks "+
				"failed; polling covers them", zap.String(logKeyDigest, digest), zap.Error(err))
			r.webhooks.register(runKey(run), []string{digest})
			return
		}
		fields.ScanDigests = digests
	}
	r.webhooks.register(runKey(run), fields.ScanDigests)
}

func (r *Reconciler) readScanDigests(ctx context.Context, opts gate.Options, digest string) (
	[]string, error) {
	client, err := harbor.NewClient(harbor.Config{
		URL:       opts.HarborURL,
		Username:  opts.Username,
		Password:  opts.Password,
		Transport: opts.Transport,
	})
	if err != nil {
		return nil, err
	}
	ref := harbor.ArtifactRef{Project: opts.Target.Project,
		Repository: opts.Target.Repository, Digest: digest}
	return scanDigests(ctx, client, ref)
}

// scanWait returns the delay before the next scan poll. While webhooks are enabled, a
// delivery wakes the run when the scan ends, so the poll that the gate asked for is
// pushed back to the fallback interval from config-harbor-gate. Without webhooks, a delay
// that the gate's jitter drew just below the maximum poll interval is mirrored above it
// (see jitterUpward). The gate's own delay stays before a scan has started, because the
// controller must start the scan when the grace period ends, and after a failed read.
// The scan timeout also ends the wait on time.
func (r *Reconciler) scanWait(ctx context.Context, spec *RunSpec, scan harbor.WaitState,
	wait time.Duration) time.Duration {
	if wait <= 0 || scan.LastError != "" {
		return wait
	}
	if scan.LastStatus != harbor.ScanPending && scan.LastStatus != harbor.ScanRunning {
		return wait
	}
	timeout := harbor.DefaultScanTimeout
	if spec.Spec.Scan.Timeout != nil {
		timeout = spec.Spec.Scan.Timeout.Duration
	}
	untilTimeout := scan.FirstSeen.Add(timeout).Sub(r.clock.Now())
	next := v1alpha1.DefaultsFromContext(ctx).WebhookFallbackPollInterval
	if !r.webhooks.enabled {
		maxInterval := harbor.DefaultMaxInterval
		if spec.Spec.Scan.MaxPollInterval != nil {
			maxInterval = spec.Spec.Scan.MaxPollInterval.Duration
		}
		next = jitterUpward(wait, maxInterval)
	}
	return max(wait, min(next, untilTimeout))
}

// pollJitter is the largest relative change of a poll delay by the jitter of
// harbor.PollScan, +-20% in pkg/harbor, which then caps the delay at the maximum interval.
const pollJitter = 0.2

// jitterUpward mirrors a delay that lies within the jitter below maxInterval to the same
// distance above it, so that once the backoff reaches the maximum the jitter only
// lengthens the delay, by up to 20%. With the gate's jitter alone, half the polls at the
// maximum come early: at the default 30 s a waiting run polls about 2.1 times a minute,
// and with the mirror about 1.9 times (estimates from the uniform jitter).
func jitterUpward(wait, maxInterval time.Duration) time.Duration {
	low := maxInterval - time.Duration(pollJitter*float64(maxInterval))
	if wait < low || wait >= maxInterval {
		return wait
	}
	return 2*maxInterval - wait
}
