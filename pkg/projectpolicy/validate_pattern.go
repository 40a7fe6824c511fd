package projectpolicy

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar"
)

// maxRetentionDays is the largest nDaysSinceLastPush value that Harbor evaluates correctly.
// Its evaluator (src/pkg/retention/policy/rule/daysps/evaluator.go) computes
// the cut-off as time.Duration(-24*days) * time.Hour, which overflows int64 nanoseconds
// for more days. The wrapped cut-off can lie in the future, and then the rule keeps no
// artifact at all. Harbor itself accepts values up to 20190904.
const maxRetentionDays = int(math.MaxInt64 / int64(24*time.Hour))

// sampleTags are tags of different kinds. A retention pattern that matches all of them
// matches every tag.
var sampleTags = []string{"latest", "v1.2.3", "1.2.3", "main", "nightly-20260101"}

func matchesEveryTag(pattern string) bool {
	for _, tag := range sampleTags {
		if matched, _ := doublestar.Match(pattern, tag); !matched {
			return false
		}
	}
	return true
}

// checkPatternLiterals rejects a pattern with a literal character that no tag and no
// repository name contains, because such a pattern never matches. Tags consist of
// [A-Za-z0-9_.-] (OCI distribution spec) and repository names add '/'. A ',' outside
// braces is such a literal for doublestar v1, as are '|', '!', '(' and ')', which it has
// no syntax for, so "v*,**" and "!(v*)" match nothing.
func checkPatternLiterals(pattern string) error {
	depth, inClass := 0, false
	for i := 0; i < len(pattern); {
		r, size := utf8.DecodeRuneInString(pattern[i:])
		i += size
		switch {
		case inClass:
			inClass = r != ']'
			continue
		case r == '[':
			inClass = true
			continue
		case r == '{':
			depth++
			continue
		case r == '}' && depth > 0:
			depth--
			continue
		case r == ',' && depth > 0, r == '*', r == '?':
			continue
		case r == '\\' && i < len(pattern):
			r, size = utf8.DecodeRuneInString(pattern[i:])
			i += size
		}
		if !isNameRune(r) {
			return literalError(pattern, r)
		}
	}
	return nil
}

func isNameRune(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
		strings.ContainsRune("_.-/", r)
}

func literalError(pattern string, r rune) error {
	hint := "remove it"
	if r == ',' || r == '|' {
		hint = "write alternatives in braces, such as {v*,release-*}"
	}
	return fmt.Errorf("pattern %q contains %q, which no tag or repository name contains, "+
		"so the pattern never matches: %s", pattern, r, hint)
}
