package registry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/sirupsen/logrus"
)

// silenceRegistryLogs stops Distribution from writing its logs into the
// test output.
var silenceRegistryLogs sync.Once

// recordedRequest is one request the test registry served.
type recordedRequest struct {
	Method string
	Path   string
	Query  string
	Status int
}

// String formats r as "METHOD /path?query -> status" for failure messages.
func (r recordedRequest) String() string {
	s := r.Method + " " + r.Path
	if r.Query != "" {
		s += "?" + r.Query
	}
	return s
}

// testRegistry is a CNCF Distribution registry with filesystem storage in
// a test's temporary directory, served on 127.0.0.1.
type testRegistry struct {
	// Host is "127.0.0.1:<port>", the registry part of references.
	Host string

	mu       sync.Mutex
	requests []recordedRequest
	// beforeServe, when set, runs before the registry handles a request.
	// It may write the response itself and then return true.
	beforeServe func(w http.ResponseWriter, r *http.Request) bool
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	silenceRegistryLogs.Do(func() { logrus.SetOutput(io.Discard) })
	config := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": t.TempDir()},
			"maintenance": configuration.Parameters{
				"uploadpurging": map[any]any{"enabled": false},
			},
		},
	}
	config.Log.AccessLog.Disabled = true
	config.Log.Level = "error"
	config.HTTP.Secret = "test-registry-upload-state-secret"
	app := handlers.NewApp(t.Context(), config)

	reg := &testRegistry{}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		reg.mu.Lock()
		hook := reg.beforeServe
		reg.mu.Unlock()
		if hook == nil || !hook(sw, r) {
			app.ServeHTTP(sw, r)
		}
		reg.record(recordedRequest{r.Method, r.URL.Path, r.URL.RawQuery, sw.status})
	}))

	t.Cleanup(func() {
		server.Close()
		_ = app.Shutdown()
	})
	reg.Host = strings.TrimPrefix(server.URL, "http://")
	return reg
}

func (r *testRegistry) record(req recordedRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, req)
}

// setBeforeServe installs hook; see testRegistry.beforeServe.
func (r *testRegistry) setBeforeServe(hook func(w http.ResponseWriter, r *http.Request) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.beforeServe = hook
}

// takeRequests returns the requests served since the last call.
func (r *testRegistry) takeRequests() []recordedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	reqs := r.requests
	r.requests = nil
	return reqs
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// Flush lets Distribution flush through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
