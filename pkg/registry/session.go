package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/logs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// retryBackoff and retryStatusCodes are the defaults of go-containerregistry v0.22.1's
// remote package (pkg/v1/remote/options.go): three tries, 1s and then 3s apart, on
// timeouts, rate limits and server errors.
var (
	retryBackoff     = transport.Backoff{Duration: time.Second, Factor: 3, Jitter: 0.1, Steps: 3}
	retryStatusCodes = []int{
		http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout, 499, 522,
	}
)

// targetTransport returns a transport authorised to push to and pull from repo. Setting it
// up pings the registry and, for a registry with a token service, fetches a token. The
// manifest check and the pusher of a push share the transport, so a push pings and fetches
// a token only once.
//
// go-containerregistry adds no layers of its own to the *transport.Wrapper this returns.
// The retry, User-Agent and debug-log layers it adds to other transports are therefore
// added here, with its defaults, below the authentication and above base.
func (o *options) targetTransport(
	ctx context.Context, repo name.Repository, base http.RoundTripper,
) (http.RoundTripper, error) {
	auth, err := o.target.resolve(ctx, repo)
	if err != nil {
		return nil, err
	}
	if logs.Enabled(logs.Debug) {
		base = transport.NewLogger(base)
	}
	base = transport.NewRetry(base, transport.WithRetryBackoff(retryBackoff),
		transport.WithRetryPredicate(isTemporary),
		transport.WithRetryStatusCodes(retryStatusCodes...))
	base = transport.NewUserAgent(base, o.userAgent)
	tr, err := transport.NewWithContext(ctx, repo.Registry, auth, base,
		[]string{repo.Scope(transport.PushScope)})
	if err != nil {
		return nil, fmt.Errorf("authenticating to %s: %w", repo.Registry, err)
	}
	return tr, nil
}

// resolve returns the credentials for repo: from the keychain when one is set, else the
// authenticator, else anonymous access.
func (c credentials) resolve(ctx context.Context, repo name.Repository) (authn.Authenticator, error) {
	switch {
	case c.keychain != nil:
		auth, err := authn.Resolve(ctx, c.keychain, repo)
		if err != nil {
			return nil, fmt.Errorf("resolving credentials for %s: %w", repo, err)
		}
		return auth, nil
	case c.auth != nil:
		return c.auth, nil
	}
	return authn.Anonymous, nil
}

// isTemporary reports whether a request that failed with err may succeed when sent again:
// network errors that call themselves temporary, and connections that ended early. It
// follows go-containerregistry v0.22.1's default retry predicate.
func isTemporary(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var temporary interface{ Temporary() bool }
	if errors.As(err, &temporary) && temporary.Temporary() {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, net.ErrClosed)
}

// findManifest checks with one HEAD request by digest through tr whether repo already
// stores the manifest with digest. A 200 with that digest is manifestStored. Harbor's 412
// is manifestBlocked, because Harbor applies its pull policies only to artifacts it has.
// Any other response, such as 404, is manifestMissing, and the push then checks and
// uploads blob by blob. Only a cancelled or expired ctx is returned as an error.
func findManifest(
	ctx context.Context, tr http.RoundTripper, repo name.Repository, digest v1.Hash,
) (manifestState, error) {
	puller, err := remote.NewPuller(remote.WithTransport(tr))
	if err != nil {
		return manifestMissing, err
	}
	desc, err := puller.Head(ctx, repo.Digest(digest.String()))
	var terr *transport.Error
	switch {
	case ctx.Err() != nil:
		return manifestMissing, ctx.Err()
	case errors.As(err, &terr) && terr.StatusCode == http.StatusPreconditionFailed:
		return manifestBlocked, nil
	case err != nil || desc.Digest != digest:
		return manifestMissing, nil
	}
	return manifestStored, nil
}
