package harbortest

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Final scan statuses a fixture rule may request, plus the two that keep a scan stuck.
const (
	StatusPending = "Pending"
	StatusRunning = "Running"
	StatusSuccess = "Success"
	StatusError   = "Error"
	StatusStopped = "Stopped"
)

// Default timing of a scan when the fixture sets none.
const (
	DefaultPending = 100 * time.Millisecond
	DefaultRunning = 400 * time.Millisecond
)

//go:embed testdata/default-fixture.yaml
var defaultFixtureYAML []byte

// Fixture decides what the double's scanner finds, how long each scan takes and how it ends.
type Fixture struct {
	// Scanner is reported in the overview of successful scans.
	// Empty fields default to Trivy, Aqua Security, v0.69.3.
	Scanner ScannerInfo `json:"scanner"`
	// Pending is how long a report stays Pending after the trigger. Nil means 100ms.
	Pending *Duration `json:"pending,omitempty"`
	// Running is how long a report stays Running before its final status. Nil means 400ms.
	Running *Duration `json:"running,omitempty"`
	// Rules are tried in order and the first match wins. An artifact that no rule matches
	// gets a clean report: Success with no findings.
	Rules []Rule `json:"rules,omitempty"`
}

// ScannerInfo names the scanner as Harbor shows it in a scan overview.
type ScannerInfo struct {
	Name    string `json:"name,omitempty"`
	Vendor  string `json:"vendor,omitempty"`
	Version string `json:"version,omitempty"`
}

// Rule selects artifacts and sets the outcome of their scans.
type Rule struct {
	// Repository is a path.Match glob on "<project>/<repository>". Empty matches every
	// repository. A "*" does not cross a "/", so "*/*app" misses "demo/team/app".
	Repository string `json:"repository,omitempty"`
	// Tag, when set, is a path.Match glob that must match at least one tag of the artifact.
	Tag string `json:"tag,omitempty"`
	// Digest, when set, must equal the artifact digest.
	Digest string `json:"digest,omitempty"`
	// Status is the final status: Success (the default), Error or Stopped. Pending or
	// Running keep the scan in that status forever.
	Status string `json:"status,omitempty"`
	// Pending and Running override the fixture's timing for matching artifacts.
	Pending *Duration `json:"pending,omitempty"`
	Running *Duration `json:"running,omitempty"`
	// Vulnerabilities are the findings of a successful scan.
	Vulnerabilities []Vulnerability `json:"vulnerabilities,omitempty"`
}

// Vulnerability is one finding of the double's scanner.
type Vulnerability struct {
	ID          string `json:"id"`
	Package     string `json:"package"`
	Version     string `json:"version"`
	FixVersion  string `json:"fix_version,omitempty"`
	Severity    string `json:"severity"`
	Description string `json:"description,omitempty"`
}

// Duration is a time.Duration written as a Go duration string such as "250ms".
type Duration struct {
	time.Duration
}

// MarshalJSON writes the duration as a string such as "1.5s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON reads a duration string such as "100ms".
func (d *Duration) UnmarshalJSON(data []byte) error {
	var text string
	if err := json.Unmarshal(data, &text); err != nil {
		return fmt.Errorf("invalid duration %s: write it as a string such as \"100ms\"", data)
	}
	parsed, err := time.ParseDuration(text)
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", text, err)
	}
	d.Duration = parsed
	return nil
}

// severityCodes orders per-vulnerability severities as Harbor v2.13 does in
// src/pkg/scan/vuln/severity.go; None is Harbor's overall severity for a clean report.
var severityCodes = map[string]int{
	"None": 0, "Unknown": 0, "Negligible": 1, "Low": 2, "Medium": 3, "High": 4, "Critical": 5,
}

// LoadFixture reads and validates a fixture file in YAML or JSON.
func LoadFixture(file string) (*Fixture, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading fixture: %w", err)
	}
	fixture, err := ParseFixture(data)
	if err != nil {
		return nil, fmt.Errorf("loading fixture %s: %w", file, err)
	}
	return fixture, nil
}

// ParseFixture parses and validates a fixture in YAML or JSON. Unknown fields are rejected
// and the error names them.
func ParseFixture(data []byte) (*Fixture, error) {
	var fixture Fixture
	if err := yaml.UnmarshalStrict(data, &fixture); err != nil {
		return nil, fmt.Errorf("parsing fixture: %w", err)
	}
	if err := fixture.Validate(); err != nil {
		return nil, err
	}
	return &fixture, nil
}

// DefaultFixture returns a fresh copy of the fixture that `harbor-gate sandbox` uses.
// Repositories matching "*/*vulnerable*" get one Critical, one High, one Medium and one Low
// finding; every other artifact is clean apart from one Low finding without a fix.
func DefaultFixture() *Fixture {
	fixture, err := ParseFixture(defaultFixtureYAML)
	if err != nil {
		panic(fmt.Sprintf("embedded default fixture is invalid: %v", err))
	}
	return fixture
}

// Validate reports the first invalid value in the fixture: a bad glob, status, severity,
// digest or a negative duration.
func (f *Fixture) Validate() error {
	if err := validateDurations("fixture", f.Pending, f.Running); err != nil {
		return err
	}
	for i, rule := range f.Rules {
		if err := rule.validate(); err != nil {
			return fmt.Errorf("invalid rule %d: %w", i+1, err)
		}
	}
	return nil
}

func (r Rule) validate() error {
	for _, glob := range []string{r.Repository, r.Tag} {
		if _, err := path.Match(glob, ""); err != nil {
			return fmt.Errorf("invalid glob %q: %w", glob, err)
		}
	}
	if r.Digest != "" && !isDigest(r.Digest) {
		return fmt.Errorf("invalid digest %q: want sha256:<64 hex digits>", r.Digest)
	}
	switch r.Status {
	case "", StatusSuccess, StatusError, StatusStopped, StatusPending, StatusRunning:
	default:
		return fmt.Errorf("invalid status %q: use Success, Error, Stopped, Pending or Running",
			r.Status)
	}
	if err := validateDurations("rule", r.Pending, r.Running); err != nil {
		return err
	}
	for _, v := range r.Vulnerabilities {
		if _, ok := severityCodes[v.Severity]; !ok || v.Severity == "None" {
			return fmt.Errorf("invalid severity %q of %s: use Unknown, Negligible, Low, "+
				"Medium, High or Critical", v.Severity, v.ID)
		}
		if v.ID == "" || v.Package == "" {
			return fmt.Errorf("vulnerability %q in package %q: id and package are required",
				v.ID, v.Package)
		}
	}
	return nil
}

func validateDurations(owner string, durations ...*Duration) error {
	for _, d := range durations {
		if d != nil && d.Duration < 0 {
			return fmt.Errorf("invalid %s duration %s: must not be negative", owner, d)
		}
	}
	return nil
}

// match returns the first rule that selects the artifact, or nil.
func (f *Fixture) match(repository, digest string, tags []string) *Rule {
	for i := range f.Rules {
		rule := &f.Rules[i]
		if rule.Repository != "" && !globMatch(rule.Repository, repository) {
			continue
		}
		if rule.Digest != "" && rule.Digest != digest {
			continue
		}
		if rule.Tag != "" && !anyTagMatches(rule.Tag, tags) {
			continue
		}
		return rule
	}
	return nil
}

func anyTagMatches(glob string, tags []string) bool {
	for _, tag := range tags {
		if globMatch(glob, tag) {
			return true
		}
	}
	return false
}

// globMatch applies path.Match to a glob that Validate has already checked.
func globMatch(glob, name string) bool {
	ok, _ := path.Match(glob, name)
	return ok
}

// outcome resolves the timing, final status and findings that a scan of the artifact gets.
func (f *Fixture) outcome(repository, digest string, tags []string) scanOutcome {
	out := scanOutcome{
		pending: durationOr(f.Pending, DefaultPending),
		running: durationOr(f.Running, DefaultRunning),
		final:   StatusSuccess,
	}
	rule := f.match(repository, digest, tags)
	if rule == nil {
		return out
	}
	out.pending = durationOr(rule.Pending, out.pending)
	out.running = durationOr(rule.Running, out.running)
	if rule.Status != "" {
		out.final = rule.Status
	}
	out.vulnerabilities = append([]Vulnerability(nil), rule.Vulnerabilities...)
	return out
}

func durationOr(d *Duration, fallback time.Duration) time.Duration {
	if d == nil {
		return fallback
	}
	return d.Duration
}

// scannerInfo fills the scanner fields that the fixture leaves empty.
func (f *Fixture) scannerInfo() ScannerInfo {
	info := f.Scanner
	if info.Name == "" {
		info.Name = "Trivy"
	}
	if info.Vendor == "" {
		info.Vendor = "Aqua Security"
	}
	if info.Version == "" {
		info.Version = "v0.69.3"
	}
	return info
}

func isDigest(s string) bool {
	hex, ok := strings.CutPrefix(s, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	return strings.Trim(hex, "0123456789abcdef") == ""
}
