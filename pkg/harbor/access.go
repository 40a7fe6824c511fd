package harbor

import (
	"context"
	"errors"
	"fmt"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
)

// CheckRepositoryAccess checks, before a push, that the project exists and
// that the credentials may list artifacts in repository, which need not
// exist yet. It needs only the artifact:list permission that a pushing
// robot account has, unlike Project, which needs project:read.
//
// Harbor answers a missing project with 403 for callers that are not
// system administrators, so the returned error then unwraps to
// ErrForbidden and its message names both causes. A 404 costs one more
// request, to tell an administrator's missing project from a repository
// that does not exist yet.
func (c *Client) CheckRepositoryAccess(ctx context.Context, project, repository string) error {
	ref := ArtifactRef{Project: project, Repository: repository}
	if project == "" || repository == "" {
		return fmt.Errorf("checking access to %s/%s: missing project or repository",
			project, repository)
	}
	cl := c.newCall(project, "listing artifacts of %s/%s", project, repository)
	pageSize, withTag, withScan := int64(1), false, false
	params := artifact.NewListArtifactsParamsWithTimeout(c.timeout).
		WithProjectName(project).
		WithRepositoryName(ref.repositoryParam()).
		WithPageSize(&pageSize).
		WithWithTag(&withTag).
		WithWithScanOverview(&withScan).
		WithXRequestID(&cl.requestID)
	_, err := c.api.Artifact.ListArtifacts(ctx, params)
	if err == nil {
		return nil
	}
	err = cl.wrap(err)
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	// Only a system administrator gets 404 for a missing project; anyone
	// else gets 404 only for a missing repository of an existing project.
	// A caller that may not read the project is therefore no administrator.
	if _, perr := c.Project(ctx, project); errors.Is(perr, ErrNotFound) {
		return perr
	}
	return nil
}
