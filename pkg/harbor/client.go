package harbor

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-openapi/runtime"
	rtclient "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/ping"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/scan"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/systeminfo"
)

// APIBasePath is the path of Harbor's v2.0 REST API below the Harbor URL.
const APIBasePath = "/api/v2.0"

// DefaultTimeout is the time limit of one HTTP request when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// DefaultUserAgent is the User-Agent header sent when Config.UserAgent is empty.
const DefaultUserAgent = "harbor-gate"

// Config contains the settings of a Client. Its String and GoString methods never print the
// password.
type Config struct {
	// URL is Harbor's base URL, such as "https://harbor.example.com". A trailing '/' and a
	// trailing "/api/v2.0" are both accepted. The scheme must be http or https.
	URL string

	// Username and Password are sent with HTTP Basic authentication on every request. For a
	// robot account the username includes its prefix, such as "robot$project+ci". An empty
	// username sends requests anonymously.
	Username string
	Password string

	// CABundle contains PEM certificates that are trusted in addition to the system roots.
	// It is empty by default.
	CABundle []byte

	// InsecureSkipVerify turns off TLS certificate verification. It is false by default and
	// must not be combined with CABundle.
	InsecureSkipVerify bool

	// Transport sends the HTTP requests. By default it is a clone of http.DefaultTransport
	// with TLS configured from CABundle and InsecureSkipVerify. A caller-supplied transport
	// is used as it is, so it must not be combined with CABundle or InsecureSkipVerify.
	Transport http.RoundTripper

	// UserAgent is the User-Agent header of every request. The default is DefaultUserAgent.
	UserAgent string

	// Timeout limits each HTTP request. The default is DefaultTimeout. A deadline on the
	// context passed to a call still applies when it is shorter.
	Timeout time.Duration

	// Retry sets which failed requests are sent again, how often and after what delay.
	// The zero value takes the defaults described at RetryPolicy.
	Retry RetryPolicy
}

// String returns the configuration with the password replaced by "[redacted]".
func (c Config) String() string {
	password := ""
	if c.Password != "" {
		password = "[redacted]"
	}
	return fmt.Sprintf(
		"harbor.Config{URL:%q Username:%q Password:%q CABundle:%d bytes "+
			"InsecureSkipVerify:%t CustomTransport:%t UserAgent:%q Timeout:%s Retry:%+v}",
		c.URL, c.Username, password, len(c.CABundle),
		c.InsecureSkipVerify, c.Transport != nil, c.UserAgent, c.Timeout, c.Retry)
}

// GoString returns the same text as String, so that %#v does not print the password either.
func (c Config) GoString() string { return c.String() }

// Client calls Harbor's REST API through go-client. It is safe for concurrent use.
type Client struct {
	api     *client.HarborAPI
	auth    runtime.ClientAuthInfoWriter // nil for anonymous requests
	baseURL *url.URL                     // Harbor's URL without the API base path
	timeout time.Duration
}

// NewClient validates cfg and returns a Client for it. It sends no request.
func NewClient(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("invalid Harbor request timeout %s: it must not be negative",
			cfg.Timeout)
	}
	transport, err := newTransport(cfg)
	if err != nil {
		return nil, err
	}
	retry, err := cfg.Retry.withDefaults()
	if err != nil {
		return nil, err
	}

	apiURL := *base
	apiURL.Path = strings.TrimSuffix(base.Path, "/") + APIBasePath

	var auth runtime.ClientAuthInfoWriter
	if cfg.Username != "" {
		auth = rtclient.BasicAuth(cfg.Username, cfg.Password)
	}
	userAgent := cfg.UserAgent
	if userAgent == "" {
		userAgent = DefaultUserAgent
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}

	// client.New creates a go-openapi runtime without a cookie jar, which is what Harbor's
	// CSRF check requires. Nothing here adds one.
	api := client.New(client.Config{
		URL:       &apiURL,
		Transport: &roundTripper{next: transport, userAgent: userAgent},
		AuthInfo:  auth,
	})
	if rt, ok := api.Transport.(*rtclient.Runtime); ok {
		rt.Consumers["*/*"] = unsupportedMediaTypeConsumer
	}
	useRetries(api, newRetryTransport(guardTransport{next: api.Transport}, retry), auth)
	return &Client{api: api, auth: auth, baseURL: base, timeout: timeout}, nil
}

// useRetries sends the operations of the API groups that this package calls through
// retries. client.New hands its runtime to each group when it creates them, so the groups
// are created again here.
//
// NOTE: only the groups listed here retry. A call through another group of api would
// bypass the retries, so add its group here when this package starts to use one.
func useRetries(api *client.HarborAPI, retries *retryTransport, auth runtime.ClientAuthInfoWriter) {
	api.Transport = retries
	api.Artifact = artifact.New(retries, strfmt.Default, auth)
	api.Ping = ping.New(retries, strfmt.Default, auth)
	api.Project = project.New(retries, strfmt.Default, auth)
	api.Scan = scan.New(retries, strfmt.Default, auth)
	api.Systeminfo = systeminfo.New(retries, strfmt.Default, auth)
}

// URL returns Harbor's base URL without the API base path and without a trailing '/'.
func (c *Client) URL() string { return c.baseURL.String() }

// parseBaseURL checks raw and returns it without a trailing '/' and without "/api/v2.0".
func parseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("missing Harbor URL: set it to the base URL, " +
			"such as https://harbor.example.com")
	}
	shown := RedactURL(raw)
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error repeats the URL with any password in it, so only its cause is kept.
		var parseErr *url.Error
		if errors.As(err, &parseErr) {
			err = parseErr.Err
		}
		return nil, fmt.Errorf("invalid Harbor URL %q: %w", shown, err)
	}
	if u.User != nil {
		return nil, fmt.Errorf("invalid Harbor URL %q: it contains user information, "+
			"so set Username and Password instead", shown)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("invalid Harbor URL %q: the scheme must be https or http, "+
			"such as https://%s", shown, strings.TrimPrefix(shown, u.Scheme+"://"))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("invalid Harbor URL %q: missing host", shown)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("invalid Harbor URL %q: remove the query and fragment", shown)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.Path = strings.TrimSuffix(u.Path, APIBasePath)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// RedactURL replaces the user information of a URL, such as "user:password@", with
// "REDACTED@". It works on the text, so that it also covers URLs that url.Parse rejects.
func RedactURL(raw string) string {
	rest := raw
	prefix := ""
	if scheme, after, ok := strings.Cut(raw, "://"); ok {
		prefix, rest = scheme+"://", after
	}
	authority, path := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return raw
	}
	return prefix + "REDACTED" + authority[at:] + path
}

// newTransport returns cfg.Transport, or a clone of http.DefaultTransport with TLS verified
// against the system roots plus cfg.CABundle.
func newTransport(cfg Config) (http.RoundTripper, error) {
	if cfg.InsecureSkipVerify && len(cfg.CABundle) > 0 {
		return nil, errors.New("conflicting Harbor TLS settings: a CA bundle has no effect " +
			"when certificate verification is skipped, so set only one of them")
	}
	if cfg.Transport != nil {
		if cfg.InsecureSkipVerify || len(cfg.CABundle) > 0 {
			return nil, errors.New("conflicting Harbor TLS settings: configure TLS in the custom " +
				"transport, or drop the transport and set the CA bundle or InsecureSkipVerify")
		}
		return cfg.Transport, nil
	}

	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.InsecureSkipVerify {
		tlsConfig.InsecureSkipVerify = true
	}
	if len(cfg.CABundle) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(cfg.CABundle) {
			return nil, errors.New("invalid Harbor CA bundle: " +
				"it contains no PEM-encoded certificate")
		}
		tlsConfig.RootCAs = pool
	}

	defaultTransport, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, errors.New("creating the Harbor transport failed because " +
			"http.DefaultTransport is not an *http.Transport, so set Config.Transport")
	}
	transport := defaultTransport.Clone()
	transport.TLSClientConfig = tlsConfig
	return transport, nil
}
