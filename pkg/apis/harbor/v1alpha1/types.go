package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ImageGate holds reusable settings for publishing images to Harbor,
// signing them and gating them on Harbor's vulnerability scan.
//
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type ImageGate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ImageGateSpec `json:"spec"`
}

// ImageGateList is a list of ImageGates.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type ImageGateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []ImageGate `json:"items"`
}

// ImageGateSpec is the spec of an ImageGate, and the customSpec of an
// embedded CustomRun.
type ImageGateSpec struct {
	// Harbor is the Harbor instance and how to reach it.
	Harbor HarborSpec `json:"harbor"`
	// Signing says how the pushed digest is signed.
	// +optional
	Signing SigningSpec `json:"signing,omitempty"`
	// Policy decides PASS or FAIL from the scan.
	// +optional
	Policy PolicySpec `json:"policy,omitempty"`
	// Scan controls the wait for Harbor's scan.
	// +optional
	Scan ScanSpec `json:"scan,omitempty"`
	// OnFail says what a FAIL verdict does to the CustomRun: with
	// "Succeed" (the default) the run succeeds and carries VERDICT=FAIL,
	// so later tasks gate on it with when expressions; with "Fail" the
	// run fails.
	// +optional
	OnFail FailAction `json:"onFail,omitempty"`
}

// FailAction is what a FAIL verdict does to the CustomRun.
type FailAction string

const (
	// FailActionSucceed ends the run successfully with VERDICT=FAIL.
	FailActionSucceed FailAction = "Succeed"
	// FailActionFail ends the run as failed.
	FailActionFail FailAction = "Fail"
)

// HarborSpec says where Harbor is and how to authenticate.
type HarborSpec struct {
	// URL is Harbor's base URL, for example https://registry.druppie.local.
	URL string `json:"url"`
	// CABundle is PEM data trusted besides the system roots.
	// +optional
	CABundle string `json:"caBundle,omitempty"`
	// InsecureSkipVerify turns TLS verification off; test instances only.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	// CredentialsSecret names a Secret in the run's namespace with the
	// keys "username" and "password" (type kubernetes.io/basic-auth), for
	// example a Harbor robot account. Empty means anonymous.
	// +optional
	CredentialsSecret string `json:"credentialsSecret,omitempty"`
	// SourceCredentialsSecret names a Secret in the run's namespace of
	// type kubernetes.io/dockerconfigjson used to pull the source image.
	// Empty means the Harbor credentials for a source in the same Harbor
	// and anonymous pulls from any other registry.
	// +optional
	SourceCredentialsSecret string `json:"sourceCredentialsSecret,omitempty"`
}

// SigningSpec says how the pushed digest is signed with cosign.
type SigningSpec struct {
	// KeySecret names a Secret in the run's namespace with the keys
	// "cosign.key", "cosign.password" and, optionally, "cosign.pub", as
	// cosign generate-key-pair writes them.
	// +optional
	KeySecret string `json:"keySecret,omitempty"`
	// KMS is a cosign KMS key reference such as hashivault://KEY.
	// Exactly one of KeySecret and KMS is set unless Skip is true.
	// +optional
	KMS string `json:"kms,omitempty"`
	// Skip publishes without a signature.
	// +optional
	Skip bool `json:"skip,omitempty"`
	// TransparencyLogURL uploads the signature to this Rekor server.
	// Empty means no upload.
	// +optional
	TransparencyLogURL string `json:"transparencyLogURL,omitempty"`
}

// PolicySpec decides PASS or FAIL from a finished scan.
type PolicySpec struct {
	// Severity is the lowest severity that fails the image: none, low,
	// medium, high or critical. The default is critical.
	// +optional
	Severity string `json:"severity,omitempty"`
	// MaxCounts allows up to the given number of findings per severity
	// (keys as Harbor spells them: Critical, High, ...) before failing.
	// +optional
	MaxCounts map[string]int64 `json:"maxCounts,omitempty"`
	// FixableOnly counts only findings that have a fixed version.
	// +optional
	FixableOnly bool `json:"fixableOnly,omitempty"`
	// Allowlist lists CVEs that never fail the image until they expire.
	// +optional
	Allowlist []AllowlistEntry `json:"allowlist,omitempty"`
}

// AllowlistEntry exempts one CVE from the policy.
type AllowlistEntry struct {
	// ID is the vulnerability id, for example CVE-2024-3094.
	ID string `json:"id"`
	// Expires is when the exemption ends; empty means never.
	// +optional
	Expires *metav1.Time `json:"expires,omitempty"`
	// Reason says why the CVE is accepted.
	// +optional
	Reason string `json:"reason,omitempty"`
}

// ScanSpec controls the wait for Harbor's scan.
type ScanSpec struct {
	// GracePeriod is how long to wait for scan on push before requesting
	// a scan. Default 10s.
	// +optional
	GracePeriod *metav1.Duration `json:"gracePeriod,omitempty"`
	// PollInterval is the first interval between scan reads; it grows
	// with backoff. Default 2s.
	// +optional
	PollInterval *metav1.Duration `json:"pollInterval,omitempty"`
	// MaxPollInterval is the ceiling of the backoff between scan reads. Once
	// reached, jitter only lengthens each interval, by up to a fifth, so
	// reads never come closer together than this. Default 30s.
	// +optional
	MaxPollInterval *metav1.Duration `json:"maxPollInterval,omitempty"`
	// Timeout is how long to wait for a final scan status. Default 30m,
	// Harbor's own limit for a scan job.
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}
