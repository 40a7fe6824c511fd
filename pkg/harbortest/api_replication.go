package harbortest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-openapi/strfmt"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// replicationState contains registry endpoints and replication policies. The Server's
// mutex guards it. The double stores them and never replicates anything.
type replicationState struct {
	registries map[int64]*models.Registry
	policies   map[int64]*models.ReplicationPolicy
}

func newReplicationState() replicationState {
	return replicationState{
		registries: map[int64]*models.Registry{},
		policies:   map[int64]*models.ReplicationPolicy{},
	}
}

// registryTypes are the adapter types of Harbor v2.13's replication.
var registryTypes = []string{
	"harbor", "docker-hub", "docker-registry", "huawei-SWR", "google-gcr", "aws-ecr",
	"azure-acr", "ali-acr", "jfrog-artifactory", "quay", "gitlab", "dtr", "tencent-tcr",
	"github-ghcr", "volcengine-cr",
}

// maskedSecret replaces a stored access secret in responses, as Harbor does.
const maskedSecret = "*****"

// requireAdmin rejects callers other than the system administrator: 401 for anonymous
// callers, else 403.
func (c *apiCall) requireAdmin() *apiError {
	if c.caller.kind != systemAdmin {
		return c.deny()
	}
	return nil
}

// registryModel returns a copy of the registry with its secret masked.
func registryModel(stored *models.Registry) *models.Registry {
	copied := *stored
	if stored.Credential != nil {
		credential := *stored.Credential
		if credential.AccessSecret != "" {
			credential.AccessSecret = maskedSecret
		}
		copied.Credential = &credential
	}
	return &copied
}

func validateRegistry(r *models.Registry) *apiError {
	if r.Name == "" {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST", "registry name is required")
	}
	if !slices.Contains(registryTypes, r.Type) {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"invalid registry type %q: use one of %s", r.Type, strings.Join(registryTypes, ", "))
	}
	parsed, err := url.Parse(r.URL)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"invalid registry URL %q: use http:// or https:// and a host", r.URL)
	}
	return nil
}

// registryNamed returns the registry with the name, or nil.
func (s *Server) registryNamed(name string) *models.Registry {
	for _, r := range s.replication.registries {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// createRegistry stores a registry endpoint.
//
// NOTE: Harbor pings the remote registry before it stores the endpoint, but the double
// contacts no other host and skips that check.
func (c *apiCall) createRegistry() *apiError {
	if apiErr := c.requireAdmin(); apiErr != nil {
		return apiErr
	}
	var body models.Registry
	if apiErr := c.decodeBody(&body); apiErr != nil {
		return apiErr
	}
	if apiErr := validateRegistry(&body); apiErr != nil {
		return apiErr
	}
	if c.s.registryNamed(body.Name) != nil {
		return newAPIError(http.StatusConflict, "CONFLICT",
			"registry %s already exists", body.Name)
	}
	stored := body
	if body.Credential != nil {
		credential := *body.Credential
		stored.Credential = &credential
	}
	stored.ID = c.s.store.newID()
	stored.Status = "healthy"
	stored.CreationTime = strfmt.DateTime(c.now.UTC())
	stored.UpdateTime = stored.CreationTime
	c.s.replication.registries[stored.ID] = &stored
	c.w.Header().Set("Location", fmt.Sprintf("%s/%d",
		strings.TrimSuffix(c.r.URL.Path, "/"), stored.ID))
	c.w.WriteHeader(http.StatusCreated)
	return nil
}

func (c *apiCall) listRegistries() *apiError {
	if apiErr := c.requireAdmin(); apiErr != nil {
		return apiErr
	}
	name := c.r.URL.Query().Get("name")
	list := []*models.Registry{}
	for _, r := range c.s.replication.registries {
		if name == "" || strings.Contains(r.Name, name) {
			list = append(list, registryModel(r))
		}
	}
	slices.SortFunc(list, func(a, b *models.Registry) int { return int(a.ID - b.ID) })
	start, end, apiErr := c.paginate(len(list))
	if apiErr != nil {
		return apiErr
	}
	writeJSON(c.w, http.StatusOK, list[start:end])
	return nil
}

// registryFromPath returns the registry named by {id} for the system administrator.
func (c *apiCall) registryFromPath() (*models.Registry, *apiError) {
	if apiErr := c.requireAdmin(); apiErr != nil {
		return nil, apiErr
	}
	id, err := strconv.ParseInt(c.params["id"], 10, 64)
	if err != nil {
		return nil, newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"invalid registry id %q: use an integer", c.params["id"])
	}
	r := c.s.replication.registries[id]
	if r == nil {
		return nil, newAPIError(http.StatusNotFound, "NOT_FOUND", "registry %d not found", id)
	}
	return r, nil
}

func (c *apiCall) getRegistry() *apiError {
	r, apiErr := c.registryFromPath()
	if apiErr != nil {
		return apiErr
	}
	writeJSON(c.w, http.StatusOK, registryModel(r))
	return nil
}

// updateRegistry applies the fields a RegistryUpdate sets.
func (c *apiCall) updateRegistry() *apiError {
	r, apiErr := c.registryFromPath()
	if apiErr != nil {
		return apiErr
	}
	var body models.RegistryUpdate
	if apiErr := c.decodeBody(&body); apiErr != nil {
		return apiErr
	}
	updated := *r
	credential := models.RegistryCredential{}
	if r.Credential != nil {
		credential = *r.Credential
	}
	setString := func(target *string, value *string) {
		if value != nil {
			*target = *value
		}
	}
	setString(&updated.Name, body.Name)
	setString(&updated.URL, body.URL)
	setString(&updated.Description, body.Description)
	setString(&credential.AccessKey, body.AccessKey)
	setString(&credential.AccessSecret, body.AccessSecret)
	setString(&credential.Type, body.CredentialType)
	if body.Insecure != nil {
		updated.Insecure = *body.Insecure
	}
	updated.Credential = &credential
	if apiErr := validateRegistry(&updated); apiErr != nil {
		return apiErr
	}
	if other := c.s.registryNamed(updated.Name); other != nil && other.ID != r.ID {
		return newAPIError(http.StatusConflict, "CONFLICT",
			"registry %s already exists", updated.Name)
	}
	updated.UpdateTime = strfmt.DateTime(c.now.UTC())
	c.s.replication.registries[r.ID] = &updated
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// deleteRegistry removes a registry unless a replication policy or a proxy-cache project
// uses it, in which case it responds with 412, as Harbor does.
func (c *apiCall) deleteRegistry() *apiError {
	r, apiErr := c.registryFromPath()
	if apiErr != nil {
		return apiErr
	}
	for _, policy := range c.s.replication.policies {
		if policyUsesRegistry(policy, r.ID) {
			return newAPIError(http.StatusPreconditionFailed, "PRECONDITION",
				"registry %d is used by replication policy %d, delete the policy first",
				r.ID, policy.ID)
		}
	}
	for _, p := range c.s.store.projects {
		if p.registryID == r.ID {
			return newAPIError(http.StatusPreconditionFailed, "PRECONDITION",
				"registry %d is used by proxy-cache project %s, delete the project first",
				r.ID, p.name)
		}
	}
	delete(c.s.replication.registries, r.ID)
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func policyUsesRegistry(policy *models.ReplicationPolicy, id int64) bool {
	return (policy.SrcRegistry != nil && policy.SrcRegistry.ID == id) ||
		(policy.DestRegistry != nil && policy.DestRegistry.ID == id)
}

// proxyCacheRegistry checks the registry_id of a project creation: only the system
// administrator may create a proxy-cache project, and the registry must exist.
func (c *apiCall) proxyCacheRegistry(registryID *int64) (int64, *apiError) {
	if registryID == nil || *registryID == 0 {
		return 0, nil
	}
	if c.caller.kind != systemAdmin {
		return 0, newAPIError(http.StatusForbidden, "FORBIDDEN",
			"only the system administrator can create a proxy-cache project")
	}
	if c.s.replication.registries[*registryID] == nil {
		return 0, newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"registry %d not found: create it with POST /registries first", *registryID)
	}
	return *registryID, nil
}

// copyReplicationPolicy returns a deep copy, so that callers never share a stored policy.
func copyReplicationPolicy(policy *models.ReplicationPolicy) *models.ReplicationPolicy {
	data, _ := json.Marshal(policy)
	var copied models.ReplicationPolicy
	_ = json.Unmarshal(data, &copied)
	return &copied
}
