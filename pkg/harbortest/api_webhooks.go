package harbortest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-openapi/strfmt"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

const webhookPolicyPath = "/projects/{project_name_or_id}/webhook/policies"

// listWebhookPolicies lists the project's policies ordered by id. The q and sort query
// parameters are ignored.
func (c *apiCall) listWebhookPolicies() *apiError {
	p, apiErr := c.project(permPolicyList)
	if apiErr != nil {
		return apiErr
	}
	policies := c.s.webhookPoliciesOf(p)
	start, end, apiErr := c.paginate(len(policies))
	if apiErr != nil {
		return apiErr
	}
	page := []*models.WebhookPolicy{}
	for _, policy := range policies[start:end] {
		page = append(page, copyWebhookPolicy(policy))
	}
	writeJSON(c.w, http.StatusOK, page)
	return nil
}

// createWebhookPolicy validates and stores a policy, and responds with 201 and a Location
// built from the request path, as Harbor does.
func (c *apiCall) createWebhookPolicy() *apiError {
	p, apiErr := c.project(permPolicyCreate)
	if apiErr != nil {
		return apiErr
	}
	var policy models.WebhookPolicy
	if apiErr := c.decodeBody(&policy); apiErr != nil {
		return apiErr
	}
	if apiErr := validateWebhookPolicy(&policy); apiErr != nil {
		return apiErr
	}
	id := c.s.storeWebhookPolicy(p, copyWebhookPolicy(&policy), c.caller.name, c.now)
	c.w.Header().Set("Location", fmt.Sprintf("%s/%d",
		strings.TrimSuffix(c.r.URL.Path, "/"), id))
	c.w.WriteHeader(http.StatusCreated)
	return nil
}

func (c *apiCall) getWebhookPolicy() *apiError {
	_, policy, apiErr := c.webhookPolicy(permPolicyRead)
	if apiErr != nil {
		return apiErr
	}
	writeJSON(c.w, http.StatusOK, copyWebhookPolicy(policy))
	return nil
}

// updateWebhookPolicy replaces a policy with the validated body. The id, project, creator
// and creation time stay.
func (c *apiCall) updateWebhookPolicy() *apiError {
	_, stored, apiErr := c.webhookPolicy(permPolicyUpdate)
	if apiErr != nil {
		return apiErr
	}
	var policy models.WebhookPolicy
	if apiErr := c.decodeBody(&policy); apiErr != nil {
		return apiErr
	}
	if apiErr := validateWebhookPolicy(&policy); apiErr != nil {
		return apiErr
	}
	updated := copyWebhookPolicy(&policy)
	updated.ID, updated.ProjectID = stored.ID, stored.ProjectID
	updated.Creator, updated.CreationTime = stored.Creator, stored.CreationTime
	updated.UpdateTime = strfmt.DateTime(c.now.UTC())
	c.s.webhooks.policies[stored.ID] = updated
	c.s.armScanTimers(c.now)
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (c *apiCall) deleteWebhookPolicy() *apiError {
	_, policy, apiErr := c.webhookPolicy(permPolicyDelete)
	if apiErr != nil {
		return apiErr
	}
	delete(c.s.webhooks.policies, policy.ID)
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// webhookPolicy finds the policy of the request path within its project. A policy of
// another project is not found, as in Harbor's requirePolicyInProject.
func (c *apiCall) webhookPolicy(permission string) (*project, *models.WebhookPolicy,
	*apiError) {
	p, apiErr := c.project(permission)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	text := c.params["webhook_policy_id"]
	id, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return nil, nil, newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"webhook_policy_id in path must be of type int64: %q", text)
	}
	policy := c.s.webhooks.policies[id]
	if policy == nil || policy.ProjectID != int64(p.id) {
		return nil, nil, newAPIError(http.StatusNotFound, "NOT_FOUND",
			"project id:%d, webhook policy id: %d not found", p.id, id)
	}
	return p, policy, nil
}
