package harbortest

import (
	"net/http"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// serveReferrers serves the OCI 1.1 referrers API from the recorded manifests that name
// the digest as their subject. Distribution v3.1.2 has no referrers API, so Harbor, and
// the double, serve it in front of the registry.
func (s *Server) serveReferrers(w http.ResponseWriter, r *http.Request, route registryRoute) {
	subject, err := v1.NewHash(route.rest)
	if err != nil {
		writeError(w, newAPIError(http.StatusBadRequest, "DIGEST_INVALID",
			"invalid digest %q: %v", route.rest, err))
		return
	}
	filter := r.URL.Query().Get("artifactType")
	index := v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests:     []v1.Descriptor{},
	}
	s.mu.Lock()
	if repo := s.store.repositories[route.repository]; repo != nil {
		index.Manifests = referrersOf(repo, subject.String(), filter)
	}
	s.mu.Unlock()
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.Header().Set("Content-Type", string(types.OCIImageIndex))
	writeJSON(w, http.StatusOK, index)
}

func referrersOf(repo *repository, subject, filter string) []v1.Descriptor {
	descriptors := []v1.Descriptor{}
	for _, a := range repo.artifacts {
		if a.subject != subject {
			continue
		}
		kind := a.artifactType
		if kind == "" {
			kind = a.configMediaType
		}
		if filter != "" && kind != filter {
			continue
		}
		digest, err := v1.NewHash(a.digest)
		if err != nil {
			continue
		}
		descriptors = append(descriptors, v1.Descriptor{
			MediaType:    types.MediaType(a.mediaType),
			Size:         a.size,
			Digest:       digest,
			ArtifactType: kind,
			Annotations:  a.annotations,
		})
	}
	slices.SortFunc(descriptors, func(x, y v1.Descriptor) int {
		return strings.Compare(x.Digest.String(), y.Digest.String())
	})
	return descriptors
}
