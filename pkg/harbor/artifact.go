package harbor

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Report MIME types that Harbor accepts in the X-Accept-Vulnerabilities header and uses as
// keys of an artifact's scan_overview. Harbor compares them as exact strings, so the space
// after ';' matters.
const (
	// MIMETypeGenericReport is the report type that Harbor's Trivy adapter produces.
	MIMETypeGenericReport = "application/vnd.security.vulnerability.report; version=1.1"
	// MIMETypeNativeReport is Harbor's older native report type.
	MIMETypeNativeReport = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
)

// acceptVulnerabilities is the X-Accept-Vulnerabilities value sent with every artifact
// request, in order of preference. Harbor returns the overview of the first type that has a
// report, so a scanner producing either type is seen.
const acceptVulnerabilities = MIMETypeGenericReport + ", " + MIMETypeNativeReport

// ArtifactRef addresses one artifact in Harbor by digest.
type ArtifactRef struct {
	// Project is the Harbor project, the first path component of the repository.
	Project string
	// Repository is the repository name without the project. It may contain '/'.
	Repository string
	// Digest is the manifest digest, such as "sha256:" followed by 64 hex digits.
	Digest string
}

// ParseArtifactRef parses a reference such as "harbor.example.com/proj/app@sha256:...".
// The registry host is not checked against the Client's URL. A tag before the digest is
// ignored, because Harbor is always addressed by digest here.
func ParseArtifactRef(ref string) (ArtifactRef, error) {
	digest, err := name.NewDigest(ref)
	if err != nil {
		return ArtifactRef{}, fmt.Errorf("parsing image reference %q: %w", ref, err)
	}
	return ArtifactRefFromDigest(digest)
}

// ArtifactRefFromDigest splits the repository of d into Harbor's project and repository.
func ArtifactRefFromDigest(d name.Digest) (ArtifactRef, error) {
	project, repository, ok := strings.Cut(d.RepositoryStr(), "/")
	if !ok {
		return ArtifactRef{}, fmt.Errorf("invalid Harbor image reference %q: "+
			"the repository must start with a project, such as %s/project/%s@%s",
			d.String(), d.RegistryStr(), d.RepositoryStr(), d.DigestStr())
	}
	ref := ArtifactRef{Project: project, Repository: repository, Digest: d.DigestStr()}
	return ref, ref.Validate()
}

// String returns "project/repository@digest".
func (r ArtifactRef) String() string {
	return r.Project + "/" + r.Repository + "@" + r.Digest
}

// pathComponent matches one '/'-separated component of a repository name: lower-case
// letters and digits, separated by one '.', one or two '_', or dashes. It is the grammar of
// pathComponent in github.com/distribution/reference v0.6.0, which the distribution
// registry enforces. It rejects "." and "..", which would address another path.
var pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// maxRepositoryName is the longest "project/repository" in bytes that go-containerregistry's
// name package accepts.
const maxRepositoryName = 255

// Validate checks that every field is set, that project and repository form a valid
// repository name and that Digest is a valid digest.
func (r ArtifactRef) Validate() error {
	switch {
	case r.Project == "":
		return fmt.Errorf("invalid artifact %q: missing project", r)
	case strings.Contains(r.Project, "/"):
		return fmt.Errorf("invalid artifact %q: the project %q contains '/'", r, r.Project)
	case r.Repository == "":
		return fmt.Errorf("invalid artifact %q: missing repository", r)
	case strings.HasPrefix(r.Repository, "/") || strings.HasSuffix(r.Repository, "/"):
		return fmt.Errorf("invalid artifact %q: the repository %q starts or ends with '/'",
			r, r.Repository)
	}
	if err := checkRepositoryName(r.Project + "/" + r.Repository); err != nil {
		return fmt.Errorf("invalid artifact %q: %w", r, err)
	}
	if _, err := v1.NewHash(r.Digest); err != nil {
		return fmt.Errorf("invalid artifact %q: the digest must be sha256: and 64 hex digits: %w",
			r, err)
	}
	return nil
}

// checkRepositoryName checks the length of name and each of its path components.
func checkRepositoryName(name string) error {
	if len(name) > maxRepositoryName {
		return fmt.Errorf("the repository name %q is %d bytes long, more than the maximum of %d",
			name, len(name), maxRepositoryName)
	}
	for component := range strings.SplitSeq(name, "/") {
		if !pathComponent.MatchString(component) {
			return fmt.Errorf("the path component %q of %q is not valid: use lower-case "+
				"letters and digits, separated by '.', '_', '__' or dashes", component, name)
		}
	}
	return nil
}

// repositoryParam returns the repository as go-client's path parameter. Harbor requires a
// '/' in the repository to be escaped twice on the wire ("a/b" as "a%252Fb"), and
// go-openapi/runtime v0.29.2 escapes each path parameter once with url.PathEscape, so the
// name is escaped once here.
func (r ArtifactRef) repositoryParam() string {
	return url.PathEscape(r.Repository)
}

// Artifact returns the artifact with its scan overview and its accessories, such as cosign
// signatures. An artifact that Harbor can scan carries a "vulnerabilities" entry in
// AdditionLinks.
func (c *Client) Artifact(ctx context.Context, ref ArtifactRef) (*models.Artifact, error) {
	if err := ref.Validate(); err != nil {
		return nil, fmt.Errorf("getting artifact: %w", err)
	}
	cl := c.newCall(ref.Project, "getting artifact %s", ref)

	withScanOverview, withAccessory := true, true
	accept := acceptVulnerabilities
	params := artifact.NewGetArtifactParamsWithTimeout(c.timeout).
		WithProjectName(ref.Project).
		WithRepositoryName(ref.repositoryParam()).
		WithReference(ref.Digest).
		WithWithScanOverview(&withScanOverview).
		WithWithAccessory(&withAccessory).
		WithXAcceptVulnerabilities(&accept).
		WithXRequestID(&cl.requestID)
	resp, err := c.api.Artifact.GetArtifact(ctx, params)
	if err != nil {
		return nil, cl.wrap(err)
	}
	if resp.Payload == nil || resp.Payload.Digest == "" {
		return nil, fmt.Errorf("%s: %w: the body has no artifact digest",
			cl.op, ErrUnexpectedResponse)
	}
	if resp.Payload.Digest != ref.Digest {
		return nil, fmt.Errorf("%s: %w: Harbor returned the artifact %s", cl.op,
			ErrUnexpectedResponse, printable(resp.Payload.Digest, maxShownText))
	}
	return resp.Payload, nil
}
