package main

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// countingProxy is a reverse proxy on loopback that counts the registry requests passing
// through it by kind.
type countingProxy struct {
	host   string
	server *http.Server

	mu     sync.Mutex
	counts map[string]int
}

// startCountingProxy starts a proxy to the registry at host. It keeps the Host header of the
// incoming request, so that the registry writes upload locations that point at the proxy.
// It points the realm of bearer challenges from host at itself too: go-containerregistry
// rejects a realm on a loopback address other than the registry's own, and the token
// requests then pass the proxy and are counted.
func startCountingProxy(host string) (*countingProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{host: l.Addr().String(), counts: map[string]int{}}
	forward := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: host})
	forward.ModifyResponse = func(resp *http.Response) error {
		if challenge := resp.Header.Get("Www-Authenticate"); challenge != "" {
			resp.Header.Set("Www-Authenticate",
				strings.ReplaceAll(challenge, "//"+host+"/", "//"+p.host+"/"))
		}
		return nil
	}
	p.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.count(requestKind(r))
		forward.ServeHTTP(w, r)
	})}
	go p.server.Serve(l)
	return p, nil
}

func (p *countingProxy) close() { p.server.Close() }

func (p *countingProxy) count(kind string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts[kind]++
}

// take returns the counts since the last call and resets them.
func (p *countingProxy) take() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	counts := p.counts
	p.counts = map[string]int{}
	return counts
}

var digestPattern = regexp.MustCompile(`^[a-z0-9]+:[a-f0-9]{32,}$`)

// Request kinds that the re-push table reports.
const (
	kindUploadStart    = "POST blob upload"
	kindUploadFinish   = "PUT blob upload"
	kindManifestTagGet = "GET/HEAD manifest by tag"
	kindToken          = "token"
)

// requestKind names the kind of a registry request: its method and what it addresses,
// such as "HEAD blob" or "PUT manifest by tag".
func requestKind(r *http.Request) string {
	path := r.URL.Path
	switch {
	case path == "/v2/" || path == "/v2":
		return r.Method + " /v2/"
	case !strings.HasPrefix(path, "/v2/"):
		return kindToken
	case strings.Contains(path, "/blobs/uploads/"):
		return r.Method + " blob upload"
	case strings.Contains(path, "/blobs/"):
		return r.Method + " blob"
	case strings.Contains(path, "/manifests/"):
		ref := path[strings.LastIndex(path, "/")+1:]
		if digestPattern.MatchString(ref) {
			return r.Method + " manifest by digest"
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			return kindManifestTagGet
		}
		return r.Method + " manifest by tag"
	}
	return r.Method + " other"
}
