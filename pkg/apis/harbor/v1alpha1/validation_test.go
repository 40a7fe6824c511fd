package v1alpha1

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// validGate returns an ImageGate that passes validation; each test case
// breaks one rule of it.
func validGate() *ImageGate {
	return &ImageGate{
		ObjectMeta: metav1.ObjectMeta{Name: "platform-gate", Namespace: "team"},
		Spec: ImageGateSpec{
			Harbor: HarborSpec{
				URL:               "https://registry.druppie.local",
				CredentialsSecret: "harbor-robot",
			},
			Signing: SigningSpec{KeySecret: "cosign-key"},
			Policy: PolicySpec{
				Severity:  "critical",
				MaxCounts: map[string]int64{"High": 3},
				Allowlist: []AllowlistEntry{{ID: "CVE-2024-3094"}},
			},
		},
	}
}

func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

// testCertificatePEM returns a self-signed CA certificate in PEM.
func testCertificatePEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "druppie test CA"},
		NotBefore:             time.Unix(0, 0),
		NotAfter:              time.Unix(0, 0).Add(100 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestValidateAccepts(t *testing.T) {
	caPEM := testCertificatePEM(t)
	tests := []struct {
		name   string
		mutate func(*ImageGate)
	}{
		{"as built", func(*ImageGate) {}},
		{"after defaults", func(g *ImageGate) { g.SetDefaults(context.Background()) }},
		{"http URL with port and path", func(g *ImageGate) {
			g.Spec.Harbor.URL = "http://127.0.0.1:8080/harbor"
		}},
		{"CA bundle of two certificates", func(g *ImageGate) {
			g.Spec.Harbor.CABundle = caPEM + caPEM
		}},
		{"KMS key", func(g *ImageGate) {
			g.Spec.Signing = SigningSpec{KMS: "hashivault://harbor-gate"}
		}},
		{"skip signing", func(g *ImageGate) { g.Spec.Signing = SigningSpec{Skip: true} }},
		{"upper-case severity", func(g *ImageGate) { g.Spec.Policy.Severity = "HIGH" }},
		{"zero max count", func(g *ImageGate) { g.Spec.Policy.MaxCounts["Critical"] = 0 }},
		{"poll equals max poll", func(g *ImageGate) {
			g.Spec.Scan.PollInterval = duration(time.Minute)
			g.Spec.Scan.MaxPollInterval = duration(time.Minute)
		}},
		{"onFail Fail", func(g *ImageGate) { g.Spec.OnFail = FailActionFail }},
		{"upper-case host and IPv6 address", func(g *ImageGate) {
			g.Spec.Harbor.URL = "https://Harbor.Example"
			g.Spec.Signing.TransparencyLogURL = "http://[::1]:3000"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := validGate()
			tc.mutate(g)
			if err := g.Validate(context.Background()); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	caPEM := testCertificatePEM(t)
	tests := []struct {
		name   string
		mutate func(*ImageGate)
		want   string
	}{{
		name:   "missing name",
		mutate: func(g *ImageGate) { g.Name = "" },
		want:   "name or generateName is required: metadata.name",
	}, {
		name:   "missing harbor URL",
		mutate: func(g *ImageGate) { g.Spec.Harbor.URL = "" },
		want:   "missing field(s): spec.harbor.url",
	}, {
		name:   "relative harbor URL",
		mutate: func(g *ImageGate) { g.Spec.Harbor.URL = "registry.druppie.local" },
		want: "invalid value: registry.druppie.local: spec.harbor.url\n" +
			"use an absolute http or https URL such as https://registry.druppie.local",
	}, {
		name:   "ftp harbor URL",
		mutate: func(g *ImageGate) { g.Spec.Harbor.URL = "ftp://registry.druppie.local" },
		want: "invalid value: ftp://registry.druppie.local: spec.harbor.url\n" +
			"use an absolute http or https URL such as https://registry.druppie.local",
	}, {
		name:   "harbor URL with password",
		mutate: func(g *ImageGate) { g.Spec.Harbor.URL = "https://robot:s3cret@harbor.local" },
		want: "invalid value: https://robot:xxxxx@harbor.local: spec.harbor.url\n" +
			"remove the user info: credentials belong in a Secret",
	}, {
		name:   "unparsable harbor URL with at sign",
		mutate: func(g *ImageGate) { g.Spec.Harbor.URL = "https://robot:s3cret@[::1" },
		want: "invalid value: (not shown: it contains '@' and may hold credentials): " +
			"spec.harbor.url\n" +
			"use an absolute http or https URL such as https://registry.druppie.local",
	}, {
		name:   "harbor URL with a bidirectional override in the host",
		mutate: func(g *ImageGate) { g.Spec.Harbor.URL = "https://harbor\u202e.local" },
		want: "invalid value: https://harbor%E2%80%AE.local: spec.harbor.url\n" +
			"the host must be a DNS name or an IP address; use an absolute http or https " +
			"URL such as https://registry.druppie.local",
	}, {
		name: "CA bundle with verification turned off",
		mutate: func(g *ImageGate) {
			g.Spec.Harbor.CABundle = caPEM
			g.Spec.Harbor.InsecureSkipVerify = true
		},
		want: "caBundle has no effect when insecureSkipVerify turns TLS verification off: " +
			"spec.harbor.caBundle, spec.harbor.insecureSkipVerify\n" +
			"set only one: keep caBundle to verify Harbor's certificate",
	}, {
		name:   "harbor URL with query",
		mutate: func(g *ImageGate) { g.Spec.Harbor.URL = "https://harbor.local/?x=1" },
		want: "invalid value: https://harbor.local/?(query or fragment not shown): " +
			"spec.harbor.url\n" +
			"remove the query and fragment: use the base URL only",
	}, {
		name:   "CA bundle without PEM",
		mutate: func(g *ImageGate) { g.Spec.Harbor.CABundle = "not a certificate" },
		want: "invalid value: no PEM certificate found: spec.harbor.caBundle\n" +
			"paste the CA certificates as PEM, each starting with -----BEGIN CERTIFICATE-----",
	}, {
		name: "CA bundle with a private key",
		mutate: func(g *ImageGate) {
			g.Spec.Harbor.CABundle = string(pem.EncodeToMemory(
				&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("secret-bytes")}))
		},
		want: `invalid value: PEM block 1 is of type "EC PRIVATE KEY", not CERTIFICATE: ` +
			"spec.harbor.caBundle",
	}, {
		name: "CA bundle with a broken certificate",
		mutate: func(g *ImageGate) {
			g.Spec.Harbor.CABundle = string(pem.EncodeToMemory(
				&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 0x02, 0x01}}))
		},
		want: "invalid value: PEM block 1 is not a valid X.509 certificate: " +
			"x509: malformed certificate: spec.harbor.caBundle",
	}, {
		name:   "credentials secret not DNS-1123",
		mutate: func(g *ImageGate) { g.Spec.Harbor.CredentialsSecret = "Harbor_Robot" },
		want: "invalid value: Harbor_Robot: spec.harbor.credentialsSecret\n" +
			"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric " +
			"characters, '-' or '.', and must start and end with an alphanumeric character " +
			"(e.g. 'example.com', regex used for validation is " +
			`'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
	}, {
		name:   "source credentials secret too long",
		mutate: func(g *ImageGate) { g.Spec.Harbor.SourceCredentialsSecret = strings.Repeat("a", 254) },
		want: "invalid value: " + strings.Repeat("a", 254) +
			": spec.harbor.sourceCredentialsSecret\nmust be no more than 253 characters",
	}, {
		name:   "key secret not DNS-1123",
		mutate: func(g *ImageGate) { g.Spec.Signing.KeySecret = "-cosign" },
		want: "invalid value: -cosign: spec.signing.keySecret\n" +
			"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric " +
			"characters, '-' or '.', and must start and end with an alphanumeric character " +
			"(e.g. 'example.com', regex used for validation is " +
			`'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
	}, {
		name:   "no signing key",
		mutate: func(g *ImageGate) { g.Spec.Signing = SigningSpec{} },
		want: "expected exactly one, got neither: spec.signing.keySecret, spec.signing.kms\n" +
			"name a Secret holding cosign.key and cosign.password, give a KMS key reference, " +
			"or set skip to true",
	}, {
		name: "key secret and KMS",
		mutate: func(g *ImageGate) {
			g.Spec.Signing = SigningSpec{KeySecret: "cosign-key", KMS: "awskms:///alias/gate"}
		},
		want: "expected exactly one, got both: spec.signing.keySecret, spec.signing.kms\n" +
			"sign either with the key in a Secret or with a KMS key, not both",
	}, {
		name:   "skip with key secret",
		mutate: func(g *ImageGate) { g.Spec.Signing.Skip = true },
		want: "skip excludes keySecret and kms: spec.signing.keySecret, spec.signing.skip\n" +
			"remove keySecret and kms to publish unsigned, or set skip to false",
	}, {
		name: "skip with KMS",
		mutate: func(g *ImageGate) {
			g.Spec.Signing = SigningSpec{Skip: true, KMS: "awskms:///alias/gate"}
		},
		want: "skip excludes keySecret and kms: spec.signing.kms, spec.signing.skip\n" +
			"remove keySecret and kms to publish unsigned, or set skip to false",
	}, {
		name:   "KMS with unknown scheme",
		mutate: func(g *ImageGate) { g.Spec.Signing = SigningSpec{KMS: "vault://gate"} },
		want: "invalid value: vault://gate: spec.signing.kms\n" +
			"use a cosign KMS reference starting with awskms://, azurekms://, hashivault://",
	}, {
		name:   "KMS without key name",
		mutate: func(g *ImageGate) { g.Spec.Signing = SigningSpec{KMS: "azurekms://"} },
		want:   "invalid value: azurekms://: spec.signing.kms\nname the key after azurekms://",
	}, {
		name:   "relative transparency log URL",
		mutate: func(g *ImageGate) { g.Spec.Signing.TransparencyLogURL = "rekor.local" },
		want: "invalid value: rekor.local: spec.signing.transparencyLogURL\n" +
			"use an absolute http or https URL such as https://registry.druppie.local",
	}, {
		name:   "unknown severity",
		mutate: func(g *ImageGate) { g.Spec.Policy.Severity = "severe" },
		want: "invalid value: severe: spec.policy.severity\n" +
			"use one of none, unknown, negligible, low, medium, high, critical",
	}, {
		name:   "max counts unknown key",
		mutate: func(g *ImageGate) { g.Spec.Policy.MaxCounts["Severe"] = 1 },
		want: `invalid key name "Severe": spec.policy.maxCounts[Severe]` + "\n" +
			"a key is a severity name, as Harbor spells it: Critical, High, Medium, Low, " +
			"Negligible, Unknown or None",
	}, {
		name:   "max counts negative",
		mutate: func(g *ImageGate) { g.Spec.Policy.MaxCounts["High"] = -1 },
		want:   "invalid value: -1: spec.policy.maxCounts[High]\na maximum count is 0 or more",
	}, {
		name:   "max counts same severity twice",
		mutate: func(g *ImageGate) { g.Spec.Policy.MaxCounts["high"] = 1 },
		want: `duplicate key: "High" and "high" name the same severity: ` +
			"spec.policy.maxCounts[high]",
	}, {
		name: "allowlist empty id",
		mutate: func(g *ImageGate) {
			g.Spec.Policy.Allowlist = append(g.Spec.Policy.Allowlist, AllowlistEntry{ID: " "})
		},
		want: "missing field(s): spec.policy.allowlist[1].id",
	}, {
		name: "allowlist id with spaces",
		mutate: func(g *ImageGate) {
			g.Spec.Policy.Allowlist[0].ID = " CVE-2024-3094"
		},
		want: `invalid value: " CVE-2024-3094": spec.policy.allowlist[0].id` + "\n" +
			"remove the surrounding spaces",
	}, {
		name: "allowlist duplicate id",
		mutate: func(g *ImageGate) {
			g.Spec.Policy.Allowlist = append(g.Spec.Policy.Allowlist,
				AllowlistEntry{ID: "cve-2024-3094", Reason: "again"})
		},
		want: "duplicate id cve-2024-3094: it is also at index 0: " +
			"spec.policy.allowlist[1].id",
	}, {
		name:   "zero grace period",
		mutate: func(g *ImageGate) { g.Spec.Scan.GracePeriod = duration(0) },
		want: "invalid value: 0s: spec.scan.gracePeriod\n" +
			"use a positive duration such as 10s or 5m",
	}, {
		name:   "negative timeout",
		mutate: func(g *ImageGate) { g.Spec.Scan.Timeout = duration(-time.Minute) },
		want: "invalid value: -1m0s: spec.scan.timeout\n" +
			"use a positive duration such as 10s or 5m",
	}, {
		name:   "poll longer than default max poll",
		mutate: func(g *ImageGate) { g.Spec.Scan.PollInterval = duration(time.Minute) },
		want: "pollInterval 1m0s is longer than maxPollInterval 30s: " +
			"spec.scan.maxPollInterval, spec.scan.pollInterval\n" +
			"shorten pollInterval or raise maxPollInterval",
	}, {
		name:   "unknown onFail",
		mutate: func(g *ImageGate) { g.Spec.OnFail = "succeed" },
		want:   "invalid value: succeed: spec.onFail\nuse Succeed or Fail",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := validGate()
			tc.mutate(g)
			err := g.Validate(context.Background())
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("Validate() error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateKeepsSecretsOut(t *testing.T) {
	g := validGate()
	g.Spec.Harbor.URL = "https://robot:hunter2@harbor.local/?token=hunter2"
	g.Spec.Harbor.CABundle = string(pem.EncodeToMemory(
		&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("hunter2")}))
	err := g.Validate(context.Background())
	if err == nil {
		t.Fatal("Validate() = nil, want an error")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Validate() error shows the password:\n%v", err)
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	g := validGate()
	g.Spec.Harbor.URL = ""
	g.Spec.Policy.Severity = "severe"
	g.Spec.OnFail = "Retry"
	err := g.Validate(context.Background())
	if err == nil {
		t.Fatal("Validate() = nil, want an error")
	}
	var paths []string
	for _, fe := range err.WrappedErrors() {
		paths = append(paths, fe.Paths...)
	}
	sort.Strings(paths)
	want := []string{"spec.harbor.url", "spec.onFail", "spec.policy.severity"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("error paths (-want +got):\n%s", diff)
	}
}

func TestValidateUsesContextDefaults(t *testing.T) {
	g := validGate()
	g.Spec.Scan.PollInterval = duration(time.Minute)
	d := BuiltinDefaults()
	d.MaxPollInterval = 2 * time.Minute
	if err := g.Validate(WithDefaults(context.Background(), d)); err != nil {
		t.Errorf("Validate() with max poll interval 2m = %v, want nil", err)
	}
}
