package harbortest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Media types that decide how the double records and scans an artifact.
const (
	mediaTypeOCIManifest          = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeOCIIndex             = "application/vnd.oci.image.index.v1+json"
	mediaTypeDockerManifest       = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList   = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeCosignSimpleSigning  = "application/vnd.dev.cosign.simplesigning.v1+json"
	mediaTypeInToto               = "application/vnd.in-toto+json"
	mediaTypeCosignArtifactSig    = "application/vnd.dev.cosign.artifact.sig.v1+json"
	mediaTypeNotationSignature    = "application/vnd.cncf.notary.signature"
	mediaTypeHarborSBOM           = "application/vnd.goharbor.harbor.sbom.v1"
	accessoryTypeCosignSignature  = "signature.cosign"
	accessoryTypeNotation         = "signature.notation"
	accessoryTypeHarborSBOM       = "sbom.harbor"
	accessoryTypeSubjectAccessory = "subject.accessory"
)

// imageConfigTypes are the config media types that make a manifest an IMAGE in Harbor.
var imageConfigTypes = map[string]bool{
	"application/vnd.docker.container.image.v1+json": true,
	"application/vnd.oci.image.config.v1+json":       true,
}

// cosignSignatureTag matches the tag under which cosign's legacy scheme pushes the signature
// of sha256:<hex>, the pattern of Harbor v2.13 src/server/middleware/cosign/cosign.go.
var cosignSignatureTag = regexp.MustCompile(`^sha256-([a-f0-9]{64})\.sig$`)

// manifestFields are the parts of an image manifest or index that the double reads. Both
// kinds decode into it because their field names do not collide.
type manifestFields struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Config       v1.Descriptor     `json:"config"`
	Layers       []v1.Descriptor   `json:"layers"`
	Manifests    []v1.Descriptor   `json:"manifests"`
	Subject      *v1.Descriptor    `json:"subject"`
	Annotations  map[string]string `json:"annotations"`
}

// pushedManifest is a manifest PUT that the registry accepted.
type pushedManifest struct {
	repository  string
	reference   string // tag or digest from the request path
	digest      string // Docker-Content-Digest of the response
	contentType string
	body        []byte
	pusher      string // the user or robot that pushed, from the token's subject
}

// recordManifest records the artifact of an accepted manifest PUT, as Harbor's core does
// after the registry stored it, and returns it. The caller holds s.mu.
func (s *Server) recordManifest(push pushedManifest, now time.Time) (*artifact, error) {
	var fields manifestFields
	if err := json.Unmarshal(push.body, &fields); err != nil {
		return nil, fmt.Errorf("decoding manifest %s@%s: %w", push.repository, push.digest, err)
	}
	repo := s.store.repositoryFor(push.repository, true, now)
	if repo == nil {
		return nil, fmt.Errorf("recording %s: project does not exist", push.repository)
	}
	art := repo.artifacts[push.digest]
	if art == nil {
		art = newArtifact(s.store.newID(), repo, push, fields, now)
		repo.artifacts[push.digest] = art
	}
	if !strings.HasPrefix(push.reference, "sha256:") {
		repo.setTag(art, push.reference, s.store.newID(), now)
	}
	classifyAccessory(art, push.reference, fields)
	return art, nil
}

func newArtifact(id int64, repo *repository, push pushedManifest, fields manifestFields,
	now time.Time) *artifact {
	mediaType := fields.MediaType
	if mediaType == "" {
		mediaType = push.contentType
	}
	art := &artifact{
		id: id, repo: repo, digest: push.digest, mediaType: mediaType,
		configMediaType: string(fields.Config.MediaType), artifactType: fields.ArtifactType,
		size: int64(len(push.body)), pushTime: now, annotations: fields.Annotations,
	}
	for _, layer := range fields.Layers {
		if layer.MediaType == mediaTypeInToto {
			art.hasInToto = true
		}
	}
	for _, child := range fields.Manifests {
		art.references = append(art.references,
			childReference{digest: child.Digest.String(), platform: child.Platform})
	}
	if fields.Subject != nil {
		art.subject = fields.Subject.Digest.String()
	}
	return art
}

// classifyAccessory marks signatures and other accessories the way Harbor v2.13 does: a
// cosign signature pushed under the tag sha256-<hex>.sig with a simple-signing layer, or
// any manifest with an OCI subject, typed by its artifactType or config media type.
func classifyAccessory(art *artifact, reference string, fields manifestFields) {
	if match := cosignSignatureTag.FindStringSubmatch(reference); match != nil {
		for _, layer := range fields.Layers {
			if layer.MediaType == mediaTypeCosignSimpleSigning {
				art.accessoryType = accessoryTypeCosignSignature
				art.accessoryOf = "sha256:" + match[1]
				return
			}
		}
	}
	if art.subject == "" {
		return
	}
	kind := fields.ArtifactType
	if kind == "" {
		kind = string(fields.Config.MediaType)
	}
	art.accessoryOf = art.subject
	switch kind {
	case mediaTypeCosignArtifactSig:
		art.accessoryType = accessoryTypeCosignSignature
	case mediaTypeNotationSignature:
		art.accessoryType = accessoryTypeNotation
	case mediaTypeHarborSBOM:
		art.accessoryType = accessoryTypeHarborSBOM
	default:
		art.accessoryType = accessoryTypeSubjectAccessory
	}
}
