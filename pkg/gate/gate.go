package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/policy"
	"github.com/druppie/harbor-gate/pkg/signing"
)

// Options configures one run. Source, Target, HarborURL and Key (or
// SkipSign) are required; the rest have working defaults.
type Options struct {
	// Source is the image to publish: a registry reference, an OCI image
	// layout directory, or a tarball, in the forms registry.Open accepts.
	Source string
	// Target is the Harbor repository the image is pushed to.
	Target Target
	// HarborURL is the base URL of Harbor's web and API endpoint, for
	// example "https://harbor.example". Its host normally matches the
	// target's registry host.
	HarborURL string
	// Username and Password authenticate to Harbor's API and registry,
	// typically as a robot account. Both empty means anonymous.
	Username, Password string
	// SourceKeychain resolves the credentials for pulling a registry
	// source. The default, nil, uses Username and Password for a source
	// in the same Harbor and pulls from any other registry anonymously,
	// so Harbor's credentials never reach another server.
	SourceKeychain authn.Keychain
	// CABundle is PEM data trusted in addition to the system roots for
	// TLS to Harbor and to the source registry.
	CABundle []byte
	// InsecureSkipVerify turns TLS certificate verification off.
	InsecureSkipVerify bool
	// Key signs the pushed digest. It must be set unless SkipSign is.
	Key *signing.Key
	// SkipSign publishes without a signature, for projects that do not
	// require one. The default is to sign.
	SkipSign bool
	// SignatureFormat is where signatures go: "tag" for cosign's sha256-<hex>.sig tag,
	// "referrers" for untagged OCI 1.1 referrers. The default, "", picks the referrers
	// format for Harbor 2.15 and later and the tag scheme otherwise, by the version Harbor
	// reports. Choose "referrers" where an immutable tag rule covers sha256-* tags.
	SignatureFormat string
	// TransparencyLogURL, when set, uploads the signature to that Rekor
	// server. The default uploads nothing and needs no network.
	TransparencyLogURL string
	// Policy judges the scan. The zero value fails on any finding, so
	// callers normally start from policy.DefaultPolicy. A policy with
	// FixableOnly or an allowlist makes the run read the vulnerability
	// list once, after the scan succeeded. Allowlist entries expire by
	// the time of Wait.Clock, which defaults to the system clock.
	Policy policy.Policy
	// Wait controls the scan wait: grace period, poll interval, timeout.
	Wait harbor.WaitOptions
	// Progress receives human-readable push progress; nil for none.
	Progress io.Writer
	// OnEvent receives a description of what each phase did; nil for none.
	OnEvent func(Event)
	// Transport carries every HTTP request. The default is built from
	// CABundle and InsecureSkipVerify by NewTransport.
	Transport http.RoundTripper
}

// Event reports the progress of a run.
type Event struct {
	Phase   Phase
	Message string
}

// Result is the outcome of a run that reached a verdict.
type Result struct {
	Verdict policy.Verdict
	// ImageURL is the pushed repository with its tag, or the bare
	// repository when the image was pushed by digest.
	ImageURL string
	// Digest is the digest the registry returned for the push.
	Digest string
	// Counts maps each severity Harbor reported to its number of
	// findings. It is empty, not nil, when the scan produced no summary.
	// For an index it holds, per severity, the largest count among its
	// platform images.
	Counts map[string]int64
	// PlatformCounts maps each platform image of an index, such as
	// "linux/amd64", to its counts. It is nil for an image.
	PlatformCounts map[string]map[string]int64
	// SignatureRef is the tag the signature was stored under, the digest
	// of its referrer manifest in the referrers format, or "".
	SignatureRef string
	// ArtifactURL links to the artifact in Harbor's web interface.
	ArtifactURL string
	// Scan is the last scan state read from Harbor.
	Scan harbor.Scan
}

// ErrInvalidOptions marks a run that could not start because of its
// options. Errors wrapping it name the option and the fix.
var ErrInvalidOptions = errors.New("invalid options")

// Gate runs the phases of one image's publication. It holds no state
// between steps: callers keep the State that Step returns.
type Gate struct {
	opts   Options
	harbor *harbor.Client
	auth   authn.Authenticator
}

// New checks opts and prepares a Gate. It contacts nothing.
func New(opts Options) (*Gate, error) {
	if opts.Source == "" {
		return nil, fmt.Errorf("%w: no source image given; name a registry reference, "+
			"an OCI layout directory or a tarball", ErrInvalidOptions)
	}
	if opts.Target.Project == "" {
		return nil, fmt.Errorf("%w: no target given; use HOST/PROJECT/REPOSITORY[:TAG]",
			ErrInvalidOptions)
	}
	if opts.Key == nil && !opts.SkipSign {
		return nil, fmt.Errorf("%w: no signing key given; pass a cosign private key "+
			"or skip signing explicitly", ErrInvalidOptions)
	}
	if err := checkSignatureFormat(opts.SignatureFormat); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	if err := checkTargetHost(opts.HarborURL, opts.Target); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	if opts.Transport == nil {
		t, err := NewTransport(opts.CABundle, opts.InsecureSkipVerify)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
		}
		opts.Transport = t
	}
	client, err := harbor.NewClient(harbor.Config{
		URL:       opts.HarborURL,
		Username:  opts.Username,
		Password:  opts.Password,
		Transport: opts.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	g := &Gate{opts: opts, harbor: client, auth: authn.Anonymous}
	if opts.Username != "" || opts.Password != "" {
		g.auth = &authn.Basic{Username: opts.Username, Password: opts.Password}
	}
	if g.opts.SourceKeychain == nil {
		g.opts.SourceKeychain = harborKeychain{host: opts.Target.Repo.RegistryStr(), auth: g.auth}
	}
	return g, nil
}

// Run publishes, signs, scans and judges one image, stepping through the
// phases in one call. It returns a Result whenever a verdict was reached,
// including FAIL verdicts for scans that failed, timed out or can never
// happen; it returns an error when a step before the verdict failed.
func Run(ctx context.Context, opts Options) (*Result, error) {
	g, err := New(opts)
	if err != nil {
		return nil, err
	}
	var state State
	for {
		step, err := g.Step(ctx, state)
		if err != nil {
			return nil, err
		}
		if step.Result != nil {
			return step.Result, nil
		}
		state = step.State
		if step.Wait <= 0 {
			continue
		}
		timer := time.NewTimer(step.Wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("waiting in phase %s: %w", state.Phase, context.Cause(ctx))
		case <-timer.C:
		}
	}
}

func (g *Gate) emit(phase Phase, format string, args ...any) {
	if g.opts.OnEvent != nil {
		g.opts.OnEvent(Event{Phase: phase, Message: fmt.Sprintf(format, args...)})
	}
}
