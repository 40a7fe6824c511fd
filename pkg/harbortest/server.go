package harbortest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// Errors that CreateProject wraps, for errors.Is.
var (
	// ErrConflict means the project already exists.
	ErrConflict = errors.New("conflict")
	// ErrInvalid means a value, such as a project name, is invalid.
	ErrInvalid = errors.New("invalid")
)

// Server is a running Harbor double. Its methods are safe for concurrent use.
type Server struct {
	clock         Clock
	fixture       *Fixture
	adminUser     string
	adminPassword string
	users         map[string]user
	robots        map[string]*robot

	listener      net.Listener
	httpServer    *http.Server
	registry      *handlers.App
	baseURL       string
	host          string
	caPEM         []byte
	client        *http.Client
	tokenKey      *ecdsa.PrivateKey
	storageDir    string
	removeStorage bool
	served        chan struct{}

	mu                sync.Mutex
	store             *store
	reports           map[reportKey]*report
	scannerRegistered bool
	scannerReachable  bool
	stats             Stats
	closed            bool
	autoScans         sync.WaitGroup
	webhooks          webhookState
	sender            *webhookSender
	harborVersion     string
	mountUnauthorized bool
	requests          []RegistryRequest
	systemAllowlist   cveAllowlist
	retention         retentionState
	configuration     map[string]any
	replication       replicationState
	faults            *Faults // nil without WithFaults
}

// Stats counts what clients did, so tests can assert for example that a run pushed exactly
// one image and one signature.
type Stats struct {
	// ManifestPuts counts accepted manifest PUTs by repository, "<project>/<repository>".
	ManifestPuts map[string]int
	// BlobUploads counts completed blob uploads: PUT /v2/<repository>/blobs/uploads/<id>
	// that returned 201. Cross-repository mounts are not counted.
	BlobUploads int
	// ScanTriggers counts scans started through the API or by auto-scan. A request that
	// failed, for example with 409, is not counted.
	ScanTriggers int
	// APIRequests counts REST API requests by method and swagger path, for example
	// "GET /projects/{project_name}/repositories/{repository_name}/artifacts/{reference}".
	APIRequests map[string]int
	// TokenRequests counts requests to the token service, including rejected ones.
	TokenRequests int
	// WebhookAttempts counts webhook POST requests, retries included.
	WebhookAttempts int
	// WebhookDeliveries counts webhook deliveries that a target responded to with 2xx.
	WebhookDeliveries int
	// WebhookFailures counts webhook deliveries that failed on every attempt.
	WebhookFailures int
}

// New starts a Harbor double. It listens on 127.0.0.1 at a free port unless WithAddr sets
// another address. Call Close to stop it.
func New(opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}
	if err := errors.Join(cfg.errs...); err != nil {
		return nil, fmt.Errorf("configuring harbortest: %w: %w", ErrInvalid, err)
	}
	if err := cfg.fixture.Validate(); err != nil {
		return nil, fmt.Errorf("configuring harbortest: %w: %w", ErrInvalid, err)
	}
	s := &Server{
		clock: cfg.clock, fixture: cfg.fixture,
		adminUser: cfg.adminUser, adminPassword: cfg.adminPassword,
		users: cfg.users, robots: cfg.robots,
		store: newStore(), reports: map[reportKey]*report{},
		scannerRegistered: cfg.scanner, scannerReachable: true,
		stats:  Stats{ManifestPuts: map[string]int{}, APIRequests: map[string]int{}},
		served: make(chan struct{}),
		webhooks: webhookState{
			policies: map[int64]*models.WebhookPolicy{}, pending: map[*report]*scanNotice{},
		},
		sender:            newWebhookSender(cfg.webhookRetry, cfg.webhookAnyTarget),
		harborVersion:     cfg.harborVersion,
		mountUnauthorized: cfg.mountUnauthorized,
		retention:         newRetentionState(),
		configuration:     defaultConfiguration(),
		replication:       newReplicationState(),
		faults:            cfg.faults,
	}
	for _, p := range cfg.projects {
		if _, err := s.store.addProject(p, s.clock.Now()); err != nil {
			return nil, fmt.Errorf("configuring harbortest: %w", err)
		}
	}
	s.registerConfiguredRobots()
	if err := s.start(cfg); err != nil {
		s.cleanup()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(cfg config) error {
	var err error
	s.tokenKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating token signing key: %w", err)
	}
	s.storageDir = cfg.storageDir
	if s.storageDir == "" {
		if s.storageDir, err = os.MkdirTemp("", "harbortest-registry-"); err != nil {
			return fmt.Errorf("creating registry storage: %w", err)
		}
		s.removeStorage = true
	}
	if s.registry, err = newRegistryApp(s.storageDir, cfg.registryLog); err != nil {
		return err
	}

	if s.listener, err = net.Listen("tcp", cfg.addr); err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.addr, err)
	}
	s.host = s.listener.Addr().String()
	s.baseURL = "http://" + s.host
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.tls {
		certs, err := generateCertificates(time.Now())
		if err != nil {
			return err
		}
		s.caPEM = certs.caPEM
		s.listener = tls.NewListener(s.listener, &tls.Config{
			Certificates: []tls.Certificate{certs.server}, MinVersion: tls.VersionTLS12,
		})
		s.baseURL = "https://" + s.host
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(certs.caPEM)
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	s.client = &http.Client{Transport: transport}

	s.httpServer = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(s.served)
		_ = s.httpServer.Serve(s.listener)
	}()
	return nil
}

// Close stops the server, waits for auto-scans in flight, cancels webhook deliveries and
// waits for them, and removes the registry storage unless WithStorageDir named it.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	var errs []error
	if s.httpServer != nil {
		errs = append(errs, s.httpServer.Close())
		<-s.served
	}
	s.autoScans.Wait()
	s.stopWebhooks()
	errs = append(errs, s.cleanup())
	return errors.Join(errs...)
}

// cleanup releases what start created before the HTTP server ran or after it stopped.
func (s *Server) cleanup() error {
	var errs []error
	if s.registry != nil {
		errs = append(errs, s.registry.Shutdown())
	}
	if s.httpServer == nil && s.listener != nil {
		errs = append(errs, s.listener.Close())
	}
	if s.removeStorage {
		if err := os.RemoveAll(s.storageDir); err != nil {
			errs = append(errs, fmt.Errorf("removing registry storage: %w", err))
		}
	}
	return errors.Join(errs...)
}

// URL returns the base URL, "http://127.0.0.1:PORT", or https with WithTLS. Pass it
// without a trailing slash to go-client.
func (s *Server) URL() string { return s.baseURL }

// Host returns "127.0.0.1:PORT", the registry host for image references.
func (s *Server) Host() string { return s.host }

// CACertPEM returns the PEM-encoded CA certificate that signed the server certificate, or
// nil without WithTLS.
func (s *Server) CACertPEM() []byte { return s.caPEM }

// Client returns an HTTP client that trusts the server's CA.
func (s *Server) Client() *http.Client { return s.client }

// SetScannerAvailable registers or unregisters the scanner. Without one, scans fail with
// 412 and no artifact carries a scan overview or a vulnerabilities link.
func (s *Server) SetScannerAvailable(available bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scannerRegistered = available
}

// SetScannerReachable simulates a registered scanner adapter that stops responding. Harbor
// then treats nothing as scannable: scans fail with 400, and overviews and vulnerabilities
// links vanish even for artifacts that were scanned before. The default is true.
func (s *Server) SetScannerReachable(reachable bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scannerReachable = reachable
}

// CreateProject creates a project. It wraps ErrConflict when the name is taken and
// ErrInvalid when the name breaks Harbor's rules.
func (s *Server) CreateProject(p Project) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.Metadata = maps.Clone(p.Metadata)
	if _, err := s.store.addProject(p, s.clock.Now()); err != nil {
		return fmt.Errorf("creating project: %w", err)
	}
	return nil
}

// SetProjectMetadata sets one project metadata key, as PUT
// /projects/{p}/metadatas/{meta_name} does, for example "prevent_vul" to "true". It wraps
// ErrInvalid for an unknown project, key or value.
func (s *Server) SetProjectMetadata(project, key, value string) error {
	key, value, err := validateMetadata(map[string]string{key: value})
	if err != nil {
		return fmt.Errorf("setting project metadata: %w: %w", ErrInvalid, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.store.projects[project]
	if p == nil {
		return fmt.Errorf("setting project metadata: %w: project %q does not exist",
			ErrInvalid, project)
	}
	p.metadata[key] = value
	p.updated = s.clock.Now()
	return nil
}

// Stats returns a copy of the request counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	stats := s.stats
	stats.ManifestPuts = maps.Clone(s.stats.ManifestPuts)
	stats.APIRequests = maps.Clone(s.stats.APIRequests)
	return stats
}

// WaitForAutoScans blocks until every auto-scan that a push has started so far has created
// its reports. Harbor starts auto-scans asynchronously after the push returned, so a test
// calls this before it reads the overview of a freshly pushed artifact.
func (s *Server) WaitForAutoScans() {
	s.autoScans.Wait()
}

// ServeHTTP routes a request to the token service, the registry or the REST API. First it
// starts the webhooks of scans that ended since the last request, then applies a fault
// armed through WithFaults.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.announceDueScans()
	if s.faults.inject(w, r, s.route) {
		return
	}
	s.route(w, r)
}

// route passes a request to the surface that serves its path.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	switch path := r.URL.Path; {
	case path == "/service/token":
		s.serveToken(w, r)
	case path == "/v2" || strings.HasPrefix(path, "/v2/"):
		s.serveRegistry(w, r)
	case strings.HasPrefix(path, apiPrefix+"/"):
		s.serveAPI(w, r)
	default:
		writeError(w, newAPIError(http.StatusNotFound, "NOT_FOUND", "resource not found"))
	}
}
