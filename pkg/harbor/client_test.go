package harbor

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// replyPong writes Harbor's response to GET /api/v2.0/ping.
func replyPong(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "Pong")
}

func TestNewClientURLForms(t *testing.T) {
	tests := []struct {
		name     string
		suffix   string
		wantURL  string
		wantPath string
	}{
		{name: "bare host", suffix: "", wantURL: "", wantPath: "/api/v2.0/ping"},
		{name: "trailing slash", suffix: "/", wantURL: "", wantPath: "/api/v2.0/ping"},
		{name: "api base path", suffix: "/api/v2.0", wantURL: "", wantPath: "/api/v2.0/ping"},
		{name: "api base path and slash", suffix: "/api/v2.0/", wantURL: "", wantPath: "/api/v2.0/ping"},
		{name: "path prefix", suffix: "/harbor/", wantURL: "/harbor", wantPath: "/harbor/api/v2.0/ping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeHarbor()
			fake.handle("GET "+tt.wantPath, replyPong)
			srv := httptest.NewServer(fake)
			defer srv.Close()

			c, err := NewClient(Config{URL: srv.URL + tt.suffix})
			if err != nil {
				t.Fatalf("NewClient() error = %v", err)
			}
			if got, want := c.URL(), srv.URL+tt.wantURL; got != want {
				t.Errorf("URL() = %q, want %q", got, want)
			}
			if err := c.Ping(context.Background()); err != nil {
				t.Fatalf("Ping() error = %v", err)
			}
			if diff := cmp.Diff([]string{"GET " + tt.wantPath}, fake.methods()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewClientRejectsInvalidConfig(t *testing.T) {
	pemCert := "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n"
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "missing URL", cfg: Config{}, wantErr: "missing Harbor URL"},
		{name: "missing scheme", cfg: Config{URL: "harbor.example.com"}, wantErr: "scheme must be https"},
		{name: "other scheme", cfg: Config{URL: "ftp://harbor.example.com"}, wantErr: "scheme must be https"},
		{name: "missing host", cfg: Config{URL: "https:///api"}, wantErr: "missing host"},
		{
			name:    "user information",
			cfg:     Config{URL: "https://admin:Harbor12345@harbor.example.com"},
			wantErr: "set Username and Password instead",
		},
		{
			name:    "malformed with user information",
			cfg:     Config{URL: "https://admin:Harbor12345@harbor.example.com/%zz"},
			wantErr: `"https://REDACTED@harbor.example.com/%zz": invalid URL escape`,
		},
		{
			name:    "other scheme with user information",
			cfg:     Config{URL: "ftp://admin:Harbor12345@harbor.example.com"},
			wantErr: `"ftp://REDACTED@harbor.example.com"`,
		},
		{name: "query", cfg: Config{URL: "https://harbor.example.com?x=1"}, wantErr: "remove the query"},
		{
			name:    "negative timeout",
			cfg:     Config{URL: "https://harbor.example.com", Timeout: -time.Second},
			wantErr: "must not be negative",
		},
		{
			name: "CA bundle and insecure",
			cfg: Config{URL: "https://harbor.example.com", InsecureSkipVerify: true,
				CABundle: []byte(pemCert)},
			wantErr: "conflicting Harbor TLS settings",
		},
		{
			name: "transport and CA bundle",
			cfg: Config{URL: "https://harbor.example.com", Transport: http.DefaultTransport,
				CABundle: []byte(pemCert)},
			wantErr: "conflicting Harbor TLS settings",
		},
		{
			name:    "CA bundle without certificates",
			cfg:     Config{URL: "https://harbor.example.com", CABundle: []byte("hello")},
			wantErr: "contains no PEM-encoded certificate",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClient(tt.cfg)
			if err == nil {
				t.Fatalf("NewClient(%v) error = nil, want one containing %q", tt.cfg, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewClient() error = %q, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "Harbor12345") {
				t.Errorf("NewClient() error = %q contains the password", err)
			}
		})
	}
}

func TestTLSVerifiedWithCABundle(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET /api/v2.0/ping", replyPong)
	srv := httptest.NewTLSServer(fake)
	defer srv.Close()
	bundle := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	c, err := NewClient(Config{URL: srv.URL, CABundle: bundle})
	if err != nil {
		t.Fatalf("NewClient() error = %v", err)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("Ping() with the server's CA in the bundle: error = %v", err)
	}
}

func TestTLSUntrustedWithoutCABundle(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET /api/v2.0/ping", replyPong)
	srv := httptest.NewUnstartedServer(fake)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // The failed handshake is expected.
	srv.StartTLS()
	defer srv.Close()

	c, err := NewClient(Config{URL: srv.URL})
	if err != nil {
		t.Fatalf("NewClient() error = %v", err)
	}
	err = c.Ping(context.Background())
	if !errors.Is(err, ErrUntrustedCertificate) {
		t.Fatalf("Ping() error = %v, want ErrUntrustedCertificate", err)
	}
	for _, want := range []string{srv.URL, "--ca-bundle", "x509: certificate signed by unknown authority"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Ping() error = %q, want it to contain %q", err, want)
		}
	}
	if len(fake.recorded()) != 0 {
		t.Errorf("server received %d requests over an untrusted connection, want 0", len(fake.recorded()))
	}
}

func TestTLSInsecureSkipVerify(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET /api/v2.0/ping", replyPong)
	srv := httptest.NewTLSServer(fake)
	defer srv.Close()

	c, err := NewClient(Config{URL: srv.URL, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("NewClient() error = %v", err)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("Ping() with InsecureSkipVerify: error = %v", err)
	}
}

func TestConfigStringRedactsPassword(t *testing.T) {
	cfg := Config{URL: "https://harbor.example.com", Username: "robot$proj+ci", Password: "s3cret-Value"}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, value := range []any{cfg, &cfg} {
			got := fmt.Sprintf(format, value)
			if strings.Contains(got, cfg.Password) {
				t.Errorf("fmt.Sprintf(%q, %T) = %q contains the password", format, value, got)
			}
			if !strings.Contains(got, "[redacted]") {
				t.Errorf("fmt.Sprintf(%q, %T) = %q, want [redacted] in place of the password",
					format, value, got)
			}
		}
	}
}

func TestRequestHeaders(t *testing.T) {
	tests := []struct {
		name          string
		cfg           Config
		wantUserAgent string
		wantAuth      string
	}{
		{
			name:          "robot with default user agent",
			cfg:           Config{Username: "robot$proj+ci", Password: "s3cret"},
			wantUserAgent: "harbor-gate",
			wantAuth:      "Basic " + base64.StdEncoding.EncodeToString([]byte("robot$proj+ci:s3cret")),
		},
		{
			name:          "anonymous with custom user agent",
			cfg:           Config{UserAgent: "harbor-gate/1.2.3"},
			wantUserAgent: "harbor-gate/1.2.3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeHarbor()
			fake.handle("GET /api/v2.0/ping", replyPong)
			srv := httptest.NewServer(fake)
			defer srv.Close()
			tt.cfg.URL = srv.URL
			c, err := NewClient(tt.cfg)
			if err != nil {
				t.Fatalf("NewClient() error = %v", err)
			}
			if err := c.Ping(context.Background()); err != nil {
				t.Fatalf("Ping() error = %v", err)
			}

			header := fake.recorded()[0].Header
			if got := header.Get("User-Agent"); got != tt.wantUserAgent {
				t.Errorf("User-Agent = %q, want %q", got, tt.wantUserAgent)
			}
			if got := header.Get("Authorization"); got != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tt.wantAuth)
			}
			if got := header.Get("X-Request-Id"); len(got) != 32 {
				t.Errorf("X-Request-Id = %q, want 32 hex digits", got)
			}
		})
	}
}

func TestSessionCookieNotSentBack(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET /api/v2.0/ping", func(w http.ResponseWriter, r *http.Request) {
		// Harbor sets a session cookie even on Basic-auth responses.
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "0123456789abcdef", Path: "/"})
		replyPong(w, r)
	})
	c := startFake(t, fake)

	for i := range 2 {
		if err := c.Ping(context.Background()); err != nil {
			t.Fatalf("Ping() #%d error = %v", i+1, err)
		}
	}
	if got := fake.recorded()[1].Header.Get("Cookie"); got != "" {
		t.Errorf("second request sent Cookie %q, want none", got)
	}
}

func TestPingUnexpectedBody(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET /api/v2.0/ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>Welcome to nginx!</html>")
	})
	c := startFake(t, fake)

	err := c.Ping(context.Background())
	if !errors.Is(err, ErrUnexpectedResponse) {
		t.Fatalf("Ping() error = %v, want ErrUnexpectedResponse", err)
	}
	if !strings.Contains(err.Error(), "nginx") {
		t.Errorf("Ping() error = %q, want it to quote the body", err)
	}
}

func TestRequestTimeout(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET /api/v2.0/ping", func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // Respond only after the client has given up.
	})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := NewClient(Config{URL: srv.URL, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("NewClient() error = %v", err)
	}

	err = c.Ping(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ping() error = %v, want context.DeadlineExceeded", err)
	}
}

func TestSystemInfo(t *testing.T) {
	fake := newFakeHarbor()
	fake.handle("GET /api/v2.0/systeminfo", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"auth_mode": "oidc_auth", "harbor_version": "v2.13.5-1a2b3c4d",
			"registry_url": "registry.druppie.local",
		})
	})
	c := startFake(t, fake)

	info, err := c.SystemInfo(context.Background())
	if err != nil {
		t.Fatalf("SystemInfo() error = %v", err)
	}
	if info.HarborVersion == nil || *info.HarborVersion != "v2.13.5-1a2b3c4d" {
		t.Errorf("SystemInfo().HarborVersion = %v, want v2.13.5-1a2b3c4d", info.HarborVersion)
	}
	if info.RegistryURL == nil || *info.RegistryURL != "registry.druppie.local" {
		t.Errorf("SystemInfo().RegistryURL = %v, want registry.druppie.local", info.RegistryURL)
	}
}
