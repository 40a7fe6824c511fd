package cli

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"sigs.k8s.io/yaml"

	"github.com/druppie/harbor-gate/pkg/policy"
)

// dateLayout is the form of an expiry date given without a time.
const dateLayout = "2006-01-02"

// allowlistFileEntry is one entry of an --allowlist file.
type allowlistFileEntry struct {
	ID      string `json:"id"`
	Expires string `json:"expires,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// allowlist builds the policy's allowlist from the --allowlist file and the --allow values,
// in that order. Ids must be unique, ignoring case, across both.
func allowlist(file string, values []string) ([]policy.AllowlistEntry, error) {
	var entries []policy.AllowlistEntry
	if file != "" {
		fromFile, err := readAllowlistFile(file)
		if err != nil {
			return nil, err
		}
		entries = fromFile
	}
	for _, value := range values {
		id, expires, _ := strings.Cut(value, "=")
		entry, err := newAllowlistEntry(id, expires, "")
		if err != nil {
			return nil, usagef("invalid --allow %q: %v; use CVE-ID or CVE-ID=YYYY-MM-DD",
				value, err)
		}
		entries = append(entries, entry)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		key := strings.ToUpper(e.ID)
		if seen[key] {
			return nil, usagef("the allowlist names %s twice; give each id once", e.ID)
		}
		seen[key] = true
	}
	return entries, nil
}

// readAllowlistFile reads a YAML or JSON list of {id, expires, reason}. Unknown fields are
// rejected, so that a misspelt "expires" does not make an entry last forever.
func readAllowlistFile(path string) ([]policy.AllowlistEntry, error) {
	data, err := readFile("allowlist", path)
	if err != nil {
		return nil, err
	}
	var list []allowlistFileEntry
	if err := yaml.UnmarshalStrict(data, &list); err != nil {
		return nil, usagef("--allowlist %s: %v; write a YAML or JSON list of entries with "+
			"id, expires (YYYY-MM-DD or an RFC 3339 time) and reason", path, err)
	}
	entries := make([]policy.AllowlistEntry, 0, len(list))
	for i, item := range list {
		entry, err := newAllowlistEntry(item.ID, item.Expires, item.Reason)
		if err != nil {
			return nil, usagef("--allowlist %s: entry %d: %v", path, i+1, err)
		}
		entries = append(entries, entry)
	}
	return entries, nil
}

// newAllowlistEntry checks an id and parses its expiry, which may be empty for none.
func newAllowlistEntry(id, expires, reason string) (policy.AllowlistEntry, error) {
	id = strings.TrimSpace(id)
	switch {
	case id == "":
		return policy.AllowlistEntry{}, fmt.Errorf("missing vulnerability id")
	case strings.ContainsFunc(id, unicode.IsSpace):
		return policy.AllowlistEntry{}, fmt.Errorf("the id %q contains a space", id)
	}
	entry := policy.AllowlistEntry{ID: id, Reason: reason}
	if expires == "" {
		return entry, nil
	}
	t, err := parseExpiry(expires)
	if err != nil {
		return policy.AllowlistEntry{}, fmt.Errorf("invalid expiry of %s: %w", id, err)
	}
	entry.Expires = t
	return entry, nil
}

// parseExpiry reads a date, which the entry stays valid through (until midnight UTC at its
// end), or an RFC 3339 time, at which the entry expires.
func parseExpiry(value string) (time.Time, error) {
	value = strings.TrimSpace(value)
	if day, err := time.Parse(dateLayout, value); err == nil {
		return day.AddDate(0, 0, 1), nil
	}
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a date YYYY-MM-DD nor an RFC 3339 time",
			value)
	}
	return t, nil
}
