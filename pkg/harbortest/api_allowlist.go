package harbortest

import (
	"net/http"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// metaReuseSystemAllowlist is the project metadata key that makes vulnerability
// prevention use the system CVE allowlist instead of the project's own.
const metaReuseSystemAllowlist = "reuse_sys_cve_allowlist"

// cveAllowlist is a project or the system CVE allowlist.
type cveAllowlist struct {
	id        int64
	items     []string
	expiresAt *int64 // Unix seconds, or nil for never
	created   time.Time
	updated   time.Time
}

// expired applies Harbor v2.13's CVEAllowlist.IsExpired: a list without expires_at never
// expires, and any set value, 0 included, expires once the clock reaches it.
func (l *cveAllowlist) expired(now time.Time) bool {
	return l.expiresAt != nil && now.Unix() >= *l.expiresAt
}

// contains reports whether the list is in force at now and names the CVE.
func (l *cveAllowlist) contains(cve string, now time.Time) bool {
	if l == nil || l.expired(now) {
		return false
	}
	for _, item := range l.items {
		if item == cve {
			return true
		}
	}
	return false
}

func (l *cveAllowlist) model(projectID int64) *models.CVEAllowlist {
	m := &models.CVEAllowlist{
		ID: l.id, ProjectID: projectID, Items: []*models.CVEAllowlistItem{},
		CreationTime: strfmt.DateTime(l.created.UTC()),
		UpdateTime:   strfmt.DateTime(l.updated.UTC()),
	}
	if l.expiresAt != nil {
		expires := *l.expiresAt
		m.ExpiresAt = &expires
	}
	for _, item := range l.items {
		m.Items = append(m.Items, &models.CVEAllowlistItem{CVEID: item})
	}
	return m
}

// set replaces the list's items and expiry with those of a request body, after Harbor's
// validation: every item needs a cve_id and no id may repeat.
func (l *cveAllowlist) set(body *models.CVEAllowlist, now time.Time) *apiError {
	seen := map[string]bool{}
	items := []string{}
	for _, item := range body.Items {
		if item == nil || item.CVEID == "" {
			return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
				"invalid CVE allowlist: an item has an empty cve_id")
		}
		if seen[item.CVEID] {
			return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
				"invalid CVE allowlist: duplicate cve_id %s", item.CVEID)
		}
		seen[item.CVEID] = true
		items = append(items, item.CVEID)
	}
	l.items = items
	l.expiresAt = nil
	if body.ExpiresAt != nil {
		expires := *body.ExpiresAt
		l.expiresAt = &expires
	}
	l.updated = now
	return nil
}

// allowlistFor returns the allowlist that vulnerability prevention applies in the
// project: the system list when reuse_sys_cve_allowlist is "true", else the project's.
// The caller holds s.mu.
func (s *Server) allowlistFor(p *project) *cveAllowlist {
	if p.metadata[metaReuseSystemAllowlist] == "true" {
		return &s.systemAllowlist
	}
	return &p.allowlist
}

// getSystemAllowlist serves GET /system/CVEAllowlist to every authenticated caller, as
// Harbor v2.13's GetSystemCVEAllowlist handler does.
func (c *apiCall) getSystemAllowlist() *apiError {
	if c.caller.kind == anonymous {
		return c.deny()
	}
	writeJSON(c.w, http.StatusOK, c.s.systemAllowlist.model(0))
	return nil
}

// putSystemAllowlist serves PUT /system/CVEAllowlist for the system administrator.
func (c *apiCall) putSystemAllowlist() *apiError {
	if c.caller.kind != systemAdmin {
		return c.deny()
	}
	var body models.CVEAllowlist
	if apiErr := c.decodeBody(&body); apiErr != nil {
		return apiErr
	}
	if apiErr := c.s.systemAllowlist.set(&body, c.now); apiErr != nil {
		return apiErr
	}
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// SetSystemCVEAllowlist replaces the system CVE allowlist, as PUT /system/CVEAllowlist
// does. expiresAt is in Unix seconds, and nil never expires.
func (s *Server) SetSystemCVEAllowlist(cves []string, expiresAt *int64) error {
	body := &models.CVEAllowlist{ExpiresAt: expiresAt}
	for _, cve := range cves {
		body.Items = append(body.Items, &models.CVEAllowlistItem{CVEID: cve})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if apiErr := s.systemAllowlist.set(body, s.clock.Now()); apiErr != nil {
		return wrapInvalid("setting system CVE allowlist", apiErr)
	}
	return nil
}

// SetProjectCVEAllowlist replaces a project's CVE allowlist, as the cve_allowlist of PUT
// /projects/{project_name_or_id} does. expiresAt is in Unix seconds, and nil never expires.
func (s *Server) SetProjectCVEAllowlist(project string, cves []string,
	expiresAt *int64) error {
	body := &models.CVEAllowlist{ExpiresAt: expiresAt}
	for _, cve := range cves {
		body.Items = append(body.Items, &models.CVEAllowlistItem{CVEID: cve})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.store.projects[project]
	if p == nil {
		return wrapInvalid("setting project CVE allowlist",
			newAPIError(http.StatusNotFound, "NOT_FOUND", "project %q does not exist", project))
	}
	if apiErr := p.allowlist.set(body, s.clock.Now()); apiErr != nil {
		return wrapInvalid("setting project CVE allowlist", apiErr)
	}
	return nil
}

// updateProjectAllowlist applies the cve_allowlist of a project update. Harbor v2.13
// fills a missing project_id and rejects one that names another project.
func (c *apiCall) updateProjectAllowlist(p *project, body *models.CVEAllowlist) *apiError {
	if body == nil {
		return nil
	}
	if body.ProjectID != 0 && body.ProjectID != int64(p.id) {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"project_id in cve_allowlist must be %d but it's %d", p.id, body.ProjectID)
	}
	return p.allowlist.set(body, c.now)
}
