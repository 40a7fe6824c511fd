package imagegate

import (
	"context"
	"sync"
	"time"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"go.uber.org/zap"

	"github.com/druppie/harbor-gate/pkg/events"
	"github.com/druppie/harbor-gate/pkg/gate"
)

// relayCloseWait bounds how long a relay that is replaced or shut down may take to send
// the events still queued.
const relayCloseWait = 30 * time.Second

// verdictRelay keeps one events.Relay for the sink URL that config-harbor-gate names and
// sends each verdict through it. The relay is created when the URL first appears, replaced
// when the URL changes, and closed when the URL is removed or the controller stops.
type verdictRelay struct {
	logger *zap.SugaredLogger
	opts   []events.RelayOption

	mu      sync.Mutex
	sink    string
	relay   *events.Relay
	stopped bool
	// closing counts the relays that were replaced and still send their queued events.
	closing sync.WaitGroup
}

func newVerdictRelay(logger *zap.SugaredLogger, opts ...events.RelayOption) *verdictRelay {
	v := &verdictRelay{logger: logger}
	onError := events.WithErrorHandler(func(err error) {
		logger.Warnw("Sending a verdict event failed", zap.Error(err))
	})
	v.opts = append([]events.RelayOption{onError}, opts...)
	return v
}

// configure switches the relay to sink, or turns it off for an empty sink. The config
// store calls it for every valid change of config-harbor-gate. A replaced relay sends
// its queued events in the background.
func (v *verdictRelay) configure(sink string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stopped || sink == v.sink {
		return
	}
	v.closeInBackground(v.relay)
	v.sink, v.relay = sink, nil
	if sink == "" {
		v.logger.Infow("Verdict events are off because core-sink-url is empty")
		return
	}
	relay, err := events.NewRelay(sink, v.opts...)
	if err != nil {
		// The store validated the URL, so this is not expected.
		v.logger.Errorw("Verdict events are off", zap.Error(err))
		return
	}
	v.relay = relay
	v.logger.Infow("Sending verdict events to the core sink")
}

// closeInBackground closes a replaced relay without holding up the config store. The
// caller holds v.mu.
func (v *verdictRelay) closeInBackground(relay *events.Relay) {
	if relay == nil {
		return
	}
	v.closing.Add(1)
	go func() {
		defer v.closing.Done()
		ctx, cancel := context.WithTimeout(context.Background(), relayCloseWait)
		defer cancel()
		if err := relay.Close(ctx); err != nil {
			v.logger.Warnw("Closing the previous verdict relay", zap.Error(err))
		}
	}()
}

// send queues the event and returns at once. It does nothing while no sink is set.
func (v *verdictRelay) send(ev events.Event) {
	v.mu.Lock()
	relay := v.relay
	v.mu.Unlock()
	if relay == nil {
		return
	}
	if err := relay.Send(ev); err != nil {
		v.logger.Warnw("Queueing a verdict event failed", zap.Error(err))
	}
}

// stop closes the current relay and waits for the replaced ones, each for at most
// relayCloseWait. Later configure calls do nothing.
func (v *verdictRelay) stop() {
	v.mu.Lock()
	v.stopped = true
	v.closeInBackground(v.relay)
	v.relay = nil
	v.mu.Unlock()
	v.closing.Wait()
}

// verdictEvent returns the CloudEvent of a verdict. Its id is the CustomRun's UID, so the
// core service can drop a verdict that a repeated reconcile sent twice.
func verdictEvent(run *v1beta1.CustomRun, spec *RunSpec, res *gate.Result) events.Event {
	image := res.ImageURL
	if target, err := gate.ParseTarget(spec.Target); err == nil {
		image = target.Repo.Name()
	}
	verdict := events.VerdictFail
	if res.Verdict.Passed() {
		verdict = events.VerdictPass
	}
	ev := events.Event{
		ID:     string(run.UID),
		Source: events.CustomRunSource(run.Namespace, run.Name),
		Data: events.VerdictData{
			Image:       image,
			Digest:      res.Digest,
			Verdict:     verdict,
			Reason:      string(res.Verdict.Reason) + ": " + res.Verdict.Message(),
			Counts:      res.Counts,
			PipelineRun: run.Labels[pipeline.PipelineRunLabelKey],
			Namespace:   run.Namespace,
			ArtifactURL: res.ArtifactURL,
		},
	}
	if run.Status.CompletionTime != nil {
		ev.Time = run.Status.CompletionTime.Time
	}
	return ev
}
