package policy

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Policy is the rule set a scan summary is judged by.
type Policy struct {
	// Threshold is the lowest severity that fails the image. The zero
	// value is SeverityNone, which fails on any finding; DefaultPolicy
	// returns the platform's rule, Critical.
	Threshold Severity
	// MaxCounts allows up to the given number of findings of a severity
	// at or above Threshold before the image fails. A severity that is
	// absent allows none.
	MaxCounts map[Severity]int64
	// FixableOnly counts only findings that have a fixed version. It
	// needs Report.Vulnerabilities. The default counts every finding.
	FixableOnly bool
	// Allowlist exempts findings by vulnerability id until each entry
	// expires. A non-empty list needs Report.Vulnerabilities. The
	// default exempts nothing.
	Allowlist []AllowlistEntry
}

// DefaultPolicy returns the platform's rule: an image with any Critical
// vulnerability fails.
func DefaultPolicy() Policy {
	return Policy{Threshold: SeverityCritical}
}

// Status values of a Harbor scan that Evaluate distinguishes.
const (
	StatusSuccess = "Success"
	StatusError   = "Error"
	StatusStopped = "Stopped"
)

// Report is the result of a finished scan of one image.
type Report struct {
	// Status is Harbor's scan_status, for example "Success" or "Error".
	Status string
	// Counts maps a severity name as Harbor spells it ("Critical",
	// "High", ...) to the number of findings. Nil means the report had
	// no summary at all, which is not the same as an empty map (a clean
	// image).
	Counts map[string]int64
	// CompletePercent is the share of an index's platform images whose
	// scan finished; 100 for a single image that finished.
	CompletePercent int64
	// Vulnerabilities is the list of findings behind Counts. Only a
	// policy with FixableOnly or an allowlist reads it, and then nil
	// means the list was not fetched, which fails the scan as
	// incomplete. An empty, non-nil list is a clean image.
	Vulnerabilities []Vulnerability
}

// Result is the outcome of a verdict.
type Result string

// The two verdicts.
const (
	Pass Result = "PASS"
	Fail Result = "FAIL"
)

// Reason classifies why a verdict came out as it did. Each value is a
// stable word that results, exit codes and Kubernetes conditions use.
type Reason string

const (
	// ReasonPassed means the scan finished and no rule was broken.
	ReasonPassed Reason = "Passed"
	// ReasonPolicyViolation means the scan finished and found more than
	// the policy allows.
	ReasonPolicyViolation Reason = "PolicyViolation"
	// ReasonScanFailed means the scan ended in Error or Stopped, or
	// reported a status Harbor does not define.
	ReasonScanFailed Reason = "ScanFailed"
	// ReasonScanIncomplete means the scan succeeded for only part of an
	// image index, or carried no summary.
	ReasonScanIncomplete Reason = "ScanIncomplete"
	// ReasonTimedOut means no final scan status arrived before the
	// deadline. Callers that wait set it; Evaluate never returns it.
	ReasonTimedOut Reason = "TimedOut"
	// ReasonNotScannable means Harbor will never scan the artifact: no
	// scanner is configured or reachable, or the artifact is not an
	// image the scanner supports. Callers set it; Evaluate never does.
	ReasonNotScannable Reason = "NotScannable"
)

// Failed returns a FAIL verdict for a reason found outside Evaluate,
// such as a timeout.
func Failed(reason Reason, detail string) Verdict {
	return fail(reason, detail)
}

// Verdict is the decision on one image, with the reasons for it.
type Verdict struct {
	Result  Result
	Reason  Reason
	Details []string
}

// Passed reports whether the image may be deployed.
func (v Verdict) Passed() bool { return v.Result == Pass }

// Message joins the details into one line, separated by semicolons.
func (v Verdict) Message() string { return strings.Join(v.Details, "; ") }

// Evaluate judges a scan report against the policy at the current time.
// Anything but a complete, successful scan with a summary fails.
func (p Policy) Evaluate(r Report) Verdict {
	return p.EvaluateAt(r, time.Now())
}

// EvaluateAt judges a scan report against the policy as of now, the time
// that decides which allowlist entries have expired. Anything but a
// complete, successful scan with a summary fails.
func (p Policy) EvaluateAt(r Report, now time.Time) Verdict {
	switch {
	case r.Status != StatusSuccess:
		return fail(ReasonScanFailed, fmt.Sprintf("scan status is %q, not Success", r.Status))
	case r.Counts == nil:
		return fail(ReasonScanIncomplete, "scan succeeded but its report has no summary")
	case r.CompletePercent < 100:
		return fail(ReasonScanIncomplete, fmt.Sprintf(
			"scan covered %d%% of the image's platforms, not 100%%", r.CompletePercent))
	case r.CompletePercent > 100:
		return fail(ReasonScanFailed, fmt.Sprintf(
			"scan reports %d%% complete, which Harbor never sends; not judged",
			r.CompletePercent))
	}
	if name, n, ok := negativeCount(r.Counts); ok {
		return fail(ReasonScanFailed, fmt.Sprintf(
			"scan reports %d %s findings, a negative count that Harbor never sends; "+
				"not judged, so scan the image again", n, name))
	}
	counts, notes := r.Counts, []string(nil)
	if p.NeedsVulnerabilities() {
		f, err := p.filter(r, now)
		if err != nil {
			return fail(ReasonScanIncomplete, err.Error())
		}
		counts, notes = f.counts, f.notes()
	}
	if details := p.violations(counts); len(details) > 0 {
		return Verdict{Result: Fail, Reason: ReasonPolicyViolation,
			Details: append(details, notes...)}
	}
	passed := fmt.Sprintf("no finding breaks the policy (threshold %s)", p.Threshold)
	return Verdict{Result: Pass, Reason: ReasonPassed, Details: append([]string{passed}, notes...)}
}

// NeedsVulnerabilities reports whether Evaluate reads Report.Vulnerabilities,
// which is the case when FixableOnly is set or the allowlist is not empty.
func (p Policy) NeedsVulnerabilities() bool {
	return p.FixableOnly || len(p.Allowlist) > 0
}

// violations lists, worst first, the severities whose counts break the
// policy.
func (p Policy) violations(counts map[string]int64) []string {
	var details []string
	for _, name := range sortedBySeverity(counts) {
		s, n := severityOf(name), counts[name]
		if n <= 0 || !s.AtLeast(p.Threshold) {
			continue
		}
		if allowed := p.MaxCounts[s]; n > allowed {
			details = append(details, violation(name, n, allowed, p.Threshold))
		}
	}
	return details
}

// negativeCount returns the first severity, in sorted order, whose count is below zero.
// Such a summary is corrupt, and judging it could hide findings that the count cancels.
func negativeCount(counts map[string]int64) (string, int64, bool) {
	for _, name := range sortedBySeverity(counts) {
		if n := counts[name]; n < 0 {
			return name, n, true
		}
	}
	return "", 0, false
}

func fail(reason Reason, detail string) Verdict {
	return Verdict{Result: Fail, Reason: reason, Details: []string{detail}}
}

func violation(name string, n, allowed int64, threshold Severity) string {
	if allowed == 0 {
		return fmt.Sprintf("%d %s finding(s), threshold is %s", n, name, threshold)
	}
	return fmt.Sprintf("%d %s finding(s), at most %d allowed", n, name, allowed)
}

// sortedBySeverity lists the keys of counts from most to least severe,
// so the details name the worst findings first.
func sortedBySeverity(counts map[string]int64) []string {
	names := make([]string, 0, len(counts))
	for name := range counts {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		ri, rj := severityOf(names[i]).rank(), severityOf(names[j]).rank()
		if ri != rj {
			return ri > rj
		}
		return names[i] < names[j]
	})
	return names
}
