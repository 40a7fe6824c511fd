package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCombinePlatforms(t *testing.T) {
	pass := Verdict{Result: Pass, Reason: ReasonPassed, Details: []string{"clean"}}
	violation := Verdict{Result: Fail, Reason: ReasonPolicyViolation,
		Details: []string{"1 Critical finding(s), threshold is Critical"}}
	scanError := Failed(ReasonScanFailed, `scan status is "Error", not Success`)
	tests := []struct {
		name      string
		platforms map[string]Verdict
		want      Verdict
	}{
		{
			name:      "all pass",
			platforms: map[string]Verdict{"linux/arm64": pass, "linux/amd64": pass},
			want: Verdict{Result: Pass, Reason: ReasonPassed,
				Details: []string{"linux/amd64: clean", "linux/arm64: clean"}},
		},
		{
			name:      "one violation fails the index",
			platforms: map[string]Verdict{"linux/amd64": pass, "linux/arm64": violation},
			want: Verdict{Result: Fail, Reason: ReasonPolicyViolation, Details: []string{
				"linux/arm64: 1 Critical finding(s), threshold is Critical",
				"linux/amd64: clean"}},
		},
		{
			name:      "failed scan of one platform never passes",
			platforms: map[string]Verdict{"linux/amd64": pass, "linux/arm64": scanError},
			want: Verdict{Result: Fail, Reason: ReasonScanFailed, Details: []string{
				`linux/arm64: scan status is "Error", not Success`, "linux/amd64: clean"}},
		},
		{
			name: "violation outranks a failed scan",
			platforms: map[string]Verdict{"linux/amd64": scanError,
				"linux/arm64": violation},
			want: Verdict{Result: Fail, Reason: ReasonPolicyViolation, Details: []string{
				`linux/amd64: scan status is "Error", not Success`,
				"linux/arm64: 1 Critical finding(s), threshold is Critical"}},
		},
		{
			name:      "no platforms",
			platforms: nil,
			want: Failed(ReasonScanIncomplete,
				"the image index has no platform image to judge"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Combine(tt.platforms)); diff != "" {
				t.Errorf("Combine (-want +got):\n%s", diff)
			}
		})
	}
}
