package signing

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sirupsen/logrus"
)

const testPassword = "correct horse battery staple"

// The test keys are generated once per test binary, because scrypt makes each encryption and
// decryption of a cosign key slow (roughly 150 ms, an estimate).
var (
	testKeys      *cosign.KeysBytes
	otherTestKeys *cosign.KeysBytes
	testKey       *Key
	otherTestKey  *Key
)

const (
	robotName   = "robot$ci"
	robotSecret = "robot-secret-value"
	bearerToken = "registry-token-for-tests"
)

func TestMain(m *testing.M) {
	// Distribution logs every request through the standard logrus logger.
	logrus.SetOutput(io.Discard)
	if err := loadTestKeys(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func loadTestKeys() error {
	password := func(bool) ([]byte, error) { return []byte(testPassword), nil }
	var err error
	if testKeys, err = cosign.GenerateKeyPair(password); err != nil {
		return fmt.Errorf("generating test key: %w", err)
	}
	if otherTestKeys, err = cosign.GenerateKeyPair(password); err != nil {
		return fmt.Errorf("generating second test key: %w", err)
	}
	if testKey, err = LoadKey(testKeys.PrivateBytes, []byte(testPassword)); err != nil {
		return fmt.Errorf("loading test key: %w", err)
	}
	if otherTestKey, err = LoadKey(otherTestKeys.PrivateBytes, []byte(testPassword)); err != nil {
		return fmt.Errorf("loading second test key: %w", err)
	}
	return nil
}

// testRegistry is a CNCF Distribution registry on loopback behind a minimal bearer-token
// service, shaped like Harbor's: /v2/ returns 401 with a Bearer challenge, and /service/token
// trades the robot's basic credentials for a token.
type testRegistry struct {
	host     string
	requests *requestLog
}

type recordedRequest struct {
	Method    string
	Path      string
	UserAgent string
}

// requestLog is an http.RoundTripper that records every request the client sends.
type requestLog struct {
	mu       sync.Mutex
	inner    http.RoundTripper
	requests []recordedRequest
}

func (l *requestLog) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.requests = append(l.requests, recordedRequest{
		Method:    req.Method,
		Path:      req.URL.Path,
		UserAgent: req.Header.Get("User-Agent"),
	})
	l.mu.Unlock()
	return l.inner.RoundTrip(req)
}

func (l *requestLog) all() []recordedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]recordedRequest(nil), l.requests...)
}

func (l *requestLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests = nil
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	config := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": t.TempDir()},
		},
	}
	config.Log.AccessLog.Disabled = true
	config.HTTP.Secret = "test-http-secret"
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	app := handlers.NewApp(ctx, config)

	mux := http.NewServeMux()
	mux.HandleFunc("/service/token", serveToken)
	mux.Handle("/v2/", requireBearer(app))
	server := httptest.NewServer(mux)
	t.Cleanup(server.Close)
	return &testRegistry{
		host:     server.Listener.Addr().String(),
		requests: &requestLog{inner: http.DefaultTransport},
	}
}

func serveToken(w http.ResponseWriter, r *http.Request) {
	user, secret, ok := r.BasicAuth()
	if !ok || user != robotName || secret != robotSecret {
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"token": bearerToken})
}

func requireBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+bearerToken {
			challenge := fmt.Sprintf(
				`Bearer realm="http://%s/service/token",service="harbor-registry"`, r.Host)
			w.Header().Set("WWW-Authenticate", challenge)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// options returns the Sign and Verify options that reach the registry with the robot's
// credentials through the request log.
func (r *testRegistry) options(extra ...Option) []Option {
	opts := []Option{
		WithAuth(&authn.Basic{Username: robotName, Password: robotSecret}),
		WithTransport(r.requests),
	}
	return append(opts, extra...)
}

func (r *testRegistry) remoteOptions() []remote.Option {
	return []remote.Option{
		remote.WithAuth(&authn.Basic{Username: robotName, Password: robotSecret}),
	}
}

// pushImage pushes a random single-layer image to repository and returns its digest reference.
func (r *testRegistry) pushImage(t *testing.T, repository string) name.Digest {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatalf("random.Image: %v", err)
	}
	tag, err := name.NewTag(r.host+"/"+repository+":build-1", name.Insecure)
	if err != nil {
		t.Fatalf("name.NewTag: %v", err)
	}
	if err := remote.Write(tag, img, r.remoteOptions()...); err != nil {
		t.Fatalf("pushing test image: %v", err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatalf("img.Digest: %v", err)
	}
	return tag.Context().Digest(h.String())
}

// unpushedDigest returns a digest reference in the registry that names no manifest.
func (r *testRegistry) unpushedDigest(t *testing.T, repository string) name.Digest {
	t.Helper()
	d, err := name.NewDigest(r.host+"/"+repository+"@sha256:"+strings.Repeat("ab", 32),
		name.Insecure)
	if err != nil {
		t.Fatalf("name.NewDigest: %v", err)
	}
	return d
}
