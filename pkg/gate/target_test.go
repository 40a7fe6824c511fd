package gate

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in             string
		wantProject    string
		wantRepository string
		wantTag        string
	}{
		{"harbor.example/team/app:v1", "team", "app", "v1"},
		{"harbor.example/team/app", "team", "app", ""},
		{"127.0.0.1:5000/team/group/app:1.0", "team", "group/app", "1.0"},
	}
	for _, tc := range tests {
		got, err := ParseTarget(tc.in)
		if err != nil {
			t.Errorf("ParseTarget(%q) failed: %v", tc.in, err)
			continue
		}
		if got.Project != tc.wantProject || got.Repository != tc.wantRepository ||
			got.Tag != tc.wantTag {
			t.Errorf("ParseTarget(%q) = project %q, repository %q, tag %q; want %q, %q, %q",
				tc.in, got.Project, got.Repository, got.Tag,
				tc.wantProject, tc.wantRepository, tc.wantTag)
		}
	}
}

func TestParseTargetRejects(t *testing.T) {
	tests := []struct {
		in, wantMessage string
	}{
		{"harbor.example/app:v1", "must name a Harbor project and a repository"},
		{"harbor.example/Team/App", "invalid target"},
		{"harbor.example/team/app@sha256:" + strings.Repeat("a", 64), "names a digest"},
		{"", "invalid target"},
		{"harbor.example/team/app:bad tag", "invalid target"},
	}
	for _, tc := range tests {
		_, err := ParseTarget(tc.in)
		if err == nil {
			t.Errorf("ParseTarget(%q) succeeded, want an error", tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantMessage) || !strings.Contains(err.Error(), "use HOST") &&
			!strings.Contains(err.Error(), "as in HOST") {
			t.Errorf("ParseTarget(%q) error = %q, want it to contain %q and the expected form",
				tc.in, err, tc.wantMessage)
		}
	}
}
