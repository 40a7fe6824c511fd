package gate

import (
	"context"
	"errors"
	"slices"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/druppie/harbor-gate/pkg/harbor"
)

// tagLookup checks for registry.Push whether the target tag already points at the
// source's digest. It reads the artifact by digest with its tags from Harbor's API, because
// Harbor rejects manifest reads by tag with 412 under vulnerability prevention.
type tagLookup struct {
	harbor      *harbor.Client
	artifactRef func(digest string) harbor.ArtifactRef
	// found is the artifact the last lookup read, or nil.
	found *models.Artifact
}

// lookup implements registry.TagLookup for the target repository of the run.
func (l *tagLookup) lookup(ctx context.Context, digest name.Digest, tag string) (bool, error) {
	artifact, err := l.harbor.Artifact(ctx, l.artifactRef(digest.DigestStr()))
	if errors.Is(err, harbor.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	l.found = artifact
	return slices.ContainsFunc(artifact.Tags, func(t *models.Tag) bool {
		return t != nil && t.Name == tag
	}), nil
}
