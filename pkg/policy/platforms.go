package policy

import (
	"maps"
	"slices"
)

// reasonRank orders the reasons of a FAIL for Combine: a policy violation is a certain
// finding, so it outranks a platform whose scan gave no usable result.
var reasonRank = map[Reason]int{
	ReasonPassed:          0,
	ReasonScanIncomplete:  1,
	ReasonScanFailed:      1,
	ReasonNotScannable:    1,
	ReasonTimedOut:        1,
	ReasonPolicyViolation: 2,
}

// Combine judges an image index by the verdicts of its platform images, keyed by
// platform such as "linux/amd64". The index passes only when every platform passes.
// Otherwise its reason is the worst platform's, and PolicyViolation outranks the reasons
// of a scan without a usable result. The details name the platform of each
// detail, failing platforms first. An empty map fails with ReasonScanIncomplete, since an
// index without platform images has nothing that was scanned.
func Combine(platforms map[string]Verdict) Verdict {
	if len(platforms) == 0 {
		return fail(ReasonScanIncomplete, "the image index has no platform image to judge")
	}
	names := slices.Sorted(maps.Keys(platforms))
	worst := platforms[names[0]]
	for _, name := range names[1:] {
		v := platforms[name]
		if v.Result == Fail && (worst.Result == Pass || reasonRank[v.Reason] > reasonRank[worst.Reason]) {
			worst = v
		}
	}
	combined := Verdict{Result: worst.Result, Reason: worst.Reason}
	for _, failing := range []bool{true, false} {
		for _, name := range names {
			v := platforms[name]
			if (v.Result == Fail) != failing {
				continue
			}
			for _, detail := range v.Details {
				combined.Details = append(combined.Details, name+": "+detail)
			}
		}
	}
	return combined
}
