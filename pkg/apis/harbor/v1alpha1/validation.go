package v1alpha1

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"knative.dev/pkg/apis"

	"github.com/druppie/harbor-gate/pkg/policy"
)

// kmsSchemes are the key reference prefixes of the KMS providers cosign
// v2.6.5 supports, as sigstore/sigstore v1.10.4 declares them in the
// ReferenceScheme constants of pkg/signature/kms/{aws,gcp,azure,hashivault}.
// kmsSchemes are the KMS providers the controller links. Google Cloud KMS
// is missing because its provider needs newer modules than this build has.
var kmsSchemes = []string{"awskms://", "azurekms://", "hashivault://"}

const severityHint = "use one of none, unknown, negligible, low, medium, high, critical"

var _ apis.Validatable = (*ImageGate)(nil)

// Validate checks the object's metadata and spec. Paths in the returned
// error start at the object, for example spec.harbor.url. It returns nil
// when g is valid.
func (g *ImageGate) Validate(ctx context.Context) *apis.FieldError {
	errs := apis.ValidateObjectMetadata(g.GetObjectMeta()).ViaField("metadata")
	return errs.Also(g.Spec.Validate(ctx).ViaField("spec"))
}

// Validate checks s. Paths in the returned error start below the spec,
// for example harbor.url, so that callers can prefix spec or customSpec.
// Scan durations left empty count with their defaults from ctx (see
// WithDefaults). It returns nil when s is valid.
func (s *ImageGateSpec) Validate(ctx context.Context) *apis.FieldError {
	errs := s.Harbor.validate().ViaField("harbor")
	errs = errs.Also(s.Signing.validate().ViaField("signing"))
	errs = errs.Also(s.Policy.validate().ViaField("policy"))
	errs = errs.Also(s.Scan.validate(DefaultsFromContext(ctx)).ViaField("scan"))
	return errs.Also(validateOnFail(s.OnFail).ViaField("onFail"))
}

func (h *HarborSpec) validate() *apis.FieldError {
	var errs *apis.FieldError
	if h.URL == "" {
		errs = apis.ErrMissingField("url")
	} else {
		errs = validateHTTPURL(h.URL).ViaField("url")
	}
	if h.CABundle != "" {
		errs = errs.Also(validateCABundle(h.CABundle).ViaField("caBundle"))
	}
	if h.CABundle != "" && h.InsecureSkipVerify {
		errs = errs.Also(&apis.FieldError{
			Message: "caBundle has no effect when insecureSkipVerify turns TLS verification off",
			Paths:   []string{"caBundle", "insecureSkipVerify"},
			Details: "set only one: keep caBundle to verify Harbor's certificate",
		})
	}
	errs = errs.Also(validateSecretName(h.CredentialsSecret).ViaField("credentialsSecret"))
	return errs.Also(
		validateSecretName(h.SourceCredentialsSecret).ViaField("sourceCredentialsSecret"))
}

func (s *SigningSpec) validate() *apis.FieldError {
	var errs *apis.FieldError
	switch {
	case s.Skip && (s.KeySecret != "" || s.KMS != ""):
		errs = &apis.FieldError{
			Message: "skip excludes keySecret and kms",
			Paths:   setFields("skip", map[string]string{"keySecret": s.KeySecret, "kms": s.KMS}),
			Details: "remove keySecret and kms to publish unsigned, or set skip to false",
		}
	case s.Skip:
	case s.KeySecret != "" && s.KMS != "":
		errs = apis.ErrMultipleOneOf("keySecret", "kms")
		errs.Details = "sign either with the key in a Secret or with a KMS key, not both"
	case s.KeySecret == "" && s.KMS == "":
		errs = apis.ErrMissingOneOf("keySecret", "kms")
		errs.Details = "name a Secret holding cosign.key and cosign.password, " +
			"give a KMS key reference, or set skip to true"
	}
	errs = errs.Also(validateSecretName(s.KeySecret).ViaField("keySecret"))
	if s.KMS != "" {
		errs = errs.Also(validateKMS(s.KMS).ViaField("kms"))
	}
	if s.TransparencyLogURL != "" {
		errs = errs.Also(validateHTTPURL(s.TransparencyLogURL).ViaField("transparencyLogURL"))
	}
	return errs
}

// setFields returns first and, in sorted order, the keys of fields whose
// value is not empty.
func setFields(first string, fields map[string]string) []string {
	paths := []string{first}
	for _, name := range sortedKeys(fields) {
		if fields[name] != "" {
			paths = append(paths, name)
		}
	}
	return paths
}

func validateKMS(ref string) *apis.FieldError {
	for _, scheme := range kmsSchemes {
		if strings.HasPrefix(ref, scheme) {
			if len(ref) == len(scheme) {
				return apis.ErrInvalidValue(ref, apis.CurrentField,
					"name the key after "+scheme)
			}
			return nil
		}
	}
	return apis.ErrInvalidValue(ref, apis.CurrentField, "use a cosign KMS reference "+
		"starting with "+strings.Join(kmsSchemes, ", "))
}

func (p *PolicySpec) validate() *apis.FieldError {
	errs := validateSeverity(p.Severity).ViaField("severity")
	errs = errs.Also(validateMaxCounts(p.MaxCounts).ViaField("maxCounts"))
	return errs.Also(validateAllowlist(p.Allowlist).ViaField("allowlist"))
}

// validateSeverity accepts the empty string, which SetDefaults replaces.
func validateSeverity(name string) *apis.FieldError {
	if name == "" {
		return nil
	}
	if _, err := policy.ParseSeverity(name); err != nil {
		return apis.ErrInvalidValue(name, apis.CurrentField, severityHint)
	}
	return nil
}

// validateMaxCounts checks that each key names a severity, at most once
// when compared case-insensitively, and that each count is 0 or more.
func validateMaxCounts(counts map[string]int64) *apis.FieldError {
	var errs *apis.FieldError
	seen := map[policy.Severity]string{}
	for _, key := range sortedKeys(counts) {
		severity, err := policy.ParseSeverity(key)
		if err != nil {
			errs = errs.Also(apis.ErrInvalidKeyName(key, apis.CurrentField,
				"a key is a severity name, as Harbor spells it: Critical, High, Medium, "+
					"Low, Negligible, Unknown or None").ViaKey(key))
			continue
		}
		if first, ok := seen[severity]; ok {
			errs = errs.Also(apis.ErrGeneric(fmt.Sprintf(
				"duplicate key: %q and %q name the same severity", first, key),
				apis.CurrentField).ViaKey(key))
		}
		seen[severity] = key
		if n := counts[key]; n < 0 {
			errs = errs.Also(apis.ErrInvalidValue(n, apis.CurrentField,
				"a maximum count is 0 or more").ViaKey(key))
		}
	}
	return errs
}

// validateAllowlist checks that each id is set, has no surrounding spaces
// and appears once, compared case-insensitively.
func validateAllowlist(entries []AllowlistEntry) *apis.FieldError {
	var errs *apis.FieldError
	seen := map[string]int{}
	for i, entry := range entries {
		id := strings.TrimSpace(entry.ID)
		switch {
		case id == "":
			errs = errs.Also(apis.ErrMissingField("id").ViaIndex(i))
			continue
		case id != entry.ID:
			errs = errs.Also(apis.ErrInvalidValue(fmt.Sprintf("%q", entry.ID), "id",
				"remove the surrounding spaces").ViaIndex(i))
		}
		key := strings.ToUpper(id)
		if first, ok := seen[key]; ok {
			errs = errs.Also(apis.ErrGeneric(fmt.Sprintf(
				"duplicate id %s: it is also at index %d", id, first), "id").ViaIndex(i))
			continue
		}
		seen[key] = i
	}
	return errs
}

// validate checks that the durations set are positive and that the first
// poll interval, set or default, is not longer than the maximum.
func (s *ScanSpec) validate(d *Defaults) *apis.FieldError {
	errs := validateOptionalPositive(s.GracePeriod).ViaField("gracePeriod")
	errs = errs.Also(validateOptionalPositive(s.PollInterval).ViaField("pollInterval"))
	errs = errs.Also(validateOptionalPositive(s.MaxPollInterval).ViaField("maxPollInterval"))
	errs = errs.Also(validateOptionalPositive(s.Timeout).ViaField("timeout"))
	poll := durationOr(s.PollInterval, d.PollInterval)
	maxPoll := durationOr(s.MaxPollInterval, d.MaxPollInterval)
	if poll > 0 && maxPoll > 0 && poll > maxPoll {
		errs = errs.Also(&apis.FieldError{
			Message: fmt.Sprintf("pollInterval %s is longer than maxPollInterval %s",
				poll, maxPoll),
			Paths:   []string{"pollInterval", "maxPollInterval"},
			Details: "shorten pollInterval or raise maxPollInterval",
		})
	}
	return errs
}

func validatePositive(d time.Duration) *apis.FieldError {
	if d <= 0 {
		return apis.ErrInvalidValue(d, apis.CurrentField,
			"use a positive duration such as 10s or 5m")
	}
	return nil
}

// validateOptionalPositive accepts nil, which SetDefaults replaces.
func validateOptionalPositive(d *metav1.Duration) *apis.FieldError {
	if d == nil {
		return nil
	}
	return validatePositive(d.Duration)
}

// validateOnFail accepts the empty string, which SetDefaults replaces.
func validateOnFail(action FailAction) *apis.FieldError {
	switch action {
	case "", FailActionSucceed, FailActionFail:
		return nil
	}
	return apis.ErrInvalidValue(action, apis.CurrentField,
		fmt.Sprintf("use %s or %s", FailActionSucceed, FailActionFail))
}

// validateSecretName accepts the empty string, which means no Secret.
func validateSecretName(name string) *apis.FieldError {
	if name == "" {
		return nil
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return apis.ErrInvalidValue(name, apis.CurrentField, strings.Join(msgs, "; "))
	}
	return nil
}
