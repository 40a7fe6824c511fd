package projectpolicy

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar"
	"github.com/robfig/cron/v3"
)

// SampleSignatureTag is a tag of the form cosign gives a signature in its tag scheme,
// sha256-<64 hex>.sig. Immutable rules are checked against it.
const SampleSignatureTag = "sha256-" +
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.sig"

// Severities that vulnerability prevention accepts, lowest first.
var Severities = []string{"none", "low", "medium", "high", "critical"}

// EventTypes are the webhook event types a Harbor v2.13 policy may subscribe to, from
// initSupportedNotifyType in src/pkg/notification/notification.go.
var EventTypes = []string{
	"PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT", "QUOTA_EXCEED", "QUOTA_WARNING",
	"SCANNING_FAILED", "SCANNING_STOPPED", "SCANNING_COMPLETED", "REPLICATION",
	"TAG_RETENTION",
}

// Webhook payload formats of an http target.
const (
	PayloadFormatDefault     = "Default"
	PayloadFormatCloudEvents = "CloudEvents"
)

// maxRetentionRules is Harbor's limit on the rules of one retention policy.
const maxRetentionRules = 15

var (
	// nameRegexp is Harbor's rule for project and robot names.
	nameRegexp = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	cveRegexp  = regexp.MustCompile(`^CVE-[0-9]{4}-[0-9]{4,}$`)

	// harborCronParser is the parser of CronParser in Harbor v2.13
	// src/common/utils/utils.go.
	harborCronParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom |
		cron.Month | cron.Dow)
)

// Validate checks every document and that project names are unique and at most one
// HarborInstance exists. The error joins one error per problem, each wrapping ErrInvalid.
func (d *Document) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, p := range d.Projects {
		if seen[p.Metadata.Name] {
			errs = append(errs, invalidf("project %q is defined twice: merge the documents",
				p.Metadata.Name))
		}
		seen[p.Metadata.Name] = true
		errs = append(errs, p.Validate())
	}
	// Conflicts inside one project are reported by its Validate.
	errs = append(errs, validateEndpointConsistency(d.Projects, true)...)
	if len(d.Instances) > 1 {
		errs = append(errs, invalidf("%d %s documents: keep one", len(d.Instances),
			KindInstance))
	}
	for _, in := range d.Instances {
		errs = append(errs, in.Validate())
	}
	return errors.Join(errs...)
}

// Validate checks the project's values. The error joins one error per problem, each
// wrapping ErrInvalid and naming the field.
func (p *Project) Validate() error {
	f := &fieldErrors{}
	name := p.Metadata.Name
	if !nameRegexp.MatchString(name) || len(name) > 255 {
		f.add("metadata.name", "%q is not a valid Harbor project name: use lower-case "+
			"letters and digits separated by single '.', '_' or '-'", name)
	}
	s := &p.Spec
	if vp := s.VulnerabilityPrevention; vp != nil && !slices.Contains(Severities, vp.Severity) {
		f.add("spec.vulnerabilityPrevention.severity", "%q is not a severity: use one of %s",
			vp.Severity, strings.Join(Severities, ", "))
	}
	if s.CVEAllowlist != nil {
		validateAllowlist(f, "spec.cveAllowlist", s.CVEAllowlist)
	}
	for i, rule := range s.ImmutableTags {
		validateImmutableRule(f, fmt.Sprintf("spec.immutableTags[%d]", i), rule)
	}
	if s.Retention != nil {
		validateRetention(f, s.Retention)
	}
	names := map[string]bool{}
	for i, w := range s.Webhooks {
		field := fmt.Sprintf("spec.webhooks[%d]", i)
		if names[w.Name] {
			f.add(field+".name", "webhook %q is listed twice: names must be unique", w.Name)
		}
		names[w.Name] = true
		validateWebhook(f, field, w)
	}
	if s.Robot != nil {
		validateRobot(f, s.Robot)
	}
	validateReplications(f, s.Replication)
	if s.ProxyCache != nil {
		validateProxyCache(f, s.ProxyCache)
	}
	f.errs = append(f.errs, validateEndpointConsistency([]*Project{p}, false)...)
	return f.err()
}

func validateAllowlist(f *fieldErrors, field string, a *CVEAllowlist) {
	if a.ReuseSystem && (len(a.Items) > 0 || a.ExpiresAt != "") {
		f.add(field, "reuseSystem uses the system allowlist, so remove items and expiresAt, "+
			"or set reuseSystem to false")
	}
	if a.ExpiresAt != "" {
		if _, err := time.Parse(time.RFC3339, a.ExpiresAt); err != nil {
			f.add(field+".expiresAt", "%q is not an RFC 3339 time such as "+
				"2027-06-30T00:00:00Z", a.ExpiresAt)
		}
	}
	seen := map[string]bool{}
	for i, id := range a.Items {
		if !cveRegexp.MatchString(id) {
			f.add(fmt.Sprintf("%s.items[%d]", field, i), "%q is not a CVE id such as "+
				"CVE-2024-12345", id)
		}
		if seen[id] {
			f.add(fmt.Sprintf("%s.items[%d]", field, i), "%s is listed twice", id)
		}
		seen[id] = true
	}
}

func validateImmutableRule(f *fieldErrors, field string, rule ImmutableTagRule) {
	sel, err := immutableSelectors(rule)
	if err != nil {
		f.add(field, "%v", err)
		return
	}
	for _, pattern := range []string{sel.repoPattern, sel.tagPattern} {
		if err := checkPattern(pattern); err != nil {
			f.add(field, "%v", err)
			return
		}
	}
	if sel.matchesTag(SampleSignatureTag) {
		selected := fmt.Sprintf("tags %q matches", sel.tagPattern)
		if sel.tagDecoration == decorationExcludes {
			selected = fmt.Sprintf("excludeTags %q selects every other tag, including", sel.tagPattern)
		}
		f.add(field, "%s cosign signature tags such as %s. Cosign adds each new "+
			"signature of a digest to that tag, so signing an image again would fail "+
			"with HTTP 412. Use a narrower pattern such as \"v*\", or sign with OCI "+
			"referrers, which push signatures without a tag", selected, SampleSignatureTag)
	}
}

// checkPattern reports a malformed doublestar pattern. doublestar v1 finds a syntax error
// only when matching reaches it, so the pattern is matched against itself, which walks
// through every literal part.
func checkPattern(pattern string) error {
	for _, name := range []string{"", pattern, SampleSignatureTag} {
		if _, err := doublestar.Match(pattern, name); err != nil {
			return fmt.Errorf("pattern %q is not a valid doublestar pattern: %w", pattern, err)
		}
	}
	return checkPatternLiterals(pattern)
}

func validateRetention(f *fieldErrors, r *Retention) {
	if err := validateCron(r.Schedule); err != nil {
		f.add("spec.retention.schedule", "%v", err)
	}
	if len(r.DeleteAfterDays)+1 > maxRetentionRules {
		f.add("spec.retention.deleteAfterDays", "%d entries give %d retention rules, but "+
			"Harbor allows %d: combine tag patterns as {a,b}", len(r.DeleteAfterDays),
			len(r.DeleteAfterDays)+1, maxRetentionRules)
	}
	seen := map[string]bool{}
	for i, d := range r.DeleteAfterDays {
		field := fmt.Sprintf("spec.retention.deleteAfterDays[%d]", i)
		if d.Tags == "" {
			f.add(field+".tags", "missing tag pattern, such as \"nightly-*\"")
		} else if err := checkPattern(d.Tags); err != nil {
			f.add(field+".tags", "%v", err)
		}
		if len(r.DeleteAfterDays) > 1 && strings.ContainsAny(d.Tags, "{},") {
			f.add(field+".tags", "pattern %q contains '{', '}' or ',', which cannot be "+
				"combined with the other entries' patterns into one {a,b} exclusion: "+
				"list each alternative as its own entry", d.Tags)
		}
		if seen[d.Tags] {
			f.add(field+".tags", "pattern %q is listed twice", d.Tags)
		}
		seen[d.Tags] = true
		if d.Days < 1 {
			f.add(field+".days", "%d is not a number of days: use 1 or more", d.Days)
		}
		if d.Days > maxRetentionDays {
			f.add(field+".days", "%d is more than %d days, beyond which Harbor's cut-off "+
				"time overflows and can delete every matching artifact: use %d or fewer",
				d.Days, maxRetentionDays, maxRetentionDays)
		}
		if d.Tags != "" && matchesEveryTag(d.Tags) {
			f.add(field+".tags", "pattern %q matches every tag, such as %s, so retention "+
				"would delete every image after %d days: name the tags to delete, such as "+
				"\"nightly-*\"", d.Tags, strings.Join(sampleTags, ", "), d.Days)
		}
		if err := checkPattern(d.repositories()); err != nil {
			f.add(field+".repositories", "%v", err)
		}
		if d.repositories() != r.DeleteAfterDays[0].repositories() {
			f.add(field+".repositories", "%q differs from the first entry's %q. Harbor keeps "+
				"an artifact when any rule retains it, so entries with different repository "+
				"patterns would keep each other's tags: use one repositories pattern",
				d.repositories(), r.DeleteAfterDays[0].repositories())
		}
	}
}

func (d DeleteAfterDays) repositories() string {
	if d.Repositories == "" {
		return "**"
	}
	return d.Repositories
}

// validateCron checks a cron string as ValidateCronString in Harbor v2.13
// src/common/utils/utils.go does: robfig/cron's parser with six fields, seconds first,
// and the seconds field 0. An empty schedule means manual runs only.
func validateCron(schedule string) error {
	if schedule == "" {
		return nil
	}
	fields := strings.Fields(schedule)
	if len(fields) != 6 {
		return fmt.Errorf("%q has %d fields, but Harbor's cron has 6 with seconds first, "+
			"such as \"0 0 3 * * *\" for 03:00 every day", schedule, len(fields))
	}
	if fields[0] != "0" {
		return fmt.Errorf("%q: the seconds field must be 0, such as \"0 0 3 * * *\"",
			schedule)
	}
	if _, err := harborCronParser.Parse(schedule); err != nil {
		return fmt.Errorf("%q is not a valid cron schedule: %v", schedule, err)
	}
	return nil
}

func validateWebhook(f *fieldErrors, field string, w Webhook) {
	if w.Name == "" {
		f.add(field+".name", "missing webhook name")
	}
	if len(w.EventTypes) == 0 {
		f.add(field+".eventTypes", "missing event types, such as SCANNING_COMPLETED")
	}
	for i, e := range w.EventTypes {
		if !slices.Contains(EventTypes, e) {
			f.add(fmt.Sprintf("%s.eventTypes[%d]", field, i), "%q is not an event type a "+
				"policy may subscribe to: use one of %s", e, strings.Join(EventTypes, ", "))
		}
	}
	t := w.Target
	if err := checkTargetAddress(t.Address, t.AllowHTTP); err != nil {
		f.add(field+".target.address", "%v", err)
	}
	switch t.PayloadFormat {
	case "", PayloadFormatDefault, PayloadFormatCloudEvents:
	default:
		f.add(field+".target.payloadFormat", "%q is not a payload format: use %s or %s",
			t.PayloadFormat, PayloadFormatDefault, PayloadFormatCloudEvents)
	}
	if t.AuthHeader != nil {
		validateSecretSource(f, field+".target.authHeader", t.AuthHeader)
	}
}

func checkTargetAddress(address string, allowHTTP bool) error {
	u, err := url.Parse(address)
	switch {
	case err != nil || u.Host == "":
		return fmt.Errorf("%q is not an absolute URL such as https://core.example/harbor",
			address)
	case u.User != nil:
		return fmt.Errorf("%q contains user information: send credentials in authHeader",
			address)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q has a query or fragment, which Harbor drops: remove it",
			address)
	case u.Scheme == "http" && !allowHTTP:
		return fmt.Errorf("%q uses http, which sends the auth header in clear text: use "+
			"https, or set allowHTTP: true", address)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q: the scheme must be https", address)
	}
	return nil
}

func validateRobot(f *fieldErrors, r *Robot) {
	if !nameRegexp.MatchString(r.Name) || len(r.Name) > 255 {
		f.add("spec.robot.name", "%q is not a valid robot name: use lower-case letters "+
			"and digits separated by single '.', '_' or '-'", r.Name)
	}
	if r.DurationDays < -1 {
		f.add("spec.robot.durationDays", "%d is not a lifetime: use -1 for never expiring "+
			"or a number of days", r.DurationDays)
	}
}

func validateSecretSource(f *fieldErrors, field string, s *SecretSource) {
	switch {
	case s.File != "" && s.SecretRef != nil:
		f.add(field, "set either file or secretRef, not both")
	case s.File == "" && s.SecretRef == nil:
		f.add(field, "missing secret source: set file or secretRef")
	case s.SecretRef != nil:
		ref := s.SecretRef
		if ref.Namespace == "" || ref.Name == "" || ref.Key == "" {
			f.add(field+".secretRef", "namespace, name and key are all required")
		} else if err := validateSecretRef(ref); err != nil {
			f.add(field, err.Error())
		}
	}
}

// Validate checks the instance's values. The error joins one error per problem, each
// wrapping ErrInvalid and naming the field.
func (in *Instance) Validate() error {
	f := &fieldErrors{}
	if a := in.Spec.SystemCVEAllowlist; a != nil {
		if a.ReuseSystem {
			f.add("spec.systemCVEAllowlist.reuseSystem", "only a project allowlist can "+
				"reuse the system allowlist: remove it")
		}
		validateAllowlist(f, "spec.systemCVEAllowlist", a)
	}
	if o := in.Spec.OIDC; o != nil {
		u, err := url.Parse(o.Endpoint)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			f.add("spec.oidc.endpoint", "%q is not an https issuer URL such as "+
				"https://keycloak.example/realms/platform", o.Endpoint)
		}
		if o.ClientID == "" {
			f.add("spec.oidc.clientID", "missing client id")
		}
		if o.ClientSecret == nil {
			f.add("spec.oidc.clientSecret", "missing client secret source: set file or "+
				"secretRef")
		} else {
			validateSecretSource(f, "spec.oidc.clientSecret", o.ClientSecret)
		}
		if o.Scope != "" && !slices.Contains(splitScope(o.Scope), "openid") {
			f.add("spec.oidc.scope", "%q lacks openid, which OIDC login requires", o.Scope)
		}
	}
	return f.err()
}

func splitScope(scope string) []string {
	parts := strings.Split(scope, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}
