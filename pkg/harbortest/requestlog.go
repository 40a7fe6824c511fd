package harbortest

import (
	"net/http"
	"slices"
)

// RegistryRequest is one /v2/ request that the double served, for tests that assert which
// requests a client sent, such as that it never read a manifest by tag.
type RegistryRequest struct {
	// Method is the HTTP method, such as "HEAD".
	Method string
	// Path is the URL path, such as "/v2/team/app/manifests/v1".
	Path string
	// Repository is "<project>/<repository>", or empty for /v2/ and /v2/_catalog.
	Repository string
	// Kind is "manifests", "blobs", "tags" or "referrers", or empty for other paths.
	Kind string
	// Reference is the tag or digest of a manifest request, or the rest of the path after
	// Kind for other requests.
	Reference string
	// UserAgent is the User-Agent header.
	UserAgent string
	// Status is the HTTP status code of the response.
	Status int
}

// ByTag reports whether the request addresses a manifest by tag rather than by digest.
func (r RegistryRequest) ByTag() bool {
	return r.Kind == "manifests" && r.Reference != "" && !isDigest(r.Reference)
}

// RegistryRequests returns the /v2/ requests served so far, in the order they finished,
// token-less first attempts that got 401 included.
func (s *Server) RegistryRequests() []RegistryRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *Server) logRegistryRequest(r *http.Request, recorder *statusRecorder) {
	route := parseRegistryPath(r.URL.Path)
	status := recorder.status
	if status == 0 {
		status = http.StatusOK
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, RegistryRequest{
		Method: r.Method, Path: r.URL.Path, Repository: route.repository, Kind: route.kind,
		Reference: route.rest, UserAgent: r.UserAgent(), Status: status,
	})
}
