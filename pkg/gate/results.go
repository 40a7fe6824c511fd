package gate

import (
	"encoding/json"
	"fmt"
)

// Names of the results a run produces, written by "harbor-gate publish"
// as Tekton result files and set by the controller on CustomRuns.
// IMAGE_URL and IMAGE_DIGEST are the names Tekton Chains reads to find a
// built image.
const (
	ResultVerdict      = "VERDICT"
	ResultReason       = "REASON"
	ResultImageURL     = "IMAGE_URL"
	ResultImageDigest  = "IMAGE_DIGEST"
	ResultCounts       = "VULNERABILITY_COUNTS"
	ResultSignatureRef = "SIGNATURE_REF"
	ResultArtifactURL  = "ARTIFACT_URL"
	// ResultPlatformCounts is a JSON object from each platform image of
	// an index to its counts, such as {"linux/amd64": {"High": 1}}; "{}"
	// for an image.
	ResultPlatformCounts = "PLATFORM_COUNTS"
)

// ResultNames returns the names of every result a run produces.
func ResultNames() []string {
	return []string{ResultVerdict, ResultReason, ResultImageURL, ResultImageDigest,
		ResultCounts, ResultSignatureRef, ResultArtifactURL, ResultPlatformCounts}
}

// NamedValue is one result of a run.
type NamedValue struct {
	Name, Value string
}

// Values returns the run's results in a fixed order. The reason result
// is the reason word, a colon and the verdict's details; the counts are
// a JSON object from severity to number of findings, and the platform
// counts a JSON object from platform to such an object.
func (r *Result) Values() ([]NamedValue, error) {
	counts, err := json.Marshal(r.Counts)
	if err != nil {
		return nil, fmt.Errorf("encoding vulnerability counts: %w", err)
	}
	platforms := r.PlatformCounts
	if platforms == nil {
		platforms = map[string]map[string]int64{}
	}
	platformCounts, err := json.Marshal(platforms)
	if err != nil {
		return nil, fmt.Errorf("encoding per-platform vulnerability counts: %w", err)
	}
	return []NamedValue{
		{ResultVerdict, string(r.Verdict.Result)},
		{ResultReason, fmt.Sprintf("%s: %s", r.Verdict.Reason, r.Verdict.Message())},
		{ResultImageURL, r.ImageURL},
		{ResultImageDigest, r.Digest},
		{ResultCounts, string(counts)},
		{ResultSignatureRef, r.SignatureRef},
		{ResultArtifactURL, r.ArtifactURL},
		{ResultPlatformCounts, string(platformCounts)},
	}, nil
}
