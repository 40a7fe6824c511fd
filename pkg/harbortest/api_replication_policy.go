package harbortest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-openapi/strfmt"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// Trigger types and filter types of Harbor v2.13's replication policies.
var (
	replicationTriggerTypes = []string{"manual", "scheduled", "event_based"}
	replicationFilterTypes  = []string{"name", "tag", "label", "resource"}
)

// validateReplicationPolicy checks a policy body: a name, exactly one remote side whose
// registry exists, a known trigger with a valid cron when scheduled, and known filters.
func (c *apiCall) validateReplicationPolicy(policy *models.ReplicationPolicy) *apiError {
	bad := func(format string, args ...any) *apiError {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST", format, args...)
	}
	if policy.Name == "" {
		return bad("replication policy name is required")
	}
	src, dest := remoteRegistryID(policy.SrcRegistry), remoteRegistryID(policy.DestRegistry)
	if (src == 0) == (dest == 0) {
		return bad("invalid replication policy %s: set exactly one of src_registry and "+
			"dest_registry to a remote registry, the other side is this Harbor", policy.Name)
	}
	if remote := max(src, dest); c.s.replication.registries[remote] == nil {
		return bad("registry %d not found: create it with POST /registries first", remote)
	}
	if policy.Trigger != nil {
		if !slices.Contains(replicationTriggerTypes, policy.Trigger.Type) {
			return bad("invalid trigger type %q: use one of %s", policy.Trigger.Type,
				strings.Join(replicationTriggerTypes, ", "))
		}
		if policy.Trigger.Type == "scheduled" {
			cron := ""
			if policy.Trigger.TriggerSettings != nil {
				cron = policy.Trigger.TriggerSettings.Cron
			}
			fields := strings.Fields(cron)
			if len(fields) != 6 || fields[0] != "0" {
				return bad("invalid cron %q: use 6 fields with the seconds first and 0", cron)
			}
		}
	}
	for _, filter := range policy.Filters {
		if filter == nil || !slices.Contains(replicationFilterTypes, filter.Type) {
			return bad("invalid filter type: use one of %s",
				strings.Join(replicationFilterTypes, ", "))
		}
	}
	return nil
}

func remoteRegistryID(r *models.Registry) int64 {
	if r == nil {
		return 0
	}
	return r.ID
}

// replicationPolicyModel returns the policy with its registries filled in from the
// stored endpoints, secrets masked, and this Harbor as the registry with id 0.
func (c *apiCall) replicationPolicyModel(policy *models.ReplicationPolicy) *models.ReplicationPolicy {
	copied := copyReplicationPolicy(policy)
	side := func(r *models.Registry) *models.Registry {
		if stored := c.s.replication.registries[remoteRegistryID(r)]; stored != nil {
			return registryModel(stored)
		}
		return &models.Registry{ID: 0, Name: "Local", Type: "harbor", URL: c.s.baseURL,
			Status: "healthy"}
	}
	copied.SrcRegistry, copied.DestRegistry = side(policy.SrcRegistry), side(policy.DestRegistry)
	return copied
}

func (c *apiCall) replicationPolicyNamed(name string) *models.ReplicationPolicy {
	for _, policy := range c.s.replication.policies {
		if policy.Name == name {
			return policy
		}
	}
	return nil
}

func (c *apiCall) createReplicationPolicy() *apiError {
	if apiErr := c.requireAdmin(); apiErr != nil {
		return apiErr
	}
	var body models.ReplicationPolicy
	if apiErr := c.decodeBody(&body); apiErr != nil {
		return apiErr
	}
	if apiErr := c.validateReplicationPolicy(&body); apiErr != nil {
		return apiErr
	}
	if c.replicationPolicyNamed(body.Name) != nil {
		return newAPIError(http.StatusConflict, "CONFLICT",
			"replication policy %s already exists", body.Name)
	}
	stored := storedReplicationPolicy(&body)
	stored.ID = c.s.store.newID()
	stored.CreationTime = strfmt.DateTime(c.now.UTC())
	stored.UpdateTime = stored.CreationTime
	c.s.replication.policies[stored.ID] = stored
	c.w.Header().Set("Location", fmt.Sprintf("%s/%d",
		strings.TrimSuffix(c.r.URL.Path, "/"), stored.ID))
	c.w.WriteHeader(http.StatusCreated)
	return nil
}

func (c *apiCall) listReplicationPolicies() *apiError {
	if apiErr := c.requireAdmin(); apiErr != nil {
		return apiErr
	}
	name := c.r.URL.Query().Get("name")
	list := []*models.ReplicationPolicy{}
	for _, policy := range c.s.replication.policies {
		if name == "" || strings.Contains(policy.Name, name) {
			list = append(list, c.replicationPolicyModel(policy))
		}
	}
	slices.SortFunc(list, func(a, b *models.ReplicationPolicy) int {
		return int(a.ID - b.ID)
	})
	start, end, apiErr := c.paginate(len(list))
	if apiErr != nil {
		return apiErr
	}
	writeJSON(c.w, http.StatusOK, list[start:end])
	return nil
}

func (c *apiCall) replicationPolicyFromPath() (*models.ReplicationPolicy, *apiError) {
	if apiErr := c.requireAdmin(); apiErr != nil {
		return nil, apiErr
	}
	id, err := strconv.ParseInt(c.params["id"], 10, 64)
	if err != nil {
		return nil, newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"invalid replication policy id %q: use an integer", c.params["id"])
	}
	policy := c.s.replication.policies[id]
	if policy == nil {
		return nil, newAPIError(http.StatusNotFound, "NOT_FOUND",
			"replication policy %d not found", id)
	}
	return policy, nil
}

func (c *apiCall) getReplicationPolicy() *apiError {
	policy, apiErr := c.replicationPolicyFromPath()
	if apiErr != nil {
		return apiErr
	}
	writeJSON(c.w, http.StatusOK, c.replicationPolicyModel(policy))
	return nil
}

func (c *apiCall) updateReplicationPolicy() *apiError {
	policy, apiErr := c.replicationPolicyFromPath()
	if apiErr != nil {
		return apiErr
	}
	var body models.ReplicationPolicy
	if apiErr := c.decodeBody(&body); apiErr != nil {
		return apiErr
	}
	if apiErr := c.validateReplicationPolicy(&body); apiErr != nil {
		return apiErr
	}
	if other := c.replicationPolicyNamed(body.Name); other != nil && other.ID != policy.ID {
		return newAPIError(http.StatusConflict, "CONFLICT",
			"replication policy %s already exists", body.Name)
	}
	updated := storedReplicationPolicy(&body)
	updated.ID, updated.CreationTime = policy.ID, policy.CreationTime
	updated.UpdateTime = strfmt.DateTime(c.now.UTC())
	c.s.replication.policies[policy.ID] = updated
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (c *apiCall) deleteReplicationPolicy() *apiError {
	policy, apiErr := c.replicationPolicyFromPath()
	if apiErr != nil {
		return apiErr
	}
	delete(c.s.replication.policies, policy.ID)
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// storedReplicationPolicy copies a request body as Harbor's replication handler
// (src/server/v2.0/handler/replication.go) stores it. The handler reads only "deletion" and
// ignores "replicate_deletion", and responses carry the stored value in both fields.
func storedReplicationPolicy(body *models.ReplicationPolicy) *models.ReplicationPolicy {
	stored := copyReplicationPolicy(body)
	stored.ReplicateDeletion = body.Deletion
	return stored
}
