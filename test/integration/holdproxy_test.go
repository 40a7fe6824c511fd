//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
)

// holdingProxy is a reverse proxy on 127.0.0.1 in front of one upstream server. It holds
// the first request that each rule matches until the test releases it, so that a test can
// stop a client in the middle of a step. Every other request passes at once.
type holdingProxy struct {
	srv   *httptest.Server
	proxy *httputil.ReverseProxy

	mu    sync.Mutex
	rules []*holdRule
}

// holdRule selects one request for a holdingProxy to hold.
type holdRule struct {
	what  string
	match func(*http.Request) bool
	// arrived is closed when the proxy holds the first matching request.
	arrived chan struct{}
	// dropped is closed when the client of the held request went away before the release,
	// so that the request never reached the upstream server.
	dropped chan struct{}
	release chan struct{}
	// taken is set once a request matched. It is guarded by the proxy's mutex.
	taken       bool
	releaseOnce sync.Once
}

// newHoldingProxy starts a proxy that forwards to upstream through transport, or through
// http.DefaultTransport when transport is nil. The proxy stops when the test ends, after it
// released what it holds.
func newHoldingProxy(t *testing.T, upstream string, transport http.RoundTripper) *holdingProxy {
	t.Helper()
	target := parseUpstream(t, upstream)
	p := &holdingProxy{srv: httptest.NewUnstartedServer(nil)}
	p.proxy = &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: transport,
		// Watches of the Kubernetes API stream their events, so flush each one at once.
		FlushInterval: -1,
	}
	p.start(t)
	return p
}

// newRegistryProxy starts a holdingProxy in front of the Harbor double at upstream that
// clients can use as the registry host. The double receives the proxy's Host header, so
// that the URLs it builds from the request, such as the Location of a blob upload, lead
// back through the proxy. Its token realm is rewritten to the proxy's URL too, because
// go-containerregistry rejects a realm on another private host than the registry's.
func newRegistryProxy(t *testing.T, upstream string) *holdingProxy {
	t.Helper()
	target := parseUpstream(t, upstream)
	p := &holdingProxy{srv: httptest.NewUnstartedServer(nil)}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			if challenge := resp.Header.Get("WWW-Authenticate"); challenge != "" {
				resp.Header.Set("WWW-Authenticate",
					strings.ReplaceAll(challenge, upstream, p.URL()))
			}
			return nil
		},
	}
	p.start(t)
	return p
}

func parseUpstream(t *testing.T, upstream string) *url.URL {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatalf("parsing the upstream URL %q: %v", upstream, err)
	}
	return target
}

// start serves the proxy on 127.0.0.1, where httptest listens unless its -httptest.serve
// flag sets another address, and stops it when the test ends.
func (p *holdingProxy) start(t *testing.T) {
	p.srv.Config.Handler = p
	p.srv.Start()
	t.Cleanup(p.close)
}

// URL returns "http://127.0.0.1:PORT".
func (p *holdingProxy) URL() string { return p.srv.URL }

// Host returns "127.0.0.1:PORT", the registry host of image references through the proxy.
func (p *holdingProxy) Host() string { return p.srv.Listener.Addr().String() }

// hold adds a rule that holds the first request match accepts. what describes the request
// in failure messages.
func (p *holdingProxy) hold(what string, match func(*http.Request) bool) *holdRule {
	rule := &holdRule{what: what, match: match, arrived: make(chan struct{}),
		dropped: make(chan struct{}), release: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, rule)
	return rule
}

func (p *holdingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rule := p.take(r); rule != nil {
		// The server notices a closed client connection only after the handler read the
		// request body to its end, so the body waits in memory.
		if err := bufferBody(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		close(rule.arrived)
		select {
		case <-rule.release:
		case <-r.Context().Done():
			// The client closed the connection, for example because it was killed.
			close(rule.dropped)
			return
		}
	}
	p.proxy.ServeHTTP(w, r)
}

// take returns the first rule that has not held a request yet and matches r, and marks it
// taken, or returns nil.
func (p *holdingProxy) take(r *http.Request) *holdRule {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rule := range p.rules {
		if !rule.taken && rule.match(r) {
			rule.taken = true
			return rule
		}
	}
	return nil
}

// close releases every held request and stops the proxy. Open connections, such as
// watches of a client that still runs, are closed first, because httptest.Server.Close
// waits for every request to end.
func (p *holdingProxy) close() {
	p.mu.Lock()
	rules := p.rules
	p.mu.Unlock()
	for _, rule := range rules {
		rule.releaseRequest()
	}
	p.srv.CloseClientConnections()
	p.srv.Close()
}

// hasArrived reports whether the proxy holds, or held, the rule's request.
func (r *holdRule) hasArrived() bool {
	select {
	case <-r.arrived:
		return true
	default:
		return false
	}
}

// releaseRequest lets the held request, if any, go on to the upstream server.
func (r *holdRule) releaseRequest() {
	r.releaseOnce.Do(func() { close(r.release) })
}

// blobUploadStart matches the POST that starts a blob upload, or a cross-repository
// mount, in the repository "<project>/<repository>". It is the first write of a push.
func blobUploadStart(repository string) func(*http.Request) bool {
	path := "/v2/" + repository + "/blobs/uploads/"
	return func(r *http.Request) bool {
		return r.Method == http.MethodPost && r.URL.Path == path
	}
}

// signatureManifestPut matches the PUT of a cosign signature manifest under its
// "sha256-<hex>.sig" tag in the repository "<project>/<repository>".
func signatureManifestPut(repository string) func(*http.Request) bool {
	prefix := "/v2/" + repository + "/manifests/sha256-"
	return func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, prefix) &&
			strings.HasSuffix(r.URL.Path, ".sig")
	}
}

// imageManifestPut matches the PUT of a manifest under tag in the repository
// "<project>/<repository>".
func imageManifestPut(repository, tag string) func(*http.Request) bool {
	path := "/v2/" + repository + "/manifests/" + tag
	return func(r *http.Request) bool {
		return r.Method == http.MethodPut && r.URL.Path == path
	}
}

// signatureManifestRead matches a GET or HEAD of a cosign signature manifest under its
// "sha256-<hex>.sig" tag in the repository "<project>/<repository>".
func signatureManifestRead(repository string) func(*http.Request) bool {
	prefix := "/v2/" + repository + "/manifests/sha256-"
	return func(r *http.Request) bool {
		return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
			strings.HasPrefix(r.URL.Path, prefix) && strings.HasSuffix(r.URL.Path, ".sig")
	}
}

// artifactRead matches a GET of one artifact of the repository "<project>/<repository>"
// from Harbor's API, as the gate sends it to read a pushed image back.
func artifactRead(repository string) func(*http.Request) bool {
	project, name, _ := strings.Cut(repository, "/")
	prefix := "/api/v2.0/projects/" + project + "/repositories/" + url.PathEscape(name) +
		"/artifacts/"
	return func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.HasPrefix(r.URL.EscapedPath(), prefix) &&
			len(r.URL.EscapedPath()) > len(prefix)
	}
}

// after matches what then matches, once a request that first matches has arrived. The
// proxy calls matchers under its mutex, so the flag needs no lock of its own.
func after(first, then func(*http.Request) bool) func(*http.Request) bool {
	seen := false
	return func(r *http.Request) bool {
		if seen {
			return then(r)
		}
		seen = first(r)
		return false
	}
}

// finishingStatusUpdate matches the update of a CustomRun's status in namespace that
// marks the run done, which is how the controller reports its results to Tekton.
func finishingStatusUpdate(namespace string) func(*http.Request) bool {
	prefix := "/apis/tekton.dev/v1beta1/namespaces/" + namespace + "/customruns/"
	return func(r *http.Request) bool {
		if r.Method != http.MethodPut || !strings.HasPrefix(r.URL.Path, prefix) ||
			!strings.HasSuffix(r.URL.Path, "/status") {
			return false
		}
		if err := bufferBody(r); err != nil {
			return false
		}
		body, err := r.GetBody()
		if err != nil {
			return false
		}
		var run v1beta1.CustomRun
		return json.NewDecoder(body).Decode(&run) == nil && run.IsDone()
	}
}

// bufferBody reads the request body into memory and sets Body and GetBody to readers of
// the copy. It does nothing when GetBody is already set.
func bufferBody(r *http.Request) error {
	if r.GetBody != nil {
		return nil
	}
	data, err := io.ReadAll(r.Body)
	r.Body.Close()
	r.GetBody = func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	r.Body, _ = r.GetBody()
	if err != nil {
		return fmt.Errorf("reading the body of %s %s: %w", r.Method, r.URL.Path, err)
	}
	return nil
}
