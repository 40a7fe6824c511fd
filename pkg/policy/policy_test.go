package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name       string
		policy     Policy
		report     Report
		wantResult Result
		wantReason Reason
		wantDetail string
	}{{
		name:       "clean image passes",
		policy:     DefaultPolicy(),
		report:     Report{Status: "Success", Counts: map[string]int64{}, CompletePercent: 100},
		wantResult: Pass,
		wantReason: ReasonPassed,
		wantDetail: "threshold Critical",
	}, {
		name:       "high findings pass the default policy",
		policy:     DefaultPolicy(),
		report:     Report{Status: "Success", Counts: map[string]int64{"High": 3, "Low": 1}, CompletePercent: 100},
		wantResult: Pass,
		wantReason: ReasonPassed,
	}, {
		name:       "one critical fails the default policy",
		policy:     DefaultPolicy(),
		report:     Report{Status: "Success", Counts: map[string]int64{"Critical": 1, "Low": 4}, CompletePercent: 100},
		wantResult: Fail,
		wantReason: ReasonPolicyViolation,
		wantDetail: "1 Critical finding(s), threshold is Critical",
	}, {
		name:       "high threshold fails on high",
		policy:     Policy{Threshold: SeverityHigh},
		report:     Report{Status: "Success", Counts: map[string]int64{"High": 2}, CompletePercent: 100},
		wantResult: Fail,
		wantReason: ReasonPolicyViolation,
		wantDetail: "2 High finding(s)",
	}, {
		name:       "max count allows some",
		policy:     Policy{Threshold: SeverityHigh, MaxCounts: map[Severity]int64{SeverityHigh: 2}},
		report:     Report{Status: "Success", Counts: map[string]int64{"High": 2}, CompletePercent: 100},
		wantResult: Pass,
		wantReason: ReasonPassed,
	}, {
		name:       "max count exceeded",
		policy:     Policy{Threshold: SeverityHigh, MaxCounts: map[Severity]int64{SeverityHigh: 2}},
		report:     Report{Status: "Success", Counts: map[string]int64{"High": 3}, CompletePercent: 100},
		wantResult: Fail,
		wantReason: ReasonPolicyViolation,
		wantDetail: "3 High finding(s), at most 2 allowed",
	}, {
		name:       "unrecognised severity ranks above critical",
		policy:     DefaultPolicy(),
		report:     Report{Status: "Success", Counts: map[string]int64{"Catastrophic": 1}, CompletePercent: 100},
		wantResult: Fail,
		wantReason: ReasonPolicyViolation,
		wantDetail: "1 Catastrophic finding(s)",
	}, {
		name:       "zero counts are ignored",
		policy:     DefaultPolicy(),
		report:     Report{Status: "Success", Counts: map[string]int64{"Critical": 0}, CompletePercent: 100},
		wantResult: Pass,
		wantReason: ReasonPassed,
	}, {
		name:       "error status fails",
		policy:     DefaultPolicy(),
		report:     Report{Status: "Error"},
		wantResult: Fail,
		wantReason: ReasonScanFailed,
		wantDetail: `scan status is "Error"`,
	}, {
		name:       "stopped status fails",
		policy:     DefaultPolicy(),
		report:     Report{Status: "Stopped", Counts: map[string]int64{}, CompletePercent: 100},
		wantResult: Fail,
		wantReason: ReasonScanFailed,
	}, {
		name:       "empty status fails",
		policy:     DefaultPolicy(),
		report:     Report{Counts: map[string]int64{}, CompletePercent: 100},
		wantResult: Fail,
		wantReason: ReasonScanFailed,
	}, {
		name:       "success without summary fails",
		policy:     DefaultPolicy(),
		report:     Report{Status: "Success", CompletePercent: 100},
		wantResult: Fail,
		wantReason: ReasonScanIncomplete,
		wantDetail: "no summary",
	}, {
		name:       "impossible completion fails",
		policy:     DefaultPolicy(),
		report:     Report{Status: "Success", Counts: map[string]int64{}, CompletePercent: 101},
		wantResult: Fail,
		wantReason: ReasonScanFailed,
		wantDetail: "101% complete",
	}, {
		name:       "negative count fails",
		policy:     DefaultPolicy(),
		report:     Report{Status: "Success", Counts: map[string]int64{"Critical": -1, "High": 0}, CompletePercent: 100},
		wantResult: Fail,
		wantReason: ReasonScanFailed,
		wantDetail: "-1 Critical findings, a negative count",
	}, {
		name:       "negative count below the threshold fails",
		policy:     DefaultPolicy(),
		report:     Report{Status: "Success", Counts: map[string]int64{"Low": -3}, CompletePercent: 100},
		wantResult: Fail,
		wantReason: ReasonScanFailed,
		wantDetail: "-3 Low findings",
	}, {
		name:       "partial index scan fails",
		policy:     DefaultPolicy(),
		report:     Report{Status: "Success", Counts: map[string]int64{}, CompletePercent: 50},
		wantResult: Fail,
		wantReason: ReasonScanIncomplete,
		wantDetail: "50% of the image's platforms",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.policy.Evaluate(tc.report)
			if got.Result != tc.wantResult {
				t.Errorf("Result = %s, want %s (details %q)", got.Result, tc.wantResult, got.Details)
			}
			if got.Reason != tc.wantReason {
				t.Errorf("Reason = %s, want %s", got.Reason, tc.wantReason)
			}
			if !strings.Contains(got.Message(), tc.wantDetail) {
				t.Errorf("Message() = %q, want it to contain %q", got.Message(), tc.wantDetail)
			}
		})
	}
}

func TestEvaluateNamesWorstFirst(t *testing.T) {
	p := Policy{Threshold: SeverityMedium}
	got := p.Evaluate(Report{
		Status:          "Success",
		Counts:          map[string]int64{"Medium": 1, "Critical": 2, "High": 3},
		CompletePercent: 100,
	}).Details
	want := []string{
		"2 Critical finding(s), threshold is Medium",
		"3 High finding(s), threshold is Medium",
		"1 Medium finding(s), threshold is Medium",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Details (-want +got):\n%s", diff)
	}
}

func TestParseSeverity(t *testing.T) {
	for _, in := range []string{"critical", "CRITICAL", " Critical "} {
		got, err := ParseSeverity(in)
		if err != nil || got != SeverityCritical {
			t.Errorf("ParseSeverity(%q) = %v, %v; want Critical", in, got, err)
		}
	}
	_, err := ParseSeverity("severe")
	if err == nil {
		t.Fatal("ParseSeverity(severe) succeeded, want an error")
	}
	for _, want := range []string{`"severe"`, "critical", "medium"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestSeverityOrder(t *testing.T) {
	if !SeverityUnknown.AtLeast(SeverityNone) || !SeverityNone.AtLeast(SeverityUnknown) {
		t.Error("None and Unknown must rank the same, as in Harbor")
	}
	if SeverityHigh.AtLeast(SeverityCritical) {
		t.Error("High ranks at least Critical, want below")
	}
	if !SeverityUnrecognised.AtLeast(SeverityCritical) {
		t.Error("an unrecognised severity must rank above Critical")
	}
}
