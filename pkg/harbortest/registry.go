package harbortest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // registers "filesystem"
	"github.com/sirupsen/logrus"
)

// maxManifestSize is Distribution v3's limit on manifest bodies, 4 MiB.
const maxManifestSize = 4 << 20

// newRegistryApp builds the embedded Distribution registry on the filesystem driver, with
// deletes enabled, upload purging off and a random upload secret.
func newRegistryApp(dir string, logOutput io.Writer) (app *handlers.App, err error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generating registry secret: %w", err)
	}
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": dir},
			"delete":     configuration.Parameters{"enabled": true},
			"maintenance": configuration.Parameters{
				"uploadpurging": map[any]any{"enabled": false},
			},
		},
	}
	cfg.HTTP.Secret = hex.EncodeToString(secret)
	cfg.Log.AccessLog.Disabled = true
	// Distribution v3 logs only through logrus's standard logger; see WithRegistryLog.
	logrus.SetOutput(logOutput)
	// NewApp panics on configuration errors instead of returning them.
	defer func() {
		if recovered := recover(); recovered != nil {
			err = fmt.Errorf("starting embedded registry in %s: %v", dir, recovered)
		}
	}()
	return handlers.NewApp(context.Background(), cfg), nil
}

// registryRoute is a parsed /v2/ request path.
type registryRoute struct {
	repository string // "<project>/<repository>", empty for /v2/ and /v2/_catalog
	kind       string // manifests, blobs, tags or referrers
	rest       string // the path after the kind, such as a reference or "uploads/<id>"
	catalog    bool
}

func parseRegistryPath(path string) registryRoute {
	inner := strings.TrimPrefix(strings.TrimPrefix(path, "/v2"), "/")
	if inner == "_catalog" {
		return registryRoute{catalog: true}
	}
	for _, kind := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/"} {
		if name, rest, ok := strings.Cut(inner, kind); ok && name != "" {
			return registryRoute{repository: name, kind: strings.Trim(kind, "/"), rest: rest}
		}
	}
	return registryRoute{}
}

// requiredAction returns the token action that a registry request needs.
func requiredAction(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return "pull"
	case http.MethodDelete:
		return "delete"
	default:
		return "push"
	}
}

// serveRegistry checks the bearer token of a /v2/ request, then serves it itself or passes
// it to Distribution, recording what Harbor's core records. It applies Harbor's project
// policies on the way: cosign content trust and vulnerability prevention on manifest pulls,
// and immutable tag rules on manifest pushes. Every request lands in the request log.
func (s *Server) serveRegistry(w http.ResponseWriter, r *http.Request) {
	recorder := &statusRecorder{ResponseWriter: w}
	defer s.logRegistryRequest(r, recorder)
	w = recorder
	w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
	route := parseRegistryPath(r.URL.Path)
	claims, ok := s.checkRegistryAccess(w, r, route)
	if !ok {
		return
	}
	isManifest := route.kind == "manifests"
	switch {
	case isManifest && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		if apiErr := s.checkPullPolicies(r, route, claims); apiErr != nil {
			writeError(w, apiErr)
			return
		}
		s.registry.ServeHTTP(w, r)
	case isManifest && r.Method == http.MethodPut:
		if apiErr := s.checkImmutable(route); apiErr != nil {
			writeError(w, apiErr)
			return
		}
		s.putManifest(w, r, route, claims.Subject)
	case isManifest && r.Method == http.MethodDelete:
		s.deleteManifest(w, r, route)
	case route.kind == "referrers" && r.Method == http.MethodGet:
		s.serveReferrers(w, r, route)
	case route.kind == "blobs" && r.Method == http.MethodPost && r.URL.Query().Has("mount"):
		s.mountBlob(w, r, claims)
	case route.kind == "blobs" && r.Method == http.MethodPut &&
		strings.HasPrefix(route.rest, "uploads/"):
		upload := &statusRecorder{ResponseWriter: w}
		s.registry.ServeHTTP(upload, r)
		if upload.status == http.StatusCreated {
			s.mu.Lock()
			s.stats.BlobUploads++
			s.mu.Unlock()
		}
	default:
		s.registry.ServeHTTP(w, r)
	}
}

// mountBlob serves a cross-repository blob mount. When the token may not pull from the
// source repository, Distribution starts a plain upload instead, which is the default
// here too. With WithMountUnauthorized the double returns 401 with a challenge for pull
// on the source, as a registry behind a stricter token service does.
func (s *Server) mountBlob(w http.ResponseWriter, r *http.Request, claims *tokenClaims) {
	from := r.URL.Query().Get("from")
	if !claims.allows("repository", from, "pull") {
		if s.mountUnauthorized {
			s.challenge(w, fmt.Sprintf("repository:%s:pull", from), "insufficient_scope",
				fmt.Sprintf("unauthorized to access repository: %s, action: pull", from))
			return
		}
		query := r.URL.Query()
		query.Del("mount")
		query.Del("from")
		r.URL.RawQuery = query.Encode()
	}
	s.registry.ServeHTTP(w, r)
}

// checkRegistryAccess verifies the bearer token and the action it grants. On failure it
// writes a 401 whose challenge sends clients to the token service.
func (s *Server) checkRegistryAccess(w http.ResponseWriter, r *http.Request,
	route registryRoute) (*tokenClaims, bool) {
	action := requiredAction(r.Method)
	scope := ""
	if route.repository != "" {
		scope = fmt.Sprintf("repository:%s:%s", route.repository, action)
	} else if route.catalog {
		scope = "registry:catalog:*"
	}
	raw, err := bearerToken(r)
	if err != nil {
		s.challenge(w, scope, "", "authentication required")
		return nil, false
	}
	claims, err := s.verifyToken(raw)
	if err != nil {
		s.challenge(w, scope, "invalid_token", "invalid bearer token")
		return nil, false
	}
	allowed := true
	switch {
	case route.catalog:
		allowed = claims.allows("registry", "catalog", "*")
	case route.repository != "":
		allowed = claims.allows("repository", route.repository, action)
	}
	if !allowed {
		s.challenge(w, scope, "insufficient_scope", fmt.Sprintf(
			"unauthorized to access repository: %s, action: %s", route.repository, action))
		return nil, false
	}
	return claims, true
}

func (s *Server) challenge(w http.ResponseWriter, scope, tokenError, message string) {
	header := fmt.Sprintf(`Bearer realm="%s/service/token",service="%s"`, s.baseURL,
		registryService)
	if scope != "" {
		header += fmt.Sprintf(`,scope="%s"`, scope)
	}
	if tokenError != "" {
		header += fmt.Sprintf(`,error="%s"`, tokenError)
	}
	w.Header().Set("WWW-Authenticate", header)
	writeError(w, newAPIError(http.StatusUnauthorized, "UNAUTHORIZED", "%s", message))
}

// putManifest passes a manifest PUT to Distribution and, when it succeeds, records the
// artifact before the client sees the response, as Harbor's core does. pusher is the
// subject of the bearer token.
func (s *Server) putManifest(w http.ResponseWriter, r *http.Request, route registryRoute,
	pusher string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestSize+1))
	if err != nil {
		writeError(w, newAPIError(http.StatusBadRequest, "MANIFEST_INVALID",
			"reading manifest body: %v", err))
		return
	}
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	buffer := newBufferedResponse()
	s.registry.ServeHTTP(buffer, r)
	if buffer.status == http.StatusCreated && len(body) <= maxManifestSize {
		s.afterManifestPut(buffer, pushedManifest{
			repository:  route.repository,
			reference:   route.rest,
			digest:      buffer.Header().Get("Docker-Content-Digest"),
			contentType: r.Header.Get("Content-Type"),
			body:        body,
			pusher:      pusher,
		})
	}
	buffer.copyTo(w)
}

func (s *Server) afterManifestPut(buffer *bufferedResponse, push pushedManifest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	art, err := s.recordManifest(push, now)
	if err != nil {
		// The registry stored a manifest that Harbor's core could not parse. Harbor
		// responds with 500 then, and so does the double.
		buffer.fail(newAPIError(http.StatusInternalServerError, "UNKNOWN", "%v", err))
		return
	}
	s.stats.ManifestPuts[push.repository]++
	if art.subject != "" {
		buffer.Header().Set("OCI-Subject", art.subject)
	}
	if art.repo.project.metadata["auto_scan"] == "true" && !s.closed {
		s.autoScans.Add(1)
		go s.autoScan(art, push.pusher)
	}
}

func (s *Server) deleteManifest(w http.ResponseWriter, r *http.Request, route registryRoute) {
	recorder := &statusRecorder{ResponseWriter: w}
	s.registry.ServeHTTP(recorder, r)
	if recorder.status != http.StatusAccepted {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	repo := s.store.repositories[route.repository]
	if repo == nil {
		return
	}
	if strings.HasPrefix(route.rest, "sha256:") {
		repo.deleteArtifact(route.rest)
	} else {
		repo.deleteTag(route.rest)
	}
}

// statusRecorder passes a response through and remembers its status.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
	s.ResponseWriter.WriteHeader(status)
}

func (s *statusRecorder) Write(data []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(data)
}

// bufferedResponse holds a whole response so the double can act on it before the client
// receives it.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newBufferedResponse() *bufferedResponse {
	return &bufferedResponse{header: http.Header{}}
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(data []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(data)
}

// fail replaces the buffered response with an error.
func (b *bufferedResponse) fail(apiErr *apiError) {
	recorder := newBufferedResponse()
	writeError(recorder, apiErr)
	*b = *recorder
}

func (b *bufferedResponse) copyTo(w http.ResponseWriter) {
	for key, values := range b.header {
		w.Header()[key] = values
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}
