package harbortest

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Project metadata keys that Harbor accepts; see validateMetadata for their value rules.
var metadataKeys = map[string]bool{
	"public": true, "enable_content_trust": true, "enable_content_trust_cosign": true,
	"prevent_vul": true, "severity": true, "auto_scan": true, "auto_sbom_generation": true,
	"reuse_sys_cve_allowlist": true, "retention_id": true, "proxy_speed_kb": true,
}

type project struct {
	id             int32
	name           string
	metadata       map[string]string
	withoutScanner bool
	immutableRules []*models.ImmutableRule
	allowlist      cveAllowlist
	registryID     int64 // the upstream registry of a proxy-cache project, else 0
	created        time.Time
	updated        time.Time
}

func (p *project) public() bool { return p.metadata["public"] == "true" }

type repository struct {
	id        int64
	project   *project
	name      string // "<project>/<repository>", as Harbor's repository_name
	artifacts map[string]*artifact
	tags      map[string]string // tag name to digest
	created   time.Time
}

type tagRecord struct {
	id       int64
	name     string
	pushTime time.Time
}

type childReference struct {
	digest   string
	platform *v1.Platform
}

type artifact struct {
	id              int64
	repo            *repository
	digest          string
	mediaType       string
	configMediaType string
	artifactType    string
	size            int64
	pushTime        time.Time
	tags            []tagRecord
	references      []childReference
	annotations     map[string]string
	hasInToto       bool
	subject         string // digest named by the manifest's subject field
	accessoryType   string // non-empty for signatures and other accessories
	accessoryOf     string // digest of the artifact this accessory belongs to
}

func (a *artifact) isIndex() bool {
	return a.mediaType == mediaTypeOCIIndex || a.mediaType == mediaTypeDockerManifestList
}

func (a *artifact) tagNames() []string {
	names := make([]string, 0, len(a.tags))
	for _, t := range a.tags {
		names = append(names, t.name)
	}
	return names
}

// artifactType returns Harbor's artifact type: IMAGE for image manifests and indexes,
// CHART for Helm charts and UNKNOWN otherwise.
func (a *artifact) harborType() string {
	switch {
	case a.isIndex():
		return "IMAGE"
	case imageConfigTypes[a.configMediaType]:
		return "IMAGE"
	case a.configMediaType == "application/vnd.cncf.helm.config.v1+json":
		return "CHART"
	default:
		return "UNKNOWN"
	}
}

// store contains the projects and artifacts of the double. The Server's mutex guards it.
type store struct {
	projects     map[string]*project
	repositories map[string]*repository
	nextID       int64
}

func newStore() *store {
	return &store{projects: map[string]*project{}, repositories: map[string]*repository{}}
}

func (s *store) newID() int64 {
	s.nextID++
	return s.nextID
}

func (s *store) addProject(p Project, now time.Time) (*project, error) {
	if err := validateProjectName(p.Name); err != nil {
		return nil, err
	}
	if _, ok := s.projects[p.Name]; ok {
		return nil, fmt.Errorf("%w: project %s already exists", ErrConflict, p.Name)
	}
	metadata := map[string]string{"public": strconv.FormatBool(p.Public)}
	maps.Copy(metadata, p.Metadata)
	created := &project{
		id: int32(s.newID()), name: p.Name, metadata: metadata,
		withoutScanner: p.WithoutScanner, created: now, updated: now,
	}
	created.allowlist = cveAllowlist{id: s.newID(), created: now, updated: now}
	s.projects[p.Name] = created
	return created, nil
}

// projectByNameOrID finds a project by name, or by numeric id unless byName is set.
func (s *store) projectByNameOrID(nameOrID string, byName bool) *project {
	if !byName {
		if id, err := strconv.ParseInt(nameOrID, 10, 32); err == nil {
			for _, p := range s.projects {
				if int64(p.id) == id {
					return p
				}
			}
			return nil
		}
	}
	return s.projects[nameOrID]
}

func (s *store) sortedProjects() []*project {
	list := slices.Collect(maps.Values(s.projects))
	slices.SortFunc(list, func(a, b *project) int { return int(a.id - b.id) })
	return list
}

// repositoryFor returns the repository record, creating it when create is set.
func (s *store) repositoryFor(name string, create bool, now time.Time) *repository {
	if repo, ok := s.repositories[name]; ok || !create {
		return repo
	}
	projectName, _, _ := strings.Cut(name, "/")
	p := s.projects[projectName]
	if p == nil {
		return nil
	}
	repo := &repository{
		id: s.newID(), project: p, name: name,
		artifacts: map[string]*artifact{}, tags: map[string]string{}, created: now,
	}
	s.repositories[name] = repo
	return repo
}

func (s *store) repoCount(p *project) int64 {
	var count int64
	for _, repo := range s.repositories {
		if repo.project == p {
			count++
		}
	}
	return count
}

// resolve finds an artifact by tag or digest.
func (r *repository) resolve(reference string) *artifact {
	if strings.HasPrefix(reference, "sha256:") {
		return r.artifacts[reference]
	}
	return r.artifacts[r.tags[reference]]
}

// setTag points tag at the artifact, moving it away from any artifact it named before.
func (r *repository) setTag(a *artifact, tag string, id int64, now time.Time) {
	if old, ok := r.tags[tag]; ok {
		if previous := r.artifacts[old]; previous != nil {
			previous.tags = slices.DeleteFunc(previous.tags, func(t tagRecord) bool {
				return t.name == tag
			})
		}
	}
	r.tags[tag] = a.digest
	a.tags = append(a.tags, tagRecord{id: id, name: tag, pushTime: now})
}

// deleteArtifact removes an artifact and its tags after a manifest DELETE by digest.
func (r *repository) deleteArtifact(digest string) {
	a := r.artifacts[digest]
	if a == nil {
		return
	}
	for _, t := range a.tags {
		delete(r.tags, t.name)
	}
	delete(r.artifacts, digest)
}

// deleteTag removes a tag after a manifest DELETE by tag.
func (r *repository) deleteTag(tag string) {
	digest, ok := r.tags[tag]
	if !ok {
		return
	}
	delete(r.tags, tag)
	if a := r.artifacts[digest]; a != nil {
		a.tags = slices.DeleteFunc(a.tags, func(t tagRecord) bool { return t.name == tag })
	}
}

// isChild reports whether some index in the repository references the digest.
func (r *repository) isChild(digest string) bool {
	for _, a := range r.artifacts {
		for _, ref := range a.references {
			if ref.digest == digest {
				return true
			}
		}
	}
	return false
}

// listed returns the artifacts that Harbor's artifact list shows, newest push first:
// accessories and untagged index children are left out.
func (r *repository) listed() []*artifact {
	var list []*artifact
	for _, a := range r.artifacts {
		if a.accessoryType != "" || (len(a.tags) == 0 && r.isChild(a.digest)) {
			continue
		}
		list = append(list, a)
	}
	sortNewestFirst(list)
	return list
}

// accessoriesOf returns the accessories whose subject is digest, newest first.
func (r *repository) accessoriesOf(digest string) []*artifact {
	var list []*artifact
	for _, a := range r.artifacts {
		if a.accessoryType != "" && a.accessoryOf == digest {
			list = append(list, a)
		}
	}
	sortNewestFirst(list)
	return list
}

func sortNewestFirst(list []*artifact) {
	slices.SortFunc(list, func(a, b *artifact) int {
		if c := b.pushTime.Compare(a.pushTime); c != 0 {
			return c
		}
		return int(b.id - a.id)
	})
}

// validateProjectName applies Harbor's rule for project names: 1 to 255 characters of
// lower-case letters, digits and ._- starting with a letter or digit.
func validateProjectName(name string) error {
	if name == "" || len(name) > 255 {
		return fmt.Errorf("%w: invalid project name %q: use 1 to 255 characters",
			ErrInvalid, name)
	}
	for i, r := range name {
		lowerOrDigit := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
		if lowerOrDigit || (i > 0 && strings.ContainsRune("._-", r)) {
			continue
		}
		return fmt.Errorf("%w: invalid project name %q: use lower-case letters, digits and "+
			"._- and start with a letter or digit", ErrInvalid, name)
	}
	return nil
}
