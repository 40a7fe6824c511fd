package gate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/policy"
)

// PlatformState is the progress of one platform image of an index.
type PlatformState struct {
	// Platform is the image's platform, such as "linux/arm64/v8".
	Platform string `json:"platform"`
	// Digest is the image's manifest digest.
	Digest string `json:"digest"`
	// Scan is the progress of the wait for the image's scan.
	Scan harbor.WaitState `json:"scan,omitzero"`
}

// platformStates lists the platform images of a pushed index from the references Harbor
// recorded for it, with the platform Harbor read. It leaves out children whose platform
// is unknown/unknown and those the source marks as attestations (pushed lists the others).
// Harbor lists no accessories among the references.
func platformStates(references []*models.Reference, pushed []v1.Descriptor) []PlatformState {
	images := map[string]bool{}
	for _, d := range pushed {
		images[d.Digest.String()] = true
	}
	var states []PlatformState
	for _, ref := range references {
		if ref == nil || ref.Platform == nil || !images[ref.ChildDigest] {
			continue
		}
		p := ref.Platform
		if p.Os == "unknown" && p.Architecture == "unknown" {
			continue
		}
		name := p.Os + "/" + p.Architecture
		if p.Variant != "" {
			name += "/" + p.Variant
		}
		states = append(states, PlatformState{Platform: name, Digest: ref.ChildDigest})
	}
	return states
}

// platformPoll is the outcome of polling one platform image's scan.
type platformPoll struct {
	scan    harbor.Scan
	delay   time.Duration
	verdict *policy.Verdict // set when the wait ended without a usable scan
}

// scanPlatforms polls the scan of every platform image of an index once, with one request
// each, and returns the verdict once every scan is final. Harbor's index overview merges
// Success with Error and hides which platform failed, so the index is judged by its
// platform images and never by that overview.
func (g *Gate) scanPlatforms(ctx context.Context, state State) (StepResult, error) {
	if state.Platforms[0].Scan.Polls == 0 {
		g.emit(PhaseScan, "waiting for Harbor's scans of the %d platform images of %s",
			len(state.Platforms), state.Digest)
	}
	polls := make([]platformPoll, len(state.Platforms))
	var delay time.Duration
	for i := range state.Platforms {
		p := &state.Platforms[i]
		poll, err := g.pollPlatform(ctx, p)
		if err != nil {
			return StepResult{}, err
		}
		polls[i] = poll
		if poll.delay > 0 && (delay == 0 || poll.delay < delay) {
			delay = poll.delay
		}
	}
	state.Scan = summarizeWaits(state.Scan, state.Platforms)
	if delay > 0 {
		return StepResult{State: state, Wait: delay}, nil
	}
	return g.judgePlatforms(ctx, state, polls)
}

// summarizeWaits keeps the index's own wait state as a summary of its platforms' waits,
// for callers that report progress from State.Scan: one poll per step, the earliest
// first poll, and the status of the first platform whose scan is not final, or else of
// the first platform.
func summarizeWaits(summary harbor.WaitState, platforms []PlatformState) harbor.WaitState {
	summary.Polls++
	summary.LastStatus = platforms[0].Scan.LastStatus
	summary.LastError = ""
	for _, p := range platforms {
		if summary.FirstSeen.IsZero() || p.Scan.FirstSeen.Before(summary.FirstSeen) {
			summary.FirstSeen = p.Scan.FirstSeen
		}
		if p.Scan.LastError != "" && summary.LastError == "" {
			summary.LastError = p.Platform + ": " + p.Scan.LastError
		}
	}
	for _, p := range platforms {
		if !p.Scan.LastStatus.Final() {
			summary.LastStatus = p.Scan.LastStatus
			break
		}
	}
	return summary
}

// pollPlatform does one step of the wait for a platform image's scan.
func (g *Gate) pollPlatform(ctx context.Context, p *PlatformState) (platformPoll, error) {
	previous := p.Scan.LastStatus
	ref := g.artifactRef(p.Digest)
	scan, wait, delay, err := g.harbor.PollScan(ctx, ref, p.Scan, g.opts.Wait)
	p.Scan = wait
	if wait.LastStatus != previous && wait.LastStatus != "" {
		g.emit(PhaseScan, "%s: scan status %s", p.Platform, wait.LastStatus)
	}
	poll := platformPoll{scan: scan, delay: delay}
	switch {
	case errors.Is(err, harbor.ErrScanTimeout):
		v := policy.Failed(policy.ReasonTimedOut, err.Error())
		poll.verdict = &v
	case errors.Is(err, harbor.ErrNotScannable):
		v := policy.Failed(policy.ReasonNotScannable, err.Error())
		poll.verdict = &v
	case err != nil:
		return platformPoll{}, fmt.Errorf("waiting for the scan of %s (%s): %w", ref,
			p.Platform, err)
	}
	return poll, nil
}

// judgePlatforms evaluates every platform's final scan and combines the verdicts.
func (g *Gate) judgePlatforms(ctx context.Context, state State,
	polls []platformPoll) (StepResult, error) {
	verdicts := map[string]policy.Verdict{}
	counts := map[string]map[string]int64{}
	for i, p := range state.Platforms {
		poll := polls[i]
		verdict := poll.verdict
		if verdict == nil {
			v, err := g.evaluate(ctx, g.artifactRef(p.Digest), poll.scan)
			if err != nil {
				return StepResult{}, err
			}
			verdict = &v
		}
		verdicts[p.Platform] = *verdict
		counts[p.Platform] = nonNilCounts(poll.scan.Counts)
	}
	verdict := policy.Combine(verdicts)
	g.emit(PhaseScan, "%s: %s", verdict.Result, verdict.Message())
	result := g.result(state, worstScan(state, polls, verdicts), verdict)
	result.Counts = maxCounts(counts)
	result.PlatformCounts = counts
	return StepResult{State: state, Result: result}, nil
}

// worstScan returns the scan of the first platform whose verdict is the combined one's
// reason, or the first platform's scan when all passed.
func worstScan(state State, polls []platformPoll, verdicts map[string]policy.Verdict) harbor.Scan {
	combined := policy.Combine(verdicts)
	for i, p := range state.Platforms {
		if v := verdicts[p.Platform]; v.Result == policy.Fail && v.Reason == combined.Reason {
			return polls[i].scan
		}
	}
	return polls[0].scan
}

// maxCounts returns, for each severity, the largest count among the platforms. The same
// finding usually occurs in every platform image, so a sum would count it several times.
func maxCounts(platforms map[string]map[string]int64) map[string]int64 {
	counts := map[string]int64{}
	for _, c := range platforms {
		for severity, n := range c {
			counts[severity] = max(counts[severity], n)
		}
	}
	return counts
}

func nonNilCounts(counts map[string]int64) map[string]int64 {
	if counts == nil {
		return map[string]int64{}
	}
	return maps.Clone(counts)
}
