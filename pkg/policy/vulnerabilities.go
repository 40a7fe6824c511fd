package policy

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Vulnerability is one finding of a scan, as Harbor lists it in an
// artifact's vulnerabilities addition.
type Vulnerability struct {
	// ID is the vulnerability id, for example "CVE-2024-3094".
	ID string
	// Package and Version name the affected package.
	Package, Version string
	// FixVersion is the first version of the package without the
	// vulnerability, or "" when no fix is known.
	FixVersion string
	// Severity is the scanner's severity, spelt as Harbor spells it, for
	// example "Critical".
	Severity string
}

// AllowlistEntry exempts the findings with one vulnerability id from the
// policy.
type AllowlistEntry struct {
	// ID is the vulnerability id, for example "CVE-2024-3094". It matches
	// findings regardless of case and surrounding spaces.
	ID string
	// Expires is the time from which the entry no longer exempts
	// anything. The zero time means it never expires.
	Expires time.Time
	// Reason is the justification for accepting the vulnerability.
	Reason string
}

// expired reports whether the entry no longer exempts anything at now.
func (e AllowlistEntry) expired(now time.Time) bool {
	return !e.Expires.IsZero() && !now.Before(e.Expires)
}

// maxListed bounds the ids a detail names, so that a long list still
// fits the few kilobytes Tekton allows for results.
const maxListed = 10

// filtered is the outcome of applying FixableOnly and the allowlist to a
// vulnerability list.
type filtered struct {
	// counts maps a severity name to the findings that still count.
	counts map[string]int64
	// allowlisted are the findings an unexpired entry exempted.
	allowlisted []Vulnerability
	// unfixable is the number of findings without a fixed version that
	// FixableOnly dropped.
	unfixable int
	// expired are the allowlist entries that have expired.
	expired []AllowlistEntry
}

// filter counts the findings of r that the policy does not exempt. It
// fails when the list is missing or does not match the scan summary.
func (p Policy) filter(r Report, now time.Time) (filtered, error) {
	if r.Vulnerabilities == nil {
		return filtered{}, errors.New("the policy needs the vulnerability list " +
			"(fixable-only or an allowlist is set), but the report has none")
	}
	unique := dedupe(r.Vulnerabilities)
	if err := checkTotal(len(unique), r.Counts); err != nil {
		return filtered{}, err
	}
	active := map[string]bool{}
	f := filtered{counts: map[string]int64{}}
	for _, entry := range p.Allowlist {
		if entry.expired(now) {
			f.expired = append(f.expired, entry)
			continue
		}
		active[normalizeID(entry.ID)] = true
	}
	for _, v := range unique {
		switch {
		case active[normalizeID(v.ID)]:
			f.allowlisted = append(f.allowlisted, v)
		case p.FixableOnly && strings.TrimSpace(v.FixVersion) == "":
			f.unfixable++
		default:
			f.counts[v.Severity]++
		}
	}
	return f, nil
}

// dedupe drops repeated findings of the same id, package and version,
// keeping the first. Harbor v2.13 counts findings the same way in the
// summary of a report (src/pkg/scan/report/summary.go), and a scanner
// lists a package once for every file it was found in.
func dedupe(list []Vulnerability) []Vulnerability {
	type identity struct{ id, pkg, version string }
	seen := map[identity]bool{}
	unique := make([]Vulnerability, 0, len(list))
	for _, v := range list {
		key := identity{v.ID, v.Package, v.Version}
		if !seen[key] {
			seen[key] = true
			unique = append(unique, v)
		}
	}
	return unique
}

// checkTotal rejects a list whose length differs from the summary's
// total. The summary and the list are read in two requests, and a scan
// that restarts in between replaces the report, so a mismatch means the
// list may belong to another scan.
func checkTotal(listed int, counts map[string]int64) error {
	var total int64
	for _, n := range counts {
		total += n
	}
	if int64(listed) != total {
		return fmt.Errorf("the vulnerability list has %d finding(s) but the scan summary "+
			"counts %d; the artifact was probably scanned again meanwhile, so run the "+
			"gate again", listed, total)
	}
	return nil
}

func normalizeID(id string) string {
	return strings.ToUpper(strings.TrimSpace(id))
}

// notes describes what the policy exempted and which allowlist entries
// expired, for the verdict's details.
func (f filtered) notes() []string {
	var notes []string
	if len(f.allowlisted) > 0 {
		names := make([]string, len(f.allowlisted))
		for i, v := range f.allowlisted {
			names[i] = fmt.Sprintf("%s (%s, %s %s)", v.ID, v.Severity, v.Package, v.Version)
		}
		notes = append(notes, fmt.Sprintf("ignored %d allowlisted finding(s): %s",
			len(names), listSome(names)))
	}
	if f.unfixable > 0 {
		notes = append(notes, fmt.Sprintf(
			"ignored %d finding(s) without a fixed version (fixable-only)", f.unfixable))
	}
	if len(f.expired) > 0 {
		names := make([]string, len(f.expired))
		for i, e := range f.expired {
			names[i] = fmt.Sprintf("%s (expired %s)", e.ID, e.Expires.UTC().Format(time.RFC3339))
		}
		sort.Strings(names)
		notes = append(notes, fmt.Sprintf("expired allowlist entries, which exempt nothing: %s",
			listSome(names)))
	}
	return notes
}

// listSome joins up to maxListed names and counts the rest.
func listSome(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxListed], ", "),
		len(names)-maxListed)
}
