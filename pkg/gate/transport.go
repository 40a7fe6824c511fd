package gate

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// NewTransport returns an HTTP transport that verifies TLS against the
// system roots plus caBundle, a PEM file's contents (nil for none).
// insecureSkipVerify turns verification off and should be used only for
// throwaway test instances.
func NewTransport(caBundle []byte, insecureSkipVerify bool) (http.RoundTripper, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: insecureSkipVerify, //nolint:gosec // only when the user asks
	}
	if len(caBundle) == 0 {
		return t, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(caBundle) {
		return nil, fmt.Errorf("the CA bundle contains no PEM certificate; " +
			"pass a file with one or more -----BEGIN CERTIFICATE----- blocks")
	}
	t.TLSClientConfig.RootCAs = pool
	return t, nil
}

// ArtifactURL returns the link to an artifact in Harbor's web interface,
// for example https://harbor.example/harbor/projects/3/repositories/app/artifacts-tab/artifacts/sha256:...
// Harbor's interface escapes a '/' inside the repository name as %2F. A
// harborURL that ends in the API path /api/v2.0 is linked without it.
func ArtifactURL(harborURL string, projectID int64, repository, digest string) string {
	base := strings.TrimSuffix(strings.TrimRight(harborURL, "/"), "/api/v2.0")
	return fmt.Sprintf("%s/harbor/projects/%d/repositories/%s/artifacts-tab/artifacts/%s",
		base, projectID, url.PathEscape(repository), digest)
}
