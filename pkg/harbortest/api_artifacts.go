package harbortest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-openapi/strfmt"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// artifactOptions are the with_* query flags of the artifact endpoints.
type artifactOptions struct {
	withTag          bool
	withScanOverview bool
	withAccessory    bool
	accepted         []string
}

func (c *apiCall) artifactOptions() (artifactOptions, *apiError) {
	opts := artifactOptions{accepted: acceptedReportTypes(c.r.Header)}
	var apiErr *apiError
	if opts.withTag, apiErr = c.queryBool("with_tag", true); apiErr != nil {
		return opts, apiErr
	}
	if opts.withScanOverview, apiErr = c.queryBool("with_scan_overview", false); apiErr != nil {
		return opts, apiErr
	}
	opts.withAccessory, apiErr = c.queryBool("with_accessory", false)
	return opts, apiErr
}

// repository finds the repository of the request after checking a project permission. The
// repository name arrives unescaped once by the router and is unescaped a second time here.
func (c *apiCall) repository(permission string) (*repository, *apiError) {
	p, apiErr := c.project(permission)
	if apiErr != nil {
		return nil, apiErr
	}
	name, err := url.PathUnescape(c.params["repository_name"])
	if err != nil {
		return nil, newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"invalid repository name %q: %v", c.params["repository_name"], err)
	}
	full := p.name + "/" + name
	repo := c.s.store.repositories[full]
	if repo == nil {
		return nil, newAPIError(http.StatusNotFound, "NOT_FOUND", "repository %s not found", full)
	}
	return repo, nil
}

func (c *apiCall) artifact(permission string) (*artifact, *apiError) {
	repo, apiErr := c.repository(permission)
	if apiErr != nil {
		return nil, apiErr
	}
	reference := c.params["reference"]
	a := repo.resolve(reference)
	if a == nil {
		separator := ":"
		if strings.HasPrefix(reference, "sha256:") {
			separator = "@"
		}
		return nil, newAPIError(http.StatusNotFound, "NOT_FOUND", "artifact %s%s%s not found",
			repo.name, separator, reference)
	}
	return a, nil
}

func (c *apiCall) listArtifacts() *apiError {
	repo, apiErr := c.repository(permArtifactList)
	if apiErr != nil {
		return apiErr
	}
	opts, apiErr := c.artifactOptions()
	if apiErr != nil {
		return apiErr
	}
	listed := repo.listed()
	start, end, apiErr := c.paginate(len(listed))
	if apiErr != nil {
		return apiErr
	}
	page := []*models.Artifact{}
	for _, a := range listed[start:end] {
		page = append(page, c.artifactModel(a, opts))
	}
	writeJSON(c.w, http.StatusOK, page)
	return nil
}

func (c *apiCall) getArtifact() *apiError {
	a, apiErr := c.artifact(permArtifactRead)
	if apiErr != nil {
		return apiErr
	}
	opts, apiErr := c.artifactOptions()
	if apiErr != nil {
		return apiErr
	}
	writeJSON(c.w, http.StatusOK, c.artifactModel(a, opts))
	return nil
}

func (c *apiCall) listAccessories() *apiError {
	a, apiErr := c.artifact(permAccessoryList)
	if apiErr != nil {
		return apiErr
	}
	accessories := a.repo.accessoriesOf(a.digest)
	start, end, apiErr := c.paginate(len(accessories))
	if apiErr != nil {
		return apiErr
	}
	page := []*models.Accessory{}
	for _, accessory := range accessories[start:end] {
		page = append(page, accessoryModel(accessory, a))
	}
	writeJSON(c.w, http.StatusOK, page)
	return nil
}

// artifactModel builds the API view of an artifact. Harbor leaves tags, references, labels
// and accessories null when absent, and so does the double.
func (c *apiCall) artifactModel(a *artifact, opts artifactOptions) *models.Artifact {
	model := &models.Artifact{
		ID:                a.id,
		Digest:            a.digest,
		ManifestMediaType: a.mediaType,
		MediaType:         a.configMediaType,
		ArtifactType:      a.artifactType,
		Type:              a.harborType(),
		Size:              a.size,
		PushTime:          strfmt.DateTime(a.pushTime.UTC()),
		ProjectID:         int64(a.repo.project.id),
		RepositoryID:      a.repo.id,
		RepositoryName:    a.repo.name,
		Annotations:       a.annotations,
		AdditionLinks:     c.additionLinks(a),
	}
	if model.MediaType == "" {
		model.MediaType = a.mediaType
	}
	for _, ref := range a.references {
		reference := &models.Reference{ParentID: a.id, ChildDigest: ref.digest}
		if child := a.repo.artifacts[ref.digest]; child != nil {
			reference.ChildID = child.id
		}
		if ref.platform != nil {
			reference.Platform = &models.Platform{
				Architecture: ref.platform.Architecture, Os: ref.platform.OS,
				Variant: ref.platform.Variant, OsVersion: ref.platform.OSVersion,
				OsFeatures: ref.platform.OSFeatures,
			}
		}
		model.References = append(model.References, reference)
	}
	if opts.withTag {
		for _, t := range a.tags {
			model.Tags = append(model.Tags, &models.Tag{
				ID: t.id, Name: t.name, ArtifactID: a.id, RepositoryID: a.repo.id,
				PushTime: strfmt.DateTime(t.pushTime.UTC()),
			})
		}
	}
	if opts.withAccessory {
		for _, accessory := range a.repo.accessoriesOf(a.digest) {
			model.Accessories = append(model.Accessories, accessoryModel(accessory, a))
		}
	}
	if opts.withScanOverview {
		model.ScanOverview = c.s.scanOverview(a, opts.accepted, c.now)
	}
	return model
}

func accessoryModel(accessory, subject *artifact) *models.Accessory {
	return &models.Accessory{
		ID:                    accessory.id,
		ArtifactID:            accessory.id,
		SubjectArtifactID:     subject.id,
		SubjectArtifactDigest: subject.digest,
		SubjectArtifactRepo:   subject.repo.name,
		Size:                  accessory.size,
		Digest:                accessory.digest,
		Type:                  accessory.accessoryType,
		Icon:                  "",
		CreationTime:          strfmt.DateTime(accessory.pushTime.UTC()),
	}
}

// additionLinks returns build_history for image manifests and vulnerabilities for
// artifacts that the project's scanner can scan, with the repository encoded twice as
// clients send it.
func (c *apiCall) additionLinks(a *artifact) models.AdditionLinks {
	links := models.AdditionLinks{}
	project, repo, _ := strings.Cut(a.repo.name, "/")
	base := fmt.Sprintf("%s/projects/%s/repositories/%s/artifacts/%s/additions/", apiPrefix,
		project, url.PathEscape(url.PathEscape(repo)), a.digest)
	if !a.isIndex() && a.harborType() == "IMAGE" && a.accessoryType == "" {
		links["build_history"] = models.AdditionLink{Href: base + "build_history"}
	}
	if c.s.scannerUsable(a.repo.project) && c.s.isScannable(a) {
		links["vulnerabilities"] = models.AdditionLink{Href: base + "vulnerabilities"}
	}
	if len(links) == 0 {
		return nil
	}
	return links
}

// scanArtifact starts a vulnerability scan. The body is optional and defaults to
// {"scan_type":"vulnerability"}.
func (c *apiCall) scanArtifact() *apiError {
	a, apiErr := c.artifact(permScanCreate)
	if apiErr != nil {
		return apiErr
	}
	if apiErr := c.checkScanType(false); apiErr != nil {
		return apiErr
	}
	if apiErr := c.s.triggerScan(a, c.now, c.caller.name); apiErr != nil {
		return apiErr
	}
	c.w.WriteHeader(http.StatusAccepted)
	return nil
}

// stopScan stops a running scan. Harbor's swagger requires the scan_type body here.
func (c *apiCall) stopScan() *apiError {
	a, apiErr := c.artifact(permScanStop)
	if apiErr != nil {
		return apiErr
	}
	if apiErr := c.checkScanType(true); apiErr != nil {
		return apiErr
	}
	if apiErr := c.s.stopScan(a, c.now); apiErr != nil {
		return apiErr
	}
	c.w.WriteHeader(http.StatusAccepted)
	return nil
}

// checkScanType validates the optional scan_type body. The double's scanner produces
// vulnerability reports only, so it rejects sbom, which a real Trivy adapter supports.
func (c *apiCall) checkScanType(required bool) *apiError {
	var body models.ScanType
	if apiErr := c.decodeBody(&body); apiErr != nil {
		return apiErr
	}
	switch body.ScanType {
	case "vulnerability":
		return nil
	case "":
		if !required {
			return nil
		}
		return newAPIError(http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY",
			"scan_type in body is required")
	case "sbom":
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"scan type sbom is not supported by the harbortest scanner")
	default:
		return newAPIError(http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY",
			"scan_type in body should be one of [vulnerability sbom]: %q", body.ScanType)
	}
}

func (c *apiCall) vulnerabilitiesAddition() *apiError {
	a, apiErr := c.artifact(permAdditionRead)
	if apiErr != nil {
		return apiErr
	}
	accepted := acceptedReportTypes(c.r.Header)
	writeJSON(c.w, http.StatusOK, c.s.vulnerabilityAddition(a, accepted, c.now))
	return nil
}
