package policy

import (
	"fmt"
	"strings"
)

// Severity is a vulnerability severity, ordered as Harbor v2.13 orders
// them in src/pkg/scan/vuln/severity.go: None and Unknown rank lowest,
// Critical highest.
type Severity int

// The severities Harbor and its scanners report. Harbor gives None and
// Unknown the same rank; they stay distinct here so messages can name them.
const (
	SeverityNone Severity = iota
	SeverityUnknown
	SeverityNegligible
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
	// SeverityUnrecognised ranks any name Harbor does not know above
	// Critical, as Harbor does, so an unexpected name can only make the
	// verdict stricter.
	SeverityUnrecognised
)

var severityNames = [...]string{
	SeverityNone:         "None",
	SeverityUnknown:      "Unknown",
	SeverityNegligible:   "Negligible",
	SeverityLow:          "Low",
	SeverityMedium:       "Medium",
	SeverityHigh:         "High",
	SeverityCritical:     "Critical",
	SeverityUnrecognised: "Unrecognised",
}

// String returns the severity as Harbor spells it, for example "Critical".
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("Severity(%d)", int(s))
	}
	return severityNames[s]
}

// rank is the order Harbor uses to compare severities.
func (s Severity) rank() int {
	switch s {
	case SeverityNone, SeverityUnknown:
		return 0
	case SeverityUnrecognised:
		return 99
	default:
		return int(s) - 1
	}
}

// AtLeast reports whether s is as severe as other or more.
func (s Severity) AtLeast(other Severity) bool {
	return s.rank() >= other.rank()
}

// ParseSeverity parses a severity name such as "critical" or "High",
// ignoring case. It rejects any other name with an error that lists the
// accepted ones.
func ParseSeverity(name string) (Severity, error) {
	for s := SeverityNone; s <= SeverityCritical; s++ {
		if strings.EqualFold(strings.TrimSpace(name), severityNames[s]) {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q: use one of none, unknown, negligible, "+
		"low, medium, high, critical", name)
}

// severityOf maps a severity key from a Harbor summary to a Severity.
// Names Harbor does not define map to SeverityUnrecognised.
func severityOf(name string) Severity {
	s, err := ParseSeverity(name)
	if err != nil {
		return SeverityUnrecognised
	}
	return s
}
