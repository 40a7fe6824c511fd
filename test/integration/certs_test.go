//go:build integration

package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Identity of the administrator whose token the harness and the Tekton controller use.
const (
	adminUser  = "itest-admin"
	adminGroup = "system:masters"
)

// credentials are the files that kube-apiserver reads at start-up, generated afresh for
// each test binary.
type credentials struct {
	// caPEM is the CA that signed the serving certificate, for clients to trust.
	caPEM []byte
	// certFile and keyFile are the serving certificate for 127.0.0.1 and its key.
	certFile, keyFile string
	// serviceAccountKeyFile is the key that signs and verifies ServiceAccount tokens.
	serviceAccountKeyFile string
	// tokenFile is the static token file with one line for the administrator.
	tokenFile  string
	adminToken string
}

// writeCredentials generates a CA, a serving certificate, a ServiceAccount signing key
// and an administrator token, and writes them under dir.
func writeCredentials(dir string) (*credentials, error) {
	caKey, caCert, caPEM, err := newCA()
	if err != nil {
		return nil, err
	}
	c := &credentials{
		caPEM:                 caPEM,
		certFile:              filepath.Join(dir, "apiserver.crt"),
		keyFile:               filepath.Join(dir, "apiserver.key"),
		serviceAccountKeyFile: filepath.Join(dir, "service-account.key"),
		tokenFile:             filepath.Join(dir, "tokens.csv"),
	}

	if err := writeServingCert(c.certFile, c.keyFile, caKey, caCert); err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the ServiceAccount key: %w", err)
	}
	if err := writeKey(c.serviceAccountKeyFile, saKey); err != nil {
		return nil, err
	}

	if c.adminToken, err = randomHex(24); err != nil {
		return nil, err
	}
	// The format is token,user,uid,"group1,group2".
	line := fmt.Sprintf("%s,%s,%s,%q\n", c.adminToken, adminUser, adminUser, adminGroup)
	if err := os.WriteFile(c.tokenFile, []byte(line), 0o600); err != nil {
		return nil, fmt.Errorf("writing the token file: %w", err)
	}
	return c, nil
}

func newCA() (*ecdsa.PrivateKey, *x509.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generating the CA key: %w", err)
	}
	template := certTemplate("harbor-gate integration CA")
	template.IsCA = true
	template.BasicConstraintsValid = true
	template.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("creating the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parsing the CA certificate: %w", err)
	}
	return key, cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func writeServingCert(certFile, keyFile string, caKey *ecdsa.PrivateKey,
	caCert *x509.Certificate) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating the serving key: %w", err)
	}
	template := certTemplate("kube-apiserver")
	template.KeyUsage = x509.KeyUsageDigitalSignature
	template.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	template.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	template.DNSNames = []string{"localhost"}
	der, err := x509.CreateCertificate(rand.Reader, template, caCert, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("creating the serving certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return fmt.Errorf("writing the serving certificate: %w", err)
	}
	return writeKey(keyFile, key)
}

func certTemplate(commonName string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
	}
}

// writeKey writes key as a PEM "EC PRIVATE KEY", a form kube-apiserver reads for both
// serving and ServiceAccount keys.
func writeKey(file string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", filepath.Base(file), err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(file, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(file), err)
	}
	return nil
}

// randomHex returns n random bytes in hex.
func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}
