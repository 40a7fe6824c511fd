package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var evaluationTime = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// Findings of one image: a fixable Critical, an unfixable High listed
// twice (once per file the package was found in), and an unfixable Low.
var (
	criticalFixable = Vulnerability{ID: "CVE-2024-0001", Package: "openssl", Version: "3.0.0",
		FixVersion: "3.0.1", Severity: "Critical"}
	highUnfixable = Vulnerability{ID: "CVE-2024-0002", Package: "zlib", Version: "1.2.0",
		Severity: "High"}
	lowUnfixable = Vulnerability{ID: "CVE-2024-0003", Package: "busybox", Version: "1.36.0",
		Severity: "Low"}
)

func listReport(list ...Vulnerability) Report {
	counts := map[string]int64{}
	for _, v := range dedupe(list) {
		counts[v.Severity]++
	}
	if list == nil {
		list = []Vulnerability{}
	}
	return Report{Status: StatusSuccess, Counts: counts, CompletePercent: 100,
		Vulnerabilities: list}
}

func TestEvaluateAtVulnerabilityList(t *testing.T) {
	findings := listReport(criticalFixable, highUnfixable, highUnfixable, lowUnfixable)
	tests := []struct {
		name        string
		policy      Policy
		report      Report
		wantResult  Result
		wantReason  Reason
		wantDetails []string
	}{{
		name:       "fixable-only ignores unfixable high",
		policy:     Policy{Threshold: SeverityHigh, FixableOnly: true},
		report:     listReport(highUnfixable, lowUnfixable),
		wantResult: Pass,
		wantReason: ReasonPassed,
		wantDetails: []string{
			"no finding breaks the policy (threshold High)",
			"ignored 2 finding(s) without a fixed version (fixable-only)",
		},
	}, {
		name:       "fixable-only still fails on fixable critical",
		policy:     Policy{Threshold: SeverityHigh, FixableOnly: true},
		report:     findings,
		wantResult: Fail,
		wantReason: ReasonPolicyViolation,
		wantDetails: []string{
			"1 Critical finding(s), threshold is High",
			"ignored 2 finding(s) without a fixed version (fixable-only)",
		},
	}, {
		name: "unexpired entry exempts critical",
		policy: Policy{Threshold: SeverityCritical, Allowlist: []AllowlistEntry{
			{ID: "CVE-2024-0001", Expires: evaluationTime.Add(time.Hour)}}},
		report:     findings,
		wantResult: Pass,
		wantReason: ReasonPassed,
		wantDetails: []string{
			"no finding breaks the policy (threshold Critical)",
			"ignored 1 allowlisted finding(s): CVE-2024-0001 (Critical, openssl 3.0.0)",
		},
	}, {
		name: "entry without expiry matches regardless of case",
		policy: Policy{Threshold: SeverityCritical, Allowlist: []AllowlistEntry{
			{ID: " cve-2024-0001 "}}},
		report:     findings,
		wantResult: Pass,
		wantReason: ReasonPassed,
		wantDetails: []string{
			"no finding breaks the policy (threshold Critical)",
			"ignored 1 allowlisted finding(s): CVE-2024-0001 (Critical, openssl 3.0.0)",
		},
	}, {
		name: "expired entry exempts nothing",
		policy: Policy{Threshold: SeverityCritical, Allowlist: []AllowlistEntry{
			{ID: "CVE-2024-0001", Expires: evaluationTime}}},
		report:     findings,
		wantResult: Fail,
		wantReason: ReasonPolicyViolation,
		wantDetails: []string{
			"1 Critical finding(s), threshold is Critical",
			"expired allowlist entries, which exempt nothing: " +
				"CVE-2024-0001 (expired 2025-06-01T12:00:00Z)",
		},
	}, {
		name: "expired and unexpired entries together",
		policy: Policy{Threshold: SeverityHigh, Allowlist: []AllowlistEntry{
			{ID: "CVE-2024-0001", Expires: evaluationTime.Add(24 * time.Hour)},
			{ID: "CVE-2024-0002", Expires: evaluationTime.Add(-24 * time.Hour)}}},
		report:     findings,
		wantResult: Fail,
		wantReason: ReasonPolicyViolation,
		wantDetails: []string{
			"1 High finding(s), threshold is High",
			"ignored 1 allowlisted finding(s): CVE-2024-0001 (Critical, openssl 3.0.0)",
			"expired allowlist entries, which exempt nothing: " +
				"CVE-2024-0002 (expired 2025-05-31T12:00:00Z)",
		},
	}, {
		name: "allowlist and fixable-only together pass",
		policy: Policy{Threshold: SeverityLow, FixableOnly: true, Allowlist: []AllowlistEntry{
			{ID: "CVE-2024-0001", Reason: "not reachable"}}},
		report:     findings,
		wantResult: Pass,
		wantReason: ReasonPassed,
		wantDetails: []string{
			"no finding breaks the policy (threshold Low)",
			"ignored 1 allowlisted finding(s): CVE-2024-0001 (Critical, openssl 3.0.0)",
			"ignored 2 finding(s) without a fixed version (fixable-only)",
		},
	}, {
		name:       "max counts apply to what is left",
		policy:     Policy{Threshold: SeverityLow, FixableOnly: true, MaxCounts: map[Severity]int64{SeverityCritical: 1}},
		report:     findings,
		wantResult: Pass,
		wantReason: ReasonPassed,
		wantDetails: []string{
			"no finding breaks the policy (threshold Low)",
			"ignored 2 finding(s) without a fixed version (fixable-only)",
		},
	}, {
		name:       "clean image with empty list passes",
		policy:     Policy{Threshold: SeverityNone, FixableOnly: true},
		report:     listReport(),
		wantResult: Pass,
		wantReason: ReasonPassed,
		wantDetails: []string{
			"no finding breaks the policy (threshold None)",
		},
	}, {
		name:       "missing list fails as incomplete",
		policy:     Policy{Threshold: SeverityCritical, FixableOnly: true},
		report:     Report{Status: StatusSuccess, Counts: map[string]int64{}, CompletePercent: 100},
		wantResult: Fail,
		wantReason: ReasonScanIncomplete,
		wantDetails: []string{"the policy needs the vulnerability list (fixable-only or an " +
			"allowlist is set), but the report has none"},
	}, {
		name:   "list that disagrees with the summary fails",
		policy: Policy{Threshold: SeverityCritical, Allowlist: []AllowlistEntry{{ID: "CVE-1"}}},
		report: Report{Status: StatusSuccess, Counts: map[string]int64{"Critical": 2},
			CompletePercent: 100, Vulnerabilities: []Vulnerability{criticalFixable}},
		wantResult: Fail,
		wantReason: ReasonScanIncomplete,
		wantDetails: []string{"the vulnerability list has 1 finding(s) but the scan summary " +
			"counts 2; the artifact was probably scanned again meanwhile, so run the gate again"},
	}, {
		name:        "failed scan fails before the list is read",
		policy:      Policy{Threshold: SeverityCritical, FixableOnly: true},
		report:      Report{Status: StatusError},
		wantResult:  Fail,
		wantReason:  ReasonScanFailed,
		wantDetails: []string{`scan status is "Error", not Success`},
	}, {
		name:       "policy without list options ignores the list",
		policy:     Policy{Threshold: SeverityHigh},
		report:     Report{Status: StatusSuccess, Counts: map[string]int64{"High": 1}, CompletePercent: 100},
		wantResult: Fail,
		wantReason: ReasonPolicyViolation,
		wantDetails: []string{
			"1 High finding(s), threshold is High",
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.policy.EvaluateAt(tc.report, evaluationTime)
			if got.Result != tc.wantResult {
				t.Errorf("Result = %s, want %s", got.Result, tc.wantResult)
			}
			if got.Reason != tc.wantReason {
				t.Errorf("Reason = %s, want %s", got.Reason, tc.wantReason)
			}
			if diff := cmp.Diff(tc.wantDetails, got.Details); diff != "" {
				t.Errorf("Details (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateAtListsAtMostTenExemptions(t *testing.T) {
	var list []Vulnerability
	var allow []AllowlistEntry
	for i := range 12 {
		id := fmt.Sprintf("CVE-2024-%04d", i)
		list = append(list, Vulnerability{ID: id, Package: "p", Version: "1", Severity: "Low"})
		allow = append(allow, AllowlistEntry{ID: id})
	}
	got := Policy{Threshold: SeverityLow, Allowlist: allow}.EvaluateAt(listReport(list...),
		evaluationTime)
	if got.Result != Pass {
		t.Fatalf("Result = %s, want PASS (details %q)", got.Result, got.Details)
	}
	detail := got.Details[1]
	if !strings.HasPrefix(detail, "ignored 12 allowlisted finding(s): CVE-2024-0000 (Low, p 1)") {
		t.Errorf("detail = %q, want it to count all 12 and name the first", detail)
	}
	if !strings.HasSuffix(detail, "CVE-2024-0009 (Low, p 1) and 2 more") {
		t.Errorf("detail = %q, want it to end after ten ids with the number left out", detail)
	}
}

func TestEvaluateUsesCurrentTime(t *testing.T) {
	p := Policy{Threshold: SeverityCritical, Allowlist: []AllowlistEntry{
		{ID: criticalFixable.ID, Expires: time.Now().Add(-time.Minute)}}}
	if got := p.Evaluate(listReport(criticalFixable)); got.Result != Fail {
		t.Errorf("Evaluate with an entry that expired a minute ago = %s, want FAIL", got.Result)
	}
	p.Allowlist[0].Expires = time.Now().Add(time.Hour)
	if got := p.Evaluate(listReport(criticalFixable)); got.Result != Pass {
		t.Errorf("Evaluate with an entry that expires in an hour = %s, want PASS (%q)",
			got.Result, got.Details)
	}
}

func TestNeedsVulnerabilities(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		want   bool
	}{
		{"default policy", DefaultPolicy(), false},
		{"fixable-only", Policy{FixableOnly: true}, true},
		{"allowlist", Policy{Allowlist: []AllowlistEntry{{ID: "CVE-1"}}}, true},
		{"empty allowlist", Policy{Allowlist: []AllowlistEntry{}}, false},
	}
	for _, tc := range tests {
		if got := tc.policy.NeedsVulnerabilities(); got != tc.want {
			t.Errorf("%s: NeedsVulnerabilities() = %t, want %t", tc.name, got, tc.want)
		}
	}
}
