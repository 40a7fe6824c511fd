package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/druppie/harbor-gate/pkg/events"
	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/harbor"
)

// notifyTimeout bounds the whole notification, retries included, so that
// an unreachable sink cannot hold up a pipeline step for long.
const notifyTimeout = time.Minute

// newNotifier checks --notify and returns a relay for it, or nil when the
// flag is empty. It runs before the push, so a malformed URL is a usage
// error that costs nothing.
func newNotifier(sink string) (*events.Relay, error) {
	if sink == "" {
		return nil, nil
	}
	relay, err := events.NewRelay(sink)
	if errors.Is(err, events.ErrInvalidConfig) {
		return nil, usagef("invalid --notify %q: %v", harbor.RedactURL(sink), err)
	}
	if err != nil {
		return nil, fmt.Errorf("setting up --notify: %w", err)
	}
	return relay, nil
}

// notify sends the verdict as a CloudEvent and waits for the sink to
// accept it. A failure is reported on stderr and does not change the exit
// code, which stays the verdict's.
func notify(ctx context.Context, relay *events.Relay, stderr io.Writer, target gate.Target,
	res *gate.Result) {
	if relay == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	verdict := events.VerdictFail
	if res.Verdict.Passed() {
		verdict = events.VerdictPass
	}
	err := relay.SendNow(ctx, events.Event{
		Source: events.SourceCLI,
		Data: events.VerdictData{
			Image:       target.Repo.Name(),
			Digest:      res.Digest,
			Verdict:     verdict,
			Reason:      string(res.Verdict.Reason) + ": " + res.Verdict.Message(),
			Counts:      res.Counts,
			ArtifactURL: res.ArtifactURL,
		},
	})
	if err != nil {
		fmt.Fprintf(stderr, "warning: sending the verdict to --notify failed: %v\n", err)
		return
	}
	fmt.Fprintln(stderr, "notified the verdict")
}
