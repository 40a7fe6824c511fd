package signing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
)

const cosignModule = "github.com/sigstore/cosign/v2"

// Option configures Sign and Verify.
type Option func(*settings)

type settings struct {
	auth        authn.Authenticator
	keychain    authn.Keychain
	transport   http.RoundTripper
	userAgent   string
	annotations map[string]string
	rekorURL    string
	format      Format
}

// Format is the storage form of a cosign signature in the registry: a tag or a referrer.
type Format string

// Signature formats.
const (
	// FormatTag is cosign's tag scheme: a manifest tagged sha256-<hex>.sig in the image's
	// repository, whose layers are the signatures. Harbor 2.5 and later record it as a
	// signature.cosign accessory, and cosign verify reads it by default. An immutable tag
	// rule that matches the tag makes every later signature of the digest fail, because
	// each one rewrites the tag.
	FormatTag Format = "tag"
	// FormatReferrers stores each signature as an untagged OCI 1.1 referrer: a manifest
	// whose subject is the image and whose artifactType is ArtifactTypeSignature. Harbor
	// v2.13 records it as a signature.cosign accessory too, and no tag rule applies to it.
	// cosign verify reads it only with --experimental-oci11.
	FormatReferrers Format = "referrers"
)

// WithAuth sets the credentials for the registry, for example
// &authn.Basic{Username: robot, Password: secret}. The default is WithKeychain's default.
// It conflicts with WithKeychain.
func WithAuth(auth authn.Authenticator) Option {
	return func(s *settings) { s.auth = auth }
}

// WithKeychain sets where registry credentials are looked up. The default is
// authn.DefaultKeychain, which reads the Docker config file ($DOCKER_CONFIG/config.json).
// It conflicts with WithAuth.
func WithKeychain(keychain authn.Keychain) Option {
	return func(s *settings) { s.keychain = keychain }
}

// WithTransport sets the HTTP transport for registry and transparency log requests. The default
// is go-containerregistry's remote.DefaultTransport for the registry and http.DefaultTransport
// for the transparency log.
func WithTransport(transport http.RoundTripper) Option {
	return func(s *settings) { s.transport = transport }
}

// WithUserAgent sets the User-Agent of every request. It must contain "cosign", because Harbor
// applies its vulnerability-prevention and cosign content-trust checks to clients whose
// User-Agent lacks it. The default is "cosign/<version> (<GOOS>; <GOARCH>)", where version is
// the version of the cosign module linked in. go-containerregistry appends its own name and
// version to registry requests.
func WithUserAgent(userAgent string) Option {
	return func(s *settings) { s.userAgent = userAgent }
}

// WithAnnotations sets annotations for the signature payload's "optional" section, as
// cosign sign -a does. Sign signs them, and Verify accepts only signatures whose payload carries
// all of them. By default the payload has no annotations.
func WithAnnotations(annotations map[string]string) Option {
	return func(s *settings) {
		s.annotations = make(map[string]string, len(annotations))
		for k, v := range annotations {
			s.annotations[k] = v
		}
	}
}

// WithTransparencyLog makes Sign upload each new signature to the Rekor server at rekorURL and
// attach the returned entry to the signature as a bundle. The default is no upload. Verify
// ignores this option and never consults a transparency log.
func WithTransparencyLog(rekorURL string) Option {
	return func(s *settings) { s.rekorURL = rekorURL }
}

// WithFormat sets where Sign stores the signature and where Verify looks for it:
// FormatTag or FormatReferrers. The default is FormatTag.
func WithFormat(format Format) Option {
	return func(s *settings) { s.format = format }
}

func makeSettings(opts []Option) (*settings, error) {
	s := &settings{userAgent: defaultUserAgent(), format: FormatTag}
	for _, opt := range opts {
		opt(s)
	}
	if s.format != FormatTag && s.format != FormatReferrers {
		return nil, fmt.Errorf("invalid signature format %q: use %q or %q", s.format,
			FormatTag, FormatReferrers)
	}
	if s.auth != nil && s.keychain != nil {
		return nil, errors.New("invalid options: WithAuth and WithKeychain are both set; pass one")
	}
	if s.keychain == nil {
		s.keychain = authn.DefaultKeychain
	}
	if !strings.Contains(s.userAgent, "cosign") {
		return nil, fmt.Errorf("invalid User-Agent %q: it must contain \"cosign\", "+
			"or Harbor blocks reading unscanned images", s.userAgent)
	}
	if s.rekorURL != "" {
		if err := checkRekorURL(s.rekorURL); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func checkRekorURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid transparency log URL %q: %w", raw, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("invalid transparency log URL %q: expected http(s)://host[:port]", raw)
	}
	return nil
}

// registryOptions returns the options for cosign's OCI client. They replace its defaults,
// which authenticate with authn.DefaultKeychain and send no cosign User-Agent.
//
// Every request carries a token for push and pull on repo, reads included. Harbor lets a
// client through its vulnerability-prevention and cosign content-trust checks only when
// its token grants push (Harbor v2.13 src/server/middleware/util/util.go), and a client
// that asks for pull alone when it reads gets a token without push.
func (s *settings) registryOptions(ctx context.Context,
	repo name.Repository) ([]ociremote.Option, error) {
	auth := s.auth
	if auth == nil {
		var err error
		if auth, err = s.keychain.Resolve(repo.Registry); err != nil {
			return nil, fmt.Errorf("resolving credentials for %s: %w", repo.RegistryStr(), err)
		}
	}
	base := s.transport
	if base == nil {
		base = remote.DefaultTransport
	}
	base = transport.NewRetry(transport.NewUserAgent(base, s.userAgent))
	authorized, err := transport.NewWithContext(ctx, repo.Registry, auth, base,
		[]string{repo.Scope(transport.PushScope)})
	if err != nil {
		return nil, fmt.Errorf("authenticating to %s for push and pull on %s: %w",
			repo.RegistryStr(), repo.RepositoryStr(), err)
	}
	remoteOpts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithUserAgent(s.userAgent),
		remote.WithTransport(authorized),
	}
	return []ociremote.Option{ociremote.WithRemoteOptions(remoteOpts...)}, nil
}

// defaultUserAgent builds a User-Agent of the form cosign's CLI sends. The CLI's helper reads
// the version from link-time flags and reports "devel" in a library build, so the version here
// comes from the module build information instead.
func defaultUserAgent() string {
	version := "devel"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == cosignModule {
				version = dep.Version
			}
		}
	}
	return fmt.Sprintf("cosign/%s (%s; %s)", version, runtime.GOOS, runtime.GOARCH)
}
