package gate

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
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
		{"team/app:v1", "names no registry host"},
		{"harbor.example/team/../app:v1", `path component ".."`},
		{"harbor.example/team/a/./b:v1", `path component "."`},
		{"harbor.example/team/app:-bad", `tag "-bad"`},
		{"harbor.example/team/app:.bad", `tag ".bad"`},
	}
	for _, tc := range tests {
		_, err := ParseTarget(tc.in)
		if err == nil {
			t.Errorf("ParseTarget(%q) succeeded, want an error", tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantMessage) {
			t.Errorf("ParseTarget(%q) error = %q, want it to contain %q", tc.in, err, tc.wantMessage)
		}
	}
}

func TestCheckTargetHost(t *testing.T) {
	tests := []struct {
		harborURL, target string
		wantErr           bool
	}{
		{"https://harbor.example", "harbor.example/team/app:1", false},
		{"https://harbor.example:443", "harbor.example/team/app:1", false},
		{"https://Harbor.Example/", "harbor.example/team/app:1", false},
		{"http://127.0.0.1:8080", "127.0.0.1:8080/team/app:1", false},
		{"https://harbor.example/api/v2.0", "harbor.example/team/app:1", false},
		{"https://harbor.example", "other.example/team/app:1", true},
		{"https://harbor.example", "harbor.example:5000/team/app:1", true},
		{"http://127.0.0.1:8080", "127.0.0.1:8081/team/app:1", true},
	}
	for _, tc := range tests {
		target, err := ParseTarget(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		err = checkTargetHost(tc.harborURL, target)
		if (err != nil) != tc.wantErr {
			t.Errorf("checkTargetHost(%q, %q) = %v, want error %t", tc.harborURL, tc.target,
				err, tc.wantErr)
		}
	}
}

func TestArtifactURL(t *testing.T) {
	const digest = "sha256:abc"
	want := "https://h.example/harbor/projects/3/repositories/a%2Fb/artifacts-tab/artifacts/" + digest
	for _, base := range []string{"https://h.example", "https://h.example/",
		"https://h.example/api/v2.0", "https://h.example/api/v2.0/"} {
		if got := ArtifactURL(base, 3, "a/b", digest); got != want {
			t.Errorf("ArtifactURL(%q) = %q, want %q", base, got, want)
		}
	}
}

func TestHarborKeychain(t *testing.T) {
	harborAuth := &authn.Basic{Username: "robot$team+ci", Password: "secret"}
	k := harborKeychain{host: "harbor.example", auth: harborAuth}
	for _, tc := range []struct {
		ref  string
		want authn.Authenticator
	}{
		{"harbor.example/team/app:1", harborAuth},
		{"harbor.example:443/team/app:1", harborAuth},
		{"other.example/team/app:1", authn.Anonymous},
	} {
		ref, err := name.ParseReference(tc.ref)
		if err != nil {
			t.Fatal(err)
		}
		got, err := k.Resolve(ref.Context())
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%s) = %v, %v; want %v", tc.ref, got, err, tc.want)
		}
	}
}
