package registry

import (
	"net/http"
	"strings"
	"sync"
)

// pushRecorder wraps the transport of a push and records what the target
// registry returned: the Docker-Content-Digest header of manifest PUTs and
// how each blob was handled. It sits below go-containerregistry's retry and
// authentication layers, so it records every request sent on the wire.
type pushRecorder struct {
	next http.RoundTripper
	// prefix is "/v2/<repository>/" of the target.
	prefix string

	mu        sync.Mutex
	manifests map[string]manifestResponse
	counts    blobCounts
}

// manifestResponse is the part of a successful manifest PUT response that
// Push needs.
type manifestResponse struct {
	// digest is the Docker-Content-Digest header, empty when absent.
	digest string
}

// blobCounts counts the blobs of a push by what happened to them.
type blobCounts struct {
	uploaded, mounted, skipped int
}

func newPushRecorder(next http.RoundTripper, repository string) *pushRecorder {
	return &pushRecorder{
		next:      next,
		prefix:    "/v2/" + repository + "/",
		manifests: map[string]manifestResponse{},
	}
}

// RoundTrip sends req and records the response.
func (r *pushRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	r.observe(req, resp)
	return resp, nil
}

func (r *pushRecorder) observe(req *http.Request, resp *http.Response) {
	rest, ok := strings.CutPrefix(req.URL.Path, r.prefix)
	if !ok {
		return
	}
	status := resp.StatusCode
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case req.Method == http.MethodPut && strings.HasPrefix(rest, "manifests/"):
		if status >= 200 && status < 300 {
			identifier := strings.TrimPrefix(rest, "manifests/")
			r.manifests[identifier] = manifestResponse{
				digest: resp.Header.Get("Docker-Content-Digest"),
			}
		}
	case req.Method == http.MethodHead && strings.HasPrefix(rest, "blobs/sha256:"):
		if status == http.StatusOK {
			r.counts.skipped++
		}
	case req.Method == http.MethodPost && rest == "blobs/uploads/":
		if status == http.StatusCreated && req.URL.Query().Get("mount") != "" {
			r.counts.mounted++
		}
	case req.Method == http.MethodPut && strings.HasPrefix(rest, "blobs/uploads/"):
		if status == http.StatusCreated {
			r.counts.uploaded++
		}
	}
}

// manifest returns the last successful PUT response for identifier, a tag
// or a digest, and whether there was one.
func (r *pushRecorder) manifest(identifier string) (manifestResponse, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.manifests[identifier]
	return m, ok
}

func (r *pushRecorder) blobCounts() blobCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts
}
