package gate

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Target is the Harbor repository an image is published to.
type Target struct {
	// Repo is the full repository, registry host included.
	Repo name.Repository
	// Project is the Harbor project, the first path segment.
	Project string
	// Repository is the repository inside the project; it may contain '/'.
	Repository string
	// Tag is the tag the user named, or "" when the image is pushed by
	// digest only. The "latest" default of image references never applies.
	Tag string
}

// ParseTarget parses a target such as "harbor.example/team/app:v1.2.3".
// The path must name a project and a repository. A digest is rejected
// because the push decides the digest.
func ParseTarget(s string) (Target, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return Target{}, fmt.Errorf("invalid target %q: %w; use HOST/PROJECT/REPOSITORY[:TAG]",
			s, err)
	}
	if _, ok := ref.(name.Digest); ok {
		return Target{}, fmt.Errorf("invalid target %q: it names a digest, but the push "+
			"decides the digest; use HOST/PROJECT/REPOSITORY[:TAG]", s)
	}
	repo := ref.Context()
	if !strings.HasPrefix(s, repo.RegistryStr()+"/") {
		return Target{}, fmt.Errorf("invalid target %q: it names no registry host, so it "+
			"would go to %s; use HOST/PROJECT/REPOSITORY[:TAG] with Harbor's host", s,
			repo.RegistryStr())
	}
	if err := checkPathComponents(s, repo.RepositoryStr()); err != nil {
		return Target{}, err
	}
	project, repository, ok := strings.Cut(repo.RepositoryStr(), "/")
	if !ok || project == "" || repository == "" {
		return Target{}, fmt.Errorf("invalid target %q: the path must name a Harbor project "+
			"and a repository, as in HOST/PROJECT/REPOSITORY[:TAG]", s)
	}
	target := Target{Repo: repo, Project: project, Repository: repository}
	if tag, ok := ref.(name.Tag); ok && strings.HasSuffix(s, ":"+tag.TagStr()) {
		if !tagPattern.MatchString(tag.TagStr()) {
			return Target{}, fmt.Errorf("invalid target %q: the tag %q must start with a "+
				"letter, digit or '_' and have at most 128 characters from letters, digits, "+
				"'_', '.' and '-'", s, tag.TagStr())
		}
		target.Tag = tag.TagStr()
	}
	return target, nil
}

// Patterns of the OCI distribution specification for repository path
// components and tags. go-containerregistry checks less, for example it
// accepts ".." as a component.
var (
	componentPattern = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$`)
	tagPattern       = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// checkPathComponents checks each '/'-separated component of repository.
func checkPathComponents(s, repository string) error {
	for _, c := range strings.Split(repository, "/") {
		if !componentPattern.MatchString(c) {
			return fmt.Errorf("invalid target %q: the path component %q must be lower-case "+
				"letters and digits, separated by '.', '_', '__' or '-'", s, c)
		}
	}
	return nil
}

// String returns the target as HOST/PROJECT/REPOSITORY[:TAG].
func (t Target) String() string {
	if t.Tag == "" {
		return t.Repo.String()
	}
	return t.Repo.Tag(t.Tag).String()
}
