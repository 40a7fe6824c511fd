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
	"github.com/google/go-containerregistry/pkg/v1/remote"
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
}

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

func makeSettings(opts []Option) (*settings, error) {
	s := &settings{userAgent: defaultUserAgent()}
	for _, opt := range opts {
		opt(s)
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
func (s *settings) registryOptions(ctx context.Context) []ociremote.Option {
	remoteOpts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithUserAgent(s.userAgent),
	}
	if s.auth != nil {
		remoteOpts = append(remoteOpts, remote.WithAuth(s.auth))
	} else {
		remoteOpts = append(remoteOpts, remote.WithAuthFromKeychain(s.keychain))
	}
	if s.transport != nil {
		remoteOpts = append(remoteOpts, remote.WithTransport(s.transport))
	}
	return []ociremote.Option{ociremote.WithRemoteOptions(remoteOpts...)}
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
