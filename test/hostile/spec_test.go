package hostile

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
)

// specCase is one hostile edit of a valid ImageGate spec. The case passes when the
// spec's validation returns an error that contains want and none of forbid.
type specCase struct {
	name   string
	edit   func(*v1alpha1.ImageGateSpec)
	want   []string
	forbid []string
}

// validSpec returns an ImageGate spec that passes validation.
func validSpec() v1alpha1.ImageGateSpec {
	return v1alpha1.ImageGateSpec{
		Harbor:  v1alpha1.HarborSpec{URL: "https://harbor.example", CredentialsSecret: "robot"},
		Signing: v1alpha1.SigningSpec{KeySecret: "cosign-key"},
	}
}

var specCases = []specCase{{
	name: "missing Harbor URL",
	edit: func(s *v1alpha1.ImageGateSpec) { s.Harbor.URL = "" },
	want: []string{"missing field(s): spec.harbor.url"},
}, {
	name: "Harbor URL with another scheme",
	edit: func(s *v1alpha1.ImageGateSpec) { s.Harbor.URL = "ftp://harbor.example" },
	want: []string{"ftp://harbor.example", "use an absolute http or https URL"},
}, {
	name:   "Harbor URL with a password",
	edit:   func(s *v1alpha1.ImageGateSpec) { s.Harbor.URL = "https://robot:TOPSECRET@h.example" },
	want:   []string{"robot:xxxxx@h.example", "credentials belong in a Secret"},
	forbid: []string{"TOPSECRET"},
}, {
	name: "Harbor URL with a token in the query",
	edit: func(s *v1alpha1.ImageGateSpec) {
		s.Harbor.URL = "https://h.example/?token=TOPSECRET"
	},
	want:   []string{"https://h.example/?(query or fragment not shown)", "remove the query"},
	forbid: []string{"TOPSECRET"},
}, {
	name:   "unparsable Harbor URL with a password",
	edit:   func(s *v1alpha1.ImageGateSpec) { s.Harbor.URL = "https://robot:TOPSECRET%zz@h" },
	want:   []string{"it contains '@' and may hold credentials"},
	forbid: []string{"TOPSECRET"},
}, {
	name: "Harbor URL with a right-to-left override",
	edit: func(s *v1alpha1.ImageGateSpec) { s.Harbor.URL = "https://harbor\u202e.example" },
	want: []string{"https://harbor%E2%80%AE.example", "must be a DNS name or an IP address"},
}, {
	name: "Harbor URL with a space in the host",
	edit: func(s *v1alpha1.ImageGateSpec) { s.Harbor.URL = "https://harbor%20.example" },
	want: []string{"https://harbor%20.example", "use an absolute http or https URL"},
}, {
	name: "CA bundle that is no PEM",
	edit: func(s *v1alpha1.ImageGateSpec) { s.Harbor.CABundle = "not a certificate" },
	want: []string{"no PEM certificate found", "-----BEGIN CERTIFICATE-----"},
}, {
	name: "private key pasted as the CA bundle",
	edit: func(s *v1alpha1.ImageGateSpec) {
		s.Harbor.CABundle = "-----BEGIN PRIVATE KEY-----\n" +
			base64.StdEncoding.EncodeToString([]byte("TOPSECRET")) + "\n-----END PRIVATE KEY-----\n"
	},
	want:   []string{`PEM block 1 is of type "PRIVATE KEY", not CERTIFICATE`},
	forbid: []string{"TOPSECRET", base64.StdEncoding.EncodeToString([]byte("TOPSECRET"))},
}, {
	name: "CA bundle with verification turned off",
	edit: func(s *v1alpha1.ImageGateSpec) {
		s.Harbor.CABundle = testCAPEM()
		s.Harbor.InsecureSkipVerify = true
	},
	want: []string{"spec.harbor.caBundle", "spec.harbor.insecureSkipVerify", "set only one"},
}, {
	name: "credentials Secret name with a path",
	edit: func(s *v1alpha1.ImageGateSpec) { s.Harbor.CredentialsSecret = "../kube-system/x" },
	want: []string{"../kube-system/x", "spec.harbor.credentialsSecret", "lower case"},
}, {
	name: "credentials Secret name in upper case",
	edit: func(s *v1alpha1.ImageGateSpec) { s.Harbor.CredentialsSecret = "Robot" },
	want: []string{"Robot", "spec.harbor.credentialsSecret"},
}, {
	name: "key Secret name of 300 characters",
	edit: func(s *v1alpha1.ImageGateSpec) { s.Signing.KeySecret = strings.Repeat("k", 300) },
	want: []string{"spec.signing.keySecret", "no more than 253 characters"},
}, {
	name: "skip signing with a key",
	edit: func(s *v1alpha1.ImageGateSpec) { s.Signing.Skip = true },
	want: []string{"skip excludes keySecret and kms", "spec.signing.keySecret"},
}, {
	name: "neither key nor KMS",
	edit: func(s *v1alpha1.ImageGateSpec) { s.Signing.KeySecret = "" },
	want: []string{"expected exactly one, got neither", "or set skip to true"},
}, {
	name: "KMS scheme cosign does not link",
	edit: func(s *v1alpha1.ImageGateSpec) {
		s.Signing.KeySecret, s.Signing.KMS = "", "gcpkms://projects/p/keys/k"
	},
	want: []string{"gcpkms://projects/p/keys/k", "hashivault://"},
}, {
	name: "KMS reference without a key name",
	edit: func(s *v1alpha1.ImageGateSpec) { s.Signing.KeySecret, s.Signing.KMS = "", "awskms://" },
	want: []string{"awskms://", "name the key after awskms://"},
}, {
	name: "transparency log URL with a script scheme",
	edit: func(s *v1alpha1.ImageGateSpec) { s.Signing.TransparencyLogURL = "javascript:alert(1)" },
	want: []string{"javascript:alert(1)", "spec.signing.transparencyLogURL"},
}, {
	name: "homoglyph severity",
	edit: func(s *v1alpha1.ImageGateSpec) { s.Policy.Severity = "сritical" },
	want: []string{"сritical", "use one of none, unknown"},
}, {
	name: "severity with a NUL",
	edit: func(s *v1alpha1.ImageGateSpec) { s.Policy.Severity = "critical\x00" },
	want: []string{"critical\x00", "spec.policy.severity"},
}, {
	name: "negative maximum count",
	edit: func(s *v1alpha1.ImageGateSpec) { s.Policy.MaxCounts = map[string]int64{"High": -1} },
	want: []string{"-1", "spec.policy.maxCounts[High]", "0 or more"},
}, {
	name: "maximum count keys that differ in case only",
	edit: func(s *v1alpha1.ImageGateSpec) {
		s.Policy.MaxCounts = map[string]int64{"Critical": 0, "critical": 5}
	},
	want: []string{`"Critical" and "critical" name the same severity`},
}, {
	name: "maximum count of an unknown severity",
	edit: func(s *v1alpha1.ImageGateSpec) { s.Policy.MaxCounts = map[string]int64{"Severe": 1} },
	want: []string{"Severe", "Critical, High, Medium"},
}, {
	name: "allowlist entry without an id",
	edit: func(s *v1alpha1.ImageGateSpec) {
		s.Policy.Allowlist = []v1alpha1.AllowlistEntry{{Reason: "x"}}
	},
	want: []string{"missing field(s): spec.policy.allowlist[0].id"},
}, {
	name: "allowlist id with spaces",
	edit: func(s *v1alpha1.ImageGateSpec) {
		s.Policy.Allowlist = []v1alpha1.AllowlistEntry{{ID: " CVE-2024-1 "}}
	},
	want: []string{`" CVE-2024-1 "`, "remove the surrounding spaces"},
}, {
	name: "allowlist id twice",
	edit: func(s *v1alpha1.ImageGateSpec) {
		s.Policy.Allowlist = []v1alpha1.AllowlistEntry{{ID: "CVE-2024-1"}, {ID: "cve-2024-1"}}
	},
	want: []string{"duplicate id cve-2024-1", "also at index 0"},
}, {
	name: "negative poll interval",
	edit: func(s *v1alpha1.ImageGateSpec) {
		s.Scan.PollInterval = &metav1.Duration{Duration: -time.Second}
	},
	want: []string{"-1s", "spec.scan.pollInterval", "use a positive duration"},
}, {
	name: "poll interval above its maximum",
	edit: func(s *v1alpha1.ImageGateSpec) {
		s.Scan.PollInterval = &metav1.Duration{Duration: time.Hour}
		s.Scan.MaxPollInterval = &metav1.Duration{Duration: time.Minute}
	},
	want: []string{"pollInterval 1h0m0s is longer than maxPollInterval 1m0s",
		"raise maxPollInterval"},
}, {
	name: "unknown onFail",
	edit: func(s *v1alpha1.ImageGateSpec) { s.OnFail = "Ignore" },
	want: []string{"Ignore", "use Succeed or Fail"},
}}

func TestImageGateSpecs(t *testing.T) {
	for _, tc := range specCases {
		t.Run(tc.name, func(t *testing.T) {
			g := &v1alpha1.ImageGate{
				ObjectMeta: metav1.ObjectMeta{Name: "gate", Namespace: "team"},
				Spec:       validSpec(),
			}
			tc.edit(&g.Spec)
			var message string
			callSafely(t, func() {
				if fe := g.Validate(context.Background()); fe != nil {
					message = fe.Error()
				}
			})
			if message == "" {
				t.Fatal("the spec passed validation")
			}
			checkFragments(t, "the error", message, tc.want)
			for _, text := range tc.forbid {
				if strings.Contains(message, text) {
					t.Errorf("the error contains %q:\n%s", text, message)
				}
			}
		})
	}
}

var testCA = sync.OnceValue(func() string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hostile test CA"},
		NotBefore:             time.Unix(0, 0),
		NotAfter:              time.Unix(0, 0).Add(100 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
})

// testCAPEM returns a self-signed CA certificate in PEM, made once per test binary.
func testCAPEM() string { return testCA() }
