package harbortest

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-openapi/strfmt"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

func (c *apiCall) ping() *apiError {
	c.w.Header().Set("Content-Type", "text/plain")
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write([]byte("Pong"))
	return nil
}

// systemInfo returns the general information. Anonymous callers get only the
// authentication fields; everyone else, robots included, also gets the version and URLs.
func (c *apiCall) systemInfo() *apiError {
	authMode, _ := c.s.configuration["auth_mode"].(string)
	info := models.GeneralInfo{
		AuthMode:         &authMode,
		PrimaryAuthMode:  new(bool),
		SelfRegistration: new(bool),
		BannerMessage:    new(string),
	}
	if c.caller.kind != anonymous {
		version, external, host := c.s.harborVersion, c.s.baseURL, c.s.host
		restriction, storage := "everyone", "filesystem"
		now := strfmt.DateTime(c.now.UTC())
		hasCARoot, notifications := c.s.caPEM != nil, true
		info.HarborVersion = &version
		info.ExternalURL = &external
		info.RegistryURL = &host
		info.CurrentTime = &now
		info.ReadOnly = new(bool)
		info.HasCaRoot = &hasCARoot
		info.ProjectCreationRestriction = &restriction
		info.RegistryStorageProviderName = &storage
		info.NotificationEnable = &notifications
	}
	writeJSON(c.w, http.StatusOK, info)
	return nil
}

// currentPermissions lists the caller's permissions in scope=/project/<id>. With
// relative=true the resources drop the scope prefix. Robots may call it, which makes it
// the way to check robot credentials.
func (c *apiCall) currentPermissions() *apiError {
	if c.caller.kind == anonymous {
		return newAPIError(http.StatusUnauthorized, "UNAUTHORIZED", "unauthorized")
	}
	relative, apiErr := c.queryBool("relative", false)
	if apiErr != nil {
		return apiErr
	}
	scope := c.r.URL.Query().Get("scope")
	permissions := []*models.Permission{}
	idText, ok := strings.CutPrefix(scope, "/project/")
	id, err := strconv.ParseInt(idText, 10, 32)
	if ok && err == nil {
		if p := c.s.store.projectByNameOrID(strconv.FormatInt(id, 10), false); p != nil {
			for _, permission := range c.caller.permissions(p) {
				resource, action, _ := strings.Cut(permission, ":")
				if !relative {
					resource = scope + "/" + resource
				}
				permissions = append(permissions,
					&models.Permission{Resource: resource, Action: action})
			}
		}
	}
	slices.SortFunc(permissions, func(a, b *models.Permission) int {
		return strings.Compare(a.Resource+":"+a.Action, b.Resource+":"+b.Action)
	})
	writeJSON(c.w, http.StatusOK, permissions)
	return nil
}
