package registry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// DefaultJobs is the number of blobs Push uploads at the same time unless
// WithJobs sets another number.
const DefaultJobs = 4

// DefaultUserAgent is sent in front of go-containerregistry's own
// User-Agent unless WithUserAgent sets another value.
const DefaultUserAgent = "harbor-gate"

// Option configures Open and Push. Options that concern only one of them
// are ignored by the other.
type Option func(*options)

type credentials struct {
	auth     authn.Authenticator
	keychain authn.Keychain
}

type options struct {
	target    credentials
	source    credentials
	transport http.RoundTripper
	userAgent string
	jobs      int
	progress  io.Writer
	insecure  bool
	tagLookup TagLookup
	now       func() time.Time
	errs      []error
}

// WithAuth sets the credentials Push uses for the target registry.
// The default is anonymous access. It conflicts with WithKeychain.
func WithAuth(auth authn.Authenticator) Option {
	return func(o *options) { o.target.auth = auth }
}

// WithKeychain sets the keychain Push resolves the target registry's
// credentials from, for example authn.DefaultKeychain to read the Docker
// config file. The default is anonymous access. It conflicts with WithAuth.
func WithKeychain(keychain authn.Keychain) Option {
	return func(o *options) { o.target.keychain = keychain }
}

// WithSourceAuth sets the credentials Open uses to read a registry source.
// The default is anonymous access. It conflicts with WithSourceKeychain.
func WithSourceAuth(auth authn.Authenticator) Option {
	return func(o *options) { o.source.auth = auth }
}

// WithSourceKeychain sets the keychain Open resolves a registry source's
// credentials from. The default is anonymous access. It conflicts with
// WithSourceAuth.
func WithSourceKeychain(keychain authn.Keychain) Option {
	return func(o *options) { o.source.keychain = keychain }
}

// WithTransport sets the HTTP transport for all registry requests, to the
// source and to the target. The default is remote.DefaultTransport.
//
// NOTE: Push wraps the transport to record the registry's responses, so
// go-containerregistry adds its retry and User-Agent layers even to a
// *transport.Wrapper, which would otherwise opt out of them.
func WithTransport(transport http.RoundTripper) Option {
	return func(o *options) { o.transport = transport }
}

// WithUserAgent sets the product name sent in the User-Agent header, in
// front of go-containerregistry's own. The default is DefaultUserAgent.
func WithUserAgent(userAgent string) Option {
	return func(o *options) { o.userAgent = userAgent }
}

// WithJobs sets how many blobs and manifests Push uploads at the same time.
// The default is DefaultJobs; a value below 1 is rejected.
func WithJobs(jobs int) Option {
	return func(o *options) {
		if jobs < 1 {
			o.errs = append(o.errs, fmt.Errorf("invalid job count %d: use 1 or more", jobs))
			return
		}
		o.jobs = jobs
	}
}

// WithProgress makes Push write progress lines for people to w: bytes done
// and total, and the transfer rate. The first line appears after a push has
// run for one second and later lines at most once a second. A last line
// with the totals follows when the push ends, unless the push ended within
// its first second, which writes nothing at all.
// The default is no progress output.
func WithProgress(w io.Writer) Option {
	return func(o *options) { o.progress = w }
}

// WithInsecure makes Open and Push talk plain HTTP to the registries of
// the source and the target. go-containerregistry already uses plain HTTP
// for localhost, loopback and private (RFC 1918) addresses, so this is
// needed only for other hosts. The default is false.
func WithInsecure(insecure bool) Option {
	return func(o *options) { o.insecure = insecure }
}

// WithTagLookup sets the function that Push calls to check whether the target tag
// already points at the source's digest, so that a repeated push writes no manifest. Push
// calls it only for a tag target. It calls it before writing when the registry has the
// manifest: its HEAD by digest returned 200, or 412 because a Harbor pull policy blocks
// the artifact. It calls it after writing when an immutable tag rule rejected the manifest
// PUT. The default, nil, looks nothing up: Push then writes the manifest again, and
// returns the rejection of an immutable tag as a *PolicyError.
func WithTagLookup(lookup TagLookup) Option {
	return func(o *options) { o.tagLookup = lookup }
}

// withClock replaces time.Now for the progress output in tests.
func withClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

func newOptions(opts []Option) (*options, error) {
	o := &options{
		transport: remote.DefaultTransport,
		userAgent: DefaultUserAgent,
		jobs:      DefaultJobs,
		now:       time.Now,
	}
	for _, opt := range opts {
		opt(o)
	}
	if o.target.auth != nil && o.target.keychain != nil {
		o.errs = append(o.errs, errors.New("both WithAuth and WithKeychain are set: use one"))
	}
	if o.source.auth != nil && o.source.keychain != nil {
		o.errs = append(o.errs,
			errors.New("both WithSourceAuth and WithSourceKeychain are set: use one"))
	}
	if o.transport == nil {
		o.errs = append(o.errs, errors.New("WithTransport was given a nil transport"))
	}
	if err := errors.Join(o.errs...); err != nil {
		return nil, fmt.Errorf("invalid registry options: %w", err)
	}
	return o, nil
}

// nameOptions returns the options for parsing references.
func (o *options) nameOptions() []name.Option {
	if o.insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// remoteOptions returns the go-containerregistry options for requests made
// with creds through transport.
func (o *options) remoteOptions(
	creds credentials, transport http.RoundTripper,
) []remote.Option {
	opts := []remote.Option{
		remote.WithTransport(transport),
		remote.WithUserAgent(o.userAgent),
		remote.WithJobs(o.jobs),
	}
	switch {
	case creds.keychain != nil:
		opts = append(opts, remote.WithAuthFromKeychain(creds.keychain))
	case creds.auth != nil:
		opts = append(opts, remote.WithAuth(creds.auth))
	default:
		opts = append(opts, remote.WithAuth(authn.Anonymous))
	}
	return opts
}
