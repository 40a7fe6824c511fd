package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/druppie/harbor-gate/pkg/gate"
)

// output is the JSON document "publish --output json" prints.
type output struct {
	Verdict      string           `json:"verdict"`
	Reason       string           `json:"reason"`
	Details      []string         `json:"details"`
	ImageURL     string           `json:"imageURL"`
	ImageDigest  string           `json:"imageDigest"`
	Counts       map[string]int64 `json:"counts"`
	SignatureRef string           `json:"signatureRef,omitempty"`
	ArtifactURL  string           `json:"artifactURL"`
	ScanStatus   string           `json:"scanStatus"`
	// PlatformCounts has the counts of each platform image of an index, keyed
	// like the PLATFORM_COUNTS result; it is left out for a single image.
	PlatformCounts map[string]map[string]int64 `json:"platformCounts,omitempty"`
}

func newOutput(res *gate.Result) output {
	return output{
		Verdict:        string(res.Verdict.Result),
		Reason:         string(res.Verdict.Reason),
		Details:        res.Verdict.Details,
		ImageURL:       res.ImageURL,
		ImageDigest:    res.Digest,
		Counts:         res.Counts,
		SignatureRef:   res.SignatureRef,
		ArtifactURL:    res.ArtifactURL,
		ScanStatus:     string(res.Scan.Status),
		PlatformCounts: res.PlatformCounts,
	}
}

// writeResults writes one file per Tekton result into dir, creating dir
// if needed. The reason file holds the reason word and its details.
func writeResults(dir string, res *gate.Result) error {
	// Clean first: MkdirAll would create "VERDICT" for a path such as
	// "$(results.VERDICT.path)/..".
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the results directory: %w", err)
	}
	values, err := res.Values()
	if err != nil {
		return err
	}
	for _, v := range values {
		path := filepath.Join(dir, v.Name)
		if err := os.WriteFile(path, []byte(v.Value), 0o644); err != nil {
			return fmt.Errorf("writing result %s: %w", v.Name, err)
		}
	}
	return nil
}

// writeSummary prints the verdict for people.
func writeSummary(w io.Writer, res *gate.Result) {
	fmt.Fprintf(w, "\n%s  %s@%s\n", res.Verdict.Result, res.ImageURL, res.Digest)
	fmt.Fprintf(w, "  reason:    %s\n", res.Verdict.Reason)
	for _, d := range res.Verdict.Details {
		fmt.Fprintf(w, "             %s\n", d)
	}
	fmt.Fprintf(w, "  findings:  %s\n", formatCounts(res.Counts))
	if res.SignatureRef != "" {
		fmt.Fprintf(w, "  signature: %s\n", res.SignatureRef)
	}
	fmt.Fprintf(w, "  harbor:    %s\n", res.ArtifactURL)
}

func formatCounts(counts map[string]int64) string {
	if len(counts) == 0 {
		return "none"
	}
	order := map[string]int{"Critical": 0, "High": 1, "Medium": 2, "Low": 3,
		"Negligible": 4, "Unknown": 5}
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		oi, iok := order[names[i]]
		oj, jok := order[names[j]]
		if iok != jok {
			return iok
		}
		if oi != oj {
			return oi < oj
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%d %s", counts[n], n)
	}
	return strings.Join(parts, ", ")
}

// writeOutput prints the machine-readable result on stdout.
func writeOutput(w io.Writer, format string, res *gate.Result) error {
	if format != "json" {
		_, err := fmt.Fprintf(w, "%s %s@%s\n", res.Verdict.Result, res.ImageURL, res.Digest)
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(newOutput(res))
}
