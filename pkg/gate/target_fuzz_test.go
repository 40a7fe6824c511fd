package gate

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseTarget runs ParseTarget on any string. It must not panic, and
// its errors quote the input. A parsed Target names a project and a
// repository without empty, "." or ".." components, and its String parses
// to the same project, repository and tag.
func FuzzParseTarget(f *testing.F) {
	seeds := []string{
		// Valid targets.
		"harbor.example/team/app:v1",
		"harbor.example/team/app",
		"127.0.0.1:5000/team/group/app:1.0",
		"harbor.example:8443/team/a.b_c__d-e/f:_tag.1-2",
		"[::1]:5000/team/app:latest",
		"index.docker.io/library/app:1",
		"harbor.example/team/app:" + strings.Repeat("t", 128),
		// Invalid targets.
		"",
		"harbor.example/app:v1",
		"harbor.example/Team/App",
		"harbor.example/team/app@sha256:" + strings.Repeat("a", 64),
		"harbor.example/team/app:v1@sha256:" + strings.Repeat("a", 64),
		"harbor.example/team/app:bad tag",
		"team/app:v1",
		"harbor.example/team/../app:v1",
		"harbor.example/team/a/./b:v1",
		"harbor.example/team//app",
		"harbor.example/team/app/",
		"harbor.example/team/app:-bad",
		"harbor.example/team/app:.bad",
		"harbor.example/team/app:" + strings.Repeat("t", 129),
		"harbor.example/team/app::v1",
		"harbor.example/team/%2e%2e/app",
		"harbor.example/team/\u0430pp:v1",
		"harbor.example/team/app:v1\x00",
		"http://harbor.example/team/app:v1",
		"harbor.example/team/app:v1 ",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		target, err := ParseTarget(s)
		if err != nil {
			checkTargetError(t, s, err)
			return
		}
		checkTarget(t, s, target)
		again, err := ParseTarget(target.String())
		if err != nil {
			t.Fatalf("ParseTarget(%q) succeeded, but its String() %q fails to parse: %v",
				s, target.String(), err)
		}
		if again.Project != target.Project || again.Repository != target.Repository ||
			again.Tag != target.Tag {
			t.Errorf("ParseTarget(%q) = %q/%q:%q, but its String() %q parses to %q/%q:%q",
				s, target.Project, target.Repository, target.Tag, target.String(),
				again.Project, again.Repository, again.Tag)
		}
	})
}

// checkTargetError checks that a ParseTarget error quotes the input and
// names the expected form or the part of the input that breaks it.
func checkTargetError(t *testing.T, s string, err error) {
	t.Helper()
	message := err.Error()
	if !strings.HasPrefix(message, "invalid target "+strconv.Quote(s)) {
		t.Errorf("ParseTarget(%q) error = %q, want it to start with \"invalid target\" "+
			"and the quoted input", s, message)
	}
	if !strings.Contains(message, "HOST/PROJECT/REPOSITORY") &&
		!strings.Contains(message, "path component") && !strings.Contains(message, "tag") {
		t.Errorf("ParseTarget(%q) error = %q, want it to name the expected form", s, message)
	}
}

// checkTarget checks the invariants of a Target that ParseTarget returned.
func checkTarget(t *testing.T, s string, target Target) {
	t.Helper()
	if target.Project == "" {
		t.Errorf("ParseTarget(%q) returned an empty Project", s)
	}
	if target.Repository == "" {
		t.Errorf("ParseTarget(%q) returned an empty Repository", s)
	}
	for _, c := range strings.Split(target.Repository, "/") {
		if c == "" || c == "." || c == ".." {
			t.Errorf("ParseTarget(%q) returned Repository %q with the component %q",
				s, target.Repository, c)
		}
	}
	if strings.Contains(target.Project, "/") {
		t.Errorf("ParseTarget(%q) returned Project %q with a '/'", s, target.Project)
	}
	if target.Tag != "" && !strings.HasSuffix(s, ":"+target.Tag) {
		t.Errorf("ParseTarget(%q) returned Tag %q that the input does not end with", s,
			target.Tag)
	}
	if want := target.Project + "/" + target.Repository; target.Repo.RepositoryStr() != want {
		t.Errorf("ParseTarget(%q) returned Repo %q, want the repository %q", s,
			target.Repo.RepositoryStr(), want)
	}
}
