package harbortest

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-openapi/strfmt"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// booleanMetadata are the metadata keys whose values Harbor parses with strconv.ParseBool
// and stores as "true" or "false".
var booleanMetadata = map[string]bool{
	"public": true, "enable_content_trust": true, "enable_content_trust_cosign": true,
	"prevent_vul": true, "auto_scan": true, "auto_sbom_generation": true,
	"reuse_sys_cve_allowlist": true,
}

func (c *apiCall) projectModel(p *project) *models.Project {
	roles := []int32{}
	if c.caller.kind == systemAdmin ||
		(c.caller.kind == projectUser && slices.Contains(c.caller.projects, p.name)) {
		roles = []int32{1} // projectAdmin
	}
	var currentRole int64
	if len(roles) > 0 {
		currentRole = int64(roles[0])
	}
	return &models.Project{
		ProjectID:          p.id,
		Name:               p.name,
		OwnerID:            1,
		OwnerName:          c.s.adminUser,
		CreationTime:       strfmt.DateTime(p.created.UTC()),
		UpdateTime:         strfmt.DateTime(p.updated.UTC()),
		RepoCount:          c.s.store.repoCount(p),
		Metadata:           projectMetadataModel(p.metadata),
		CurrentUserRoleID:  currentRole,
		CurrentUserRoleIds: roles,
		CVEAllowlist:       p.allowlist.model(int64(p.id)),
		RegistryID:         p.registryID,
	}
}

func projectMetadataModel(metadata map[string]string) *models.ProjectMetadata {
	text := func(key string) *string {
		if value, ok := metadata[key]; ok {
			return &value
		}
		return nil
	}
	return &models.ProjectMetadata{
		Public:                   metadata["public"],
		AutoScan:                 text("auto_scan"),
		AutoSbomGeneration:       text("auto_sbom_generation"),
		EnableContentTrust:       text("enable_content_trust"),
		EnableContentTrustCosign: text("enable_content_trust_cosign"),
		PreventVul:               text("prevent_vul"),
		ProxySpeedKb:             text("proxy_speed_kb"),
		RetentionID:              text("retention_id"),
		ReuseSysCVEAllowlist:     text("reuse_sys_cve_allowlist"),
		Severity:                 text("severity"),
	}
}

// metadataFromModel returns the keys that a ProjectMetadata model sets.
func metadataFromModel(m *models.ProjectMetadata) map[string]string {
	out := map[string]string{}
	if m == nil {
		return out
	}
	if m.Public != "" {
		out["public"] = m.Public
	}
	for key, value := range map[string]*string{
		"auto_scan": m.AutoScan, "auto_sbom_generation": m.AutoSbomGeneration,
		"enable_content_trust": m.EnableContentTrust, "prevent_vul": m.PreventVul,
		"enable_content_trust_cosign": m.EnableContentTrustCosign, "severity": m.Severity,
		"proxy_speed_kb": m.ProxySpeedKb, "retention_id": m.RetentionID,
		"reuse_sys_cve_allowlist": m.ReuseSysCVEAllowlist,
	} {
		if value != nil {
			out[key] = *value
		}
	}
	return out
}

// listProjects lists the projects the caller can see, ordered by name: all of them for
// the system administrator, otherwise public projects and the caller's own.
func (c *apiCall) listProjects() *apiError {
	nameFilter := c.r.URL.Query().Get("name")
	publicFilter := c.r.URL.Query().Get("public")
	var visible []*models.Project
	for _, p := range c.s.store.sortedProjects() {
		if !c.caller.can(p, permProjectRead) || !strings.Contains(p.name, nameFilter) {
			continue
		}
		if publicFilter != "" && publicFilter != p.metadata["public"] {
			continue
		}
		visible = append(visible, c.projectModel(p))
	}
	slices.SortFunc(visible, func(a, b *models.Project) int {
		return strings.Compare(a.Name, b.Name)
	})
	start, end, apiErr := c.paginate(len(visible))
	if apiErr != nil {
		return apiErr
	}
	writeJSON(c.w, http.StatusOK, append([]*models.Project{}, visible[start:end]...))
	return nil
}

// headProject checks whether a project named by the project_name query exists.
func (c *apiCall) headProject() *apiError {
	if c.caller.kind == anonymous {
		return newAPIError(http.StatusUnauthorized, "UNAUTHORIZED", "unauthorized")
	}
	name := c.r.URL.Query().Get("project_name")
	if c.s.store.projects[name] == nil {
		return newAPIError(http.StatusNotFound, "NOT_FOUND", "project %s not found", name)
	}
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// createProject creates a project for any signed-in user; robots may not. A user who
// creates a project becomes its administrator.
func (c *apiCall) createProject() *apiError {
	switch c.caller.kind {
	case anonymous:
		return newAPIError(http.StatusUnauthorized, "UNAUTHORIZED", "unauthorized")
	case projectRobot:
		return newAPIError(http.StatusForbidden, "FORBIDDEN", "forbidden")
	}

	var req models.ProjectReq
	if apiErr := c.decodeBody(&req); apiErr != nil {
		return apiErr
	}
	spec := Project{Name: req.ProjectName, Metadata: metadataFromModel(req.Metadata)}
	if req.Public != nil {
		spec.Public = *req.Public
		if _, set := spec.Metadata["public"]; !set {
			spec.Metadata["public"] = strconv.FormatBool(*req.Public)
		}
	}
	if c.s.store.projects[spec.Name] != nil {
		return newAPIError(http.StatusConflict, "CONFLICT",
			"The project named %s already exists", spec.Name)
	}
	registryID, apiErr := c.proxyCacheRegistry(req.RegistryID)
	if apiErr != nil {
		return apiErr
	}
	created, err := c.s.store.addProject(spec, c.now)
	if err != nil {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST", "%v", err)
	}
	created.registryID = registryID
	if c.caller.kind == projectUser {
		u := c.s.users[c.caller.name]
		u.projects = append(u.projects, created.name)
		c.s.users[c.caller.name] = u
	}
	c.w.Header().Set("Location", fmt.Sprintf("%s/projects/%d", apiPrefix, created.id))
	c.w.WriteHeader(http.StatusCreated)
	return nil
}

func (c *apiCall) getProject() *apiError {
	p, apiErr := c.project(permProjectRead)
	if apiErr != nil {
		return apiErr
	}
	writeJSON(c.w, http.StatusOK, c.projectModel(p))
	return nil
}

// updateProject copies metadata from the body without the per-key checks of the metadata
// endpoints, as Harbor's UpdateProject does. It checks only that retention_id is absent or
// unchanged, and applies cve_allowlist.
func (c *apiCall) updateProject() *apiError {
	p, apiErr := c.project(permProjectUpdate)
	if apiErr != nil {
		return apiErr
	}
	var req models.ProjectReq
	if apiErr := c.decodeBody(&req); apiErr != nil {
		return apiErr
	}
	metadata := metadataFromModel(req.Metadata)
	if id, ok := metadata["retention_id"]; ok && id != p.metadata["retention_id"] {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"invalid retention_id %q: omit it or pass the project's current one %q", id,
			p.metadata["retention_id"])
	}
	if apiErr := c.updateProjectAllowlist(p, req.CVEAllowlist); apiErr != nil {
		return apiErr
	}
	maps.Copy(p.metadata, metadata)
	if req.Public != nil {
		p.metadata["public"] = strconv.FormatBool(*req.Public)
	}
	p.updated = c.now
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (c *apiCall) listMetadata() *apiError {
	p, apiErr := c.project(permMetadataList)
	if apiErr != nil {
		return apiErr
	}
	writeJSON(c.w, http.StatusOK, maps.Clone(p.metadata))
	return nil
}

func (c *apiCall) getMetadata() *apiError {
	p, apiErr := c.project(permMetadataRead)
	if apiErr != nil {
		return apiErr
	}
	name := c.params["meta_name"]
	value, ok := p.metadata[name]
	if !ok {
		return newAPIError(http.StatusNotFound, "NOT_FOUND",
			"metadata %s of project %s not found", name, p.name)
	}
	writeJSON(c.w, http.StatusOK, map[string]string{name: value})
	return nil
}

func (c *apiCall) addMetadata() *apiError {
	p, apiErr := c.project(permMetadataCreate)
	if apiErr != nil {
		return apiErr
	}
	return c.storeMetadata(p, "")
}

func (c *apiCall) updateMetadata() *apiError {
	p, apiErr := c.project(permMetadataUpdate)
	if apiErr != nil {
		return apiErr
	}
	return c.storeMetadata(p, c.params["meta_name"])
}

// storeMetadata validates a one-pair body and stores it. pathName, when set, must equal
// the key in the body.
func (c *apiCall) storeMetadata(p *project, pathName string) *apiError {
	body := map[string]string{}
	if apiErr := c.decodeBody(&body); apiErr != nil {
		return apiErr
	}
	key, value, err := validateMetadata(body)
	if err != nil {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST", "%v", err)
	}
	if pathName != "" && pathName != key {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"metadata name %s in the path differs from %s in the body", pathName, key)
	}
	p.metadata[key] = value
	p.updated = c.now
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// validateMetadata applies the rules of Harbor v2.13
// src/server/v2.0/handler/project_metadata.go: exactly one pair, a known key, booleans
// normalised to "true" or "false", and severity lower-cased with negligible stored as none.
func validateMetadata(body map[string]string) (string, string, error) {
	if len(body) != 1 {
		return "", "", fmt.Errorf("only allow one key/value pair")
	}
	var key, value string
	for key, value = range body {
	}
	switch {
	case !metadataKeys[key]:
		return "", "", fmt.Errorf("invalid key: %s", key)
	case booleanMetadata[key]:
		parsed, err := strconv.ParseBool(value)
		if err != nil {
			return "", "", fmt.Errorf("invalid value of %s: %s", key, value)
		}
		value = strconv.FormatBool(parsed)
	case key == "severity":
		value = strings.ToLower(value)
		if value == "negligible" {
			value = "none"
		}
		if !slices.Contains([]string{"none", "low", "medium", "high", "critical"}, value) {
			return "", "", fmt.Errorf("invalid severity %s", body[key])
		}
	}
	return key, value, nil
}
