package gate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/policy"
	"github.com/druppie/harbor-gate/pkg/registry"
	"github.com/druppie/harbor-gate/pkg/signing"
)

// Phase names a step of a run.
type Phase string

// The phases of a run, in order. The zero Phase is PhaseResolve.
const (
	// PhaseResolve checks that Harbor responds and that the credentials may
	// use the project.
	PhaseResolve Phase = "Resolve"
	// PhasePush copies the image into the target repository.
	PhasePush Phase = "Push"
	// PhaseSign signs the pushed digest and verifies the signature.
	PhaseSign Phase = "Sign"
	// PhaseScan waits for Harbor's scan of the digest and judges it.
	PhaseScan Phase = "Scan"
)

// State is the progress of a run. A controller stores it between steps so
// that a restarted controller continues from it, hence the JSON tags.
type State struct {
	// Phase is the next phase to run.
	Phase Phase `json:"phase,omitempty"`
	// ProjectID is the Harbor project's numeric id, for the web link.
	ProjectID int64 `json:"projectID,omitempty"`
	// Digest is the digest the registry returned for the push.
	Digest string `json:"digest,omitempty"`
	// SignatureRef is the reference the signature was stored under.
	SignatureRef string `json:"signatureRef,omitempty"`
	// Scan is the progress of the scan wait of an image. An index waits for each platform
	// image in Platforms instead.
	Scan harbor.WaitState `json:"scan,omitzero"`
	// SignatureFormat is the format the run signs in: "tag" or "referrers".
	SignatureFormat string `json:"signatureFormat,omitempty"`
	// Platforms are the platform images of a pushed index, which are signed and judged one
	// by one. It is empty for an image.
	Platforms []PlatformState `json:"platforms,omitempty"`
}

// StepResult is the outcome of one Step.
type StepResult struct {
	// State is the state to pass to the next Step.
	State State
	// Wait is how long to wait before the next Step; zero means at once.
	Wait time.Duration
	// Result is set when the run reached its verdict; it is the last step.
	Result *Result
}

// Step runs the phase recorded in state once and returns the new state.
// Each phase is safe to repeat after a crash before its state was stored:
// a second push of the same image uploads nothing and writes no manifest
// when the tag already points at its digest, and signing the same digest
// with the same key adds no second signature.
func (g *Gate) Step(ctx context.Context, state State) (StepResult, error) {
	switch state.Phase {
	case "", PhaseResolve:
		return g.resolve(ctx, state)
	case PhasePush:
		return g.push(ctx, state)
	case PhaseSign:
		return g.sign(ctx, state)
	case PhaseScan:
		return g.scan(ctx, state)
	default:
		return StepResult{}, fmt.Errorf("unknown phase %q in the run's state", state.Phase)
	}
}

// resolve checks that Harbor responds and that the credentials may use the
// project, before anything is pushed.
func (g *Gate) resolve(ctx context.Context, state State) (StepResult, error) {
	// Open the source first, so that a mistyped path is reported as such
	// even when Harbor is unreachable.
	src, err := g.openSource(ctx)
	if err != nil {
		return StepResult{}, err
	}
	src.Close()
	if err := g.harbor.Ping(ctx); err != nil {
		return StepResult{}, fmt.Errorf("reaching Harbor at %s: %w", g.opts.HarborURL, err)
	}
	t := g.opts.Target
	if err := g.harbor.CheckRepositoryAccess(ctx, t.Project, t.Repository); err != nil {
		return StepResult{}, fmt.Errorf("checking Harbor project %q: %w", t.Project, err)
	}
	version, now, err := g.readHarborFacts(ctx)
	if err != nil {
		return StepResult{}, err
	}
	format := chooseSignatureFormat(g.opts.SignatureFormat, version)
	g.emit(PhaseResolve, "Harbor %s (version %q) responds, project %s is accessible; "+
		"signatures use the %s format", g.opts.HarborURL, version, t.Project, format)
	state.SignatureFormat = string(format)
	state.Scan.NotBefore = now
	state.Phase = PhasePush
	return StepResult{State: state}, nil
}

// push copies the source to the target. A repeated Push, after a crash or a failed step,
// writes no second manifest when the target tag already points at the source's digest.
func (g *Gate) push(ctx context.Context, state State) (StepResult, error) {
	g.emit(PhasePush, "pushing %s to %s", g.opts.Source, g.opts.Target)
	src, err := g.openSource(ctx)
	if err != nil {
		return StepResult{}, err
	}
	defer src.Close()
	var target name.Reference = src.DigestIn(g.opts.Target.Repo)
	if g.opts.Target.Tag != "" {
		target = g.opts.Target.Repo.Tag(g.opts.Target.Tag)
	}
	lookup := &tagLookup{harbor: g.harbor, artifactRef: g.artifactRef}
	res, err := registry.Push(ctx, src, target,
		registry.WithAuth(g.auth),
		registry.WithTransport(g.opts.Transport),
		registry.WithProgress(g.opts.Progress),
		registry.WithTagLookup(lookup.lookup))
	if err != nil {
		return StepResult{}, fmt.Errorf("pushing to %s: %w", g.opts.Target, policyRefusal(err))
	}
	artifact, err := g.pushedArtifact(ctx, lookup.found, res.Digest.DigestStr())
	if err != nil {
		return StepResult{}, err
	}
	g.emit(PhasePush, "%s", pushedMessage(target, res))
	if len(res.Children) > 0 {
		state.Platforms = platformStates(artifact.References, res.Platforms)
		for i := range state.Platforms {
			state.Platforms[i].Scan.NotBefore = state.Scan.NotBefore
		}
		g.emit(PhasePush, "the index has %d platform images", len(state.Platforms))
	}
	state.ProjectID = artifact.ProjectID
	state.Digest = res.Digest.DigestStr()
	state.Phase = PhaseSign
	return StepResult{State: state}, nil
}

// pushedMessage describes the outcome of a push to target.
func pushedMessage(target name.Reference, res *registry.Result) string {
	switch {
	case !res.AlreadyPushed:
		return "pushed " + res.Digest.String()
	case res.Tag == "":
		return fmt.Sprintf("%s is already in the repository, so no manifest was written",
			res.Digest)
	}
	return fmt.Sprintf("%s already points at %s, so no manifest was written", target,
		res.Digest.DigestStr())
}

// pushedArtifact returns Harbor's artifact of the pushed digest: found, when the tag
// lookup of the push read it already, or else read by digest. Harbor records an artifact
// when the manifest PUT succeeds, so reading it back confirms that and gives the project
// id for the link to Harbor's web interface.
func (g *Gate) pushedArtifact(ctx context.Context, found *models.Artifact,
	digest string) (*models.Artifact, error) {
	if found != nil && found.Digest == digest {
		return found, nil
	}
	artifact, err := g.harbor.Artifact(ctx, g.artifactRef(digest))
	if err != nil {
		return nil, fmt.Errorf("reading the pushed artifact from Harbor: %w", err)
	}
	return artifact, nil
}

func (g *Gate) sign(ctx context.Context, state State) (StepResult, error) {
	state.Phase = PhaseScan
	if g.opts.SkipSign {
		g.emit(PhaseSign, "signing skipped")
		return StepResult{State: state}, nil
	}
	opts := []signing.Option{
		signing.WithAuth(g.auth),
		signing.WithTransport(g.opts.Transport),
		signing.WithFormat(signing.Format(state.SignatureFormat)),
	}
	if state.SignatureFormat == "" {
		// A state stored before the format was recorded signed in the tag scheme.
		opts[2] = signing.WithFormat(signing.FormatTag)
	}
	if g.opts.TransparencyLogURL != "" {
		opts = append(opts, signing.WithTransparencyLog(g.opts.TransparencyLogURL))
	}
	sig, err := g.signAndVerify(ctx, state.Digest, opts)
	if err != nil {
		return StepResult{}, err
	}
	// Harbor 2.13 does not carry an index's signature over to its children, so each
	// platform image gets its own for projects that allow only signed pulls.
	for _, p := range state.Platforms {
		if _, err := g.signAndVerify(ctx, p.Digest, opts); err != nil {
			return StepResult{}, err
		}
	}
	state.SignatureRef = sig.Ref.String()
	if sig.Format == signing.FormatReferrers {
		state.SignatureRef = sig.Digest.String()
	}
	g.emit(PhaseSign, "signed and verified, signature at %s", state.SignatureRef)
	return StepResult{State: state}, nil
}

// signAndVerify signs one digest of the target repository and verifies the signature.
func (g *Gate) signAndVerify(ctx context.Context, digestStr string,
	opts []signing.Option) (*signing.Signature, error) {
	digest := g.opts.Target.Repo.Digest(digestStr)
	sig, err := signing.Sign(ctx, digest, g.opts.Key, opts...)
	if err != nil {
		return nil, g.signatureRefusal(digest.String(), err)
	}
	if _, err := signing.Verify(ctx, digest, g.opts.Key.Verifier(), opts...); err != nil {
		return nil, fmt.Errorf("verifying the signature of %s: %w", digest, policyRefusal(err))
	}
	return sig, nil
}

// scan polls the scan of the pushed digest once. A final status yields
// the verdict; scans that fail, time out or can never happen become FAIL
// verdicts, not errors.
func (g *Gate) scan(ctx context.Context, state State) (StepResult, error) {
	if len(state.Platforms) > 0 {
		return g.scanPlatforms(ctx, state)
	}
	ref := g.artifactRef(state.Digest)
	if state.Scan.Polls == 0 {
		g.emit(PhaseScan, "waiting for Harbor's scan of %s", state.Digest)
	}
	previous, previousError := state.Scan.LastStatus, state.Scan.LastError
	scan, wait, delay, err := g.harbor.PollScan(ctx, ref, state.Scan, g.opts.Wait)
	state.Scan = wait
	if wait.LastStatus != previous && wait.LastStatus != "" {
		g.emit(PhaseScan, "scan status %s", wait.LastStatus)
	}
	if wait.LastError != "" && wait.LastError != previousError {
		g.emit(PhaseScan, "reading the scan failed, retrying: %s", wait.LastError)
	}
	var verdict policy.Verdict
	switch {
	case errors.Is(err, harbor.ErrScanTimeout):
		verdict = policy.Failed(policy.ReasonTimedOut, err.Error())
	case errors.Is(err, harbor.ErrNotScannable):
		verdict = policy.Failed(policy.ReasonNotScannable, err.Error())
	case err != nil:
		return StepResult{}, fmt.Errorf("waiting for the scan of %s: %w", ref, err)
	case delay > 0:
		return StepResult{State: state, Wait: delay}, nil
	default:
		if verdict, err = g.evaluate(ctx, ref, scan); err != nil {
			return StepResult{}, err
		}
	}
	g.emit(PhaseScan, "%s: %s", verdict.Result, verdict.Message())
	return StepResult{State: state, Result: g.result(state, scan, verdict)}, nil
}

// evaluate judges a final scan. A policy that needs the vulnerability list
// reads it in one more request. That happens once per run, because the
// verdict ends the run, unless the request fails and the caller repeats the
// step. A scan that did not succeed fails without the list.
func (g *Gate) evaluate(ctx context.Context, ref harbor.ArtifactRef,
	scan harbor.Scan) (policy.Verdict, error) {
	report := policy.Report{
		Status:          string(scan.Status),
		Counts:          scan.Counts,
		CompletePercent: scan.CompletePercent,
	}
	if g.opts.Policy.NeedsVulnerabilities() && scan.Status == harbor.ScanSuccess {
		list, err := g.harbor.Vulnerabilities(ctx, ref)
		if err != nil {
			return policy.Verdict{}, fmt.Errorf("reading the vulnerability list of %s: %w",
				ref, err)
		}
		report.Vulnerabilities = make([]policy.Vulnerability, len(list))
		for i, v := range list {
			report.Vulnerabilities[i] = policy.Vulnerability{ID: v.ID, Package: v.Package,
				Version: v.Version, FixVersion: v.FixVersion, Severity: v.Severity}
		}
	}
	return g.opts.Policy.EvaluateAt(report, g.now()), nil
}

// now returns the time of Wait.Clock, or of the system clock by default.
func (g *Gate) now() time.Time {
	if g.opts.Wait.Clock != nil {
		return g.opts.Wait.Clock.Now()
	}
	return time.Now()
}

func (g *Gate) openSource(ctx context.Context) (*registry.Source, error) {
	src, err := registry.Open(ctx, g.opts.Source, registry.WithTransport(g.opts.Transport),
		registry.WithSourceKeychain(g.opts.SourceKeychain))
	if err != nil {
		return nil, fmt.Errorf("opening source: %w", err)
	}
	return src, nil
}

func (g *Gate) artifactRef(digest string) harbor.ArtifactRef {
	return harbor.ArtifactRef{
		Project:    g.opts.Target.Project,
		Repository: g.opts.Target.Repository,
		Digest:     digest,
	}
}

func (g *Gate) result(state State, scan harbor.Scan, verdict policy.Verdict) *Result {
	counts := scan.Counts
	if counts == nil {
		counts = map[string]int64{}
	}
	return &Result{
		Verdict:      verdict,
		ImageURL:     g.opts.Target.String(),
		Digest:       state.Digest,
		Counts:       counts,
		SignatureRef: state.SignatureRef,
		ArtifactURL: ArtifactURL(g.opts.HarborURL, state.ProjectID, g.opts.Target.Repository,
			state.Digest),
		Scan: scan,
	}
}
