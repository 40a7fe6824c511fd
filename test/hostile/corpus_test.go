package hostile

import (
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
)

// minCorpusSize is the least number of cases the corpus must hold, so that it cannot
// shrink unnoticed.
const minCorpusSize = 50

// corpusTables returns the names of every case of the corpus, by the entry point that
// the cases feed.
func corpusTables() map[string][]string {
	tables := map[string][]string{}
	for _, tc := range paramCases {
		tables["CustomRun input"] = append(tables["CustomRun input"], tc.name)
	}
	for _, tc := range specCases {
		tables["ImageGate spec"] = append(tables["ImageGate spec"], tc.name)
	}
	for _, tc := range flagCases {
		tables["CLI flags"] = append(tables["CLI flags"], tc.name)
	}
	for _, tc := range webhookCases {
		tables["webhook delivery"] = append(tables["webhook delivery"], tc.name)
	}
	for _, tc := range harborCases {
		tables["Harbor response"] = append(tables["Harbor response"], tc.name)
	}
	return tables
}

func TestCorpusSize(t *testing.T) {
	total := 0
	for table, names := range corpusTables() {
		if len(names) < 5 {
			t.Errorf("the %s table has %d cases, want at least 5", table, len(names))
		}
		seen := map[string]bool{}
		for _, name := range names {
			if seen[name] {
				t.Errorf("the %s table has two cases named %q", table, name)
			}
			seen[name] = true
		}
		total += len(names)
	}
	if total < minCorpusSize {
		t.Errorf("the corpus has %d cases, want at least %d", total, minCorpusSize)
	}
	t.Logf("the corpus has %d cases", total)
}

// callSafely runs f and turns a panic into a test failure that shows the panic value
// and the stack, so that one case cannot stop the rest of the corpus.
func callSafely(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if v := recover(); v != nil {
			t.Fatalf("panic: %v\n%s", v, debug.Stack())
		}
	}()
	f()
}

// checkFragments reports each fragment that message, read from source, does not contain.
func checkFragments(t *testing.T, source, message string, fragments []string) {
	t.Helper()
	for _, fragment := range fragments {
		if !strings.Contains(message, fragment) {
			t.Errorf("%s does not contain %q:\n%s", source, fragment, message)
		}
	}
}

// knownGap marks a check that fails because of a known bug in a package this corpus
// does not own. While the bug is there, the check skips the test with the bug's
// description. Once the check passes, the test fails, so that the mark is removed.
type knownGap string

// check runs the result of a check that gap may break.
func (gap knownGap) check(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	switch {
	case gap == "" && !ok:
		t.Errorf(format, args...)
	case gap != "" && !ok:
		t.Skipf("known gap: %s (%s)", gap, fmt.Sprintf(format, args...))
	case gap != "" && ok:
		t.Errorf("the known gap %q no longer shows; remove its mark", string(gap))
	}
}
