package harbortest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// Webhook event types that a policy may subscribe to, from initSupportedNotifyType in
// Harbor v2.13 src/pkg/notification/notification.go. Topics such as CREATE_TAG exist but
// policies cannot subscribe to them.
const (
	EventScanningCompleted = "SCANNING_COMPLETED"
	EventScanningFailed    = "SCANNING_FAILED"
	EventScanningStopped   = "SCANNING_STOPPED"
)

var supportedEventTypes = []string{
	"PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT", "QUOTA_EXCEED", "QUOTA_WARNING",
	EventScanningFailed, EventScanningStopped, EventScanningCompleted, "REPLICATION",
	"TAG_RETENTION",
}

// Payload formats of an http webhook target.
const (
	PayloadFormatDefault     = "Default"
	PayloadFormatCloudEvents = "CloudEvents"
)

// webhookTargetHTTP is the only notify type that the double delivers.
const webhookTargetHTTP = "http"

// webhookState contains the webhook policies and the scans whose end is not yet announced.
// The Server's mutex guards it.
type webhookState struct {
	policies map[int64]*models.WebhookPolicy
	nextID   int64
	pending  map[*report]*scanNotice
}

// AddWebhookPolicy creates a webhook policy in the named project, as
// POST /projects/{project_name_or_id}/webhook/policies does, and returns its id. It
// applies Harbor's validation and normalises target addresses the same way. Enabled is
// false unless the policy sets it, and a disabled policy never fires. The error wraps
// ErrInvalid for an unknown project or a policy that Harbor rejects.
func (s *Server) AddWebhookPolicy(projectName string, policy models.WebhookPolicy) (int64,
	error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.store.projects[projectName]
	if p == nil {
		return 0, fmt.Errorf("adding webhook policy %q: %w: project %s does not exist",
			policy.Name, ErrInvalid, projectName)
	}
	stored := copyWebhookPolicy(&policy)
	if apiErr := validateWebhookPolicy(stored); apiErr != nil {
		return 0, fmt.Errorf("adding webhook policy %q: %w: %s", policy.Name, ErrInvalid,
			apiErr.message)
	}
	now := s.clock.Now()
	return s.storeWebhookPolicy(p, stored, DefaultAdminUser, now), nil
}

// storeWebhookPolicy records a validated policy in the project and returns its id. The
// caller holds s.mu.
func (s *Server) storeWebhookPolicy(p *project, policy *models.WebhookPolicy, creator string,
	now time.Time) int64 {
	s.webhooks.nextID++
	policy.ID = s.webhooks.nextID
	policy.ProjectID = int64(p.id)
	policy.Creator = creator
	policy.CreationTime = strfmt.DateTime(now.UTC())
	policy.UpdateTime = policy.CreationTime
	s.webhooks.policies[policy.ID] = policy
	s.armScanTimers(now)
	return policy.ID
}

// webhookPoliciesOf returns the project's policies ordered by id.
func (s *Server) webhookPoliciesOf(p *project) []*models.WebhookPolicy {
	var list []*models.WebhookPolicy
	for _, policy := range s.webhooks.policies {
		if policy.ProjectID == int64(p.id) {
			list = append(list, policy)
		}
	}
	slices.SortFunc(list, func(a, b *models.WebhookPolicy) int { return int(a.ID - b.ID) })
	return list
}

// subscribedPolicies returns the project's enabled policies that subscribe to eventType,
// as GetRelatedPolices in Harbor v2.13 src/pkg/notification/policy/manager.go selects them.
func (s *Server) subscribedPolicies(p *project, eventType string) []*models.WebhookPolicy {
	var list []*models.WebhookPolicy
	for _, policy := range s.webhookPoliciesOf(p) {
		if policy.Enabled && slices.Contains(policy.EventTypes, eventType) {
			list = append(list, policy)
		}
	}
	return list
}

// validateWebhookPolicy applies the checks of Harbor v2.13
// src/server/v2.0/handler/webhook.go in its order: event types first, then targets. It
// rewrites each address to scheme, host and path, and sets the Default payload format
// where a target names none.
//
// NOTE: Harbor also accepts the notify types slack and teams, but the double rejects them
// because it delivers only to http targets.
func validateWebhookPolicy(policy *models.WebhookPolicy) *apiError {
	if len(policy.EventTypes) == 0 {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST", "empty event type")
	}
	for _, eventType := range policy.EventTypes {
		if !slices.Contains(supportedEventTypes, eventType) {
			return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
				"unsupported event type %s", eventType)
		}
	}
	if len(policy.Targets) == 0 {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"empty notification target with policy %s", policy.Name)
	}
	for _, target := range policy.Targets {
		if target == nil {
			return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
				"empty notification target with policy %s", policy.Name)
		}
		address, err := parseEndpoint(target.Address)
		if err != nil {
			return newAPIError(http.StatusBadRequest, "BAD_REQUEST", "%v", err)
		}
		target.Address = address.Scheme + "://" + address.Host + address.Path
		if target.Type != webhookTargetHTTP {
			return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
				"unsupported target type %s with policy %s", target.Type, policy.Name)
		}
		switch target.PayloadFormat {
		case "":
			target.PayloadFormat = PayloadFormatDefault
		case PayloadFormatDefault, PayloadFormatCloudEvents:
		default:
			return newAPIError(http.StatusBadRequest, "BAD_REQUEST",
				"unsupported payload format type: %s", target.PayloadFormat)
		}
	}
	return nil
}

// parseEndpoint parses a target address as ParseEndpoint in Harbor v2.13
// src/common/utils/utils.go does: spaces and trailing slashes are trimmed, an address
// without a scheme gets http://, and schemes other than http and https are invalid.
func parseEndpoint(endpoint string) (*url.URL, error) {
	endpoint = strings.TrimRight(strings.Trim(endpoint, " "), "/")
	if endpoint == "" {
		return nil, fmt.Errorf("empty URL")
	}
	if scheme, _, found := strings.Cut(endpoint, "://"); found {
		if scheme != "http" && scheme != "https" {
			return nil, fmt.Errorf("invalid scheme: %s", scheme)
		}
	} else {
		endpoint = "http://" + endpoint
	}
	return url.ParseRequestURI(endpoint)
}

// copyWebhookPolicy returns a deep copy, so that stored policies share no targets with a
// caller.
func copyWebhookPolicy(policy *models.WebhookPolicy) *models.WebhookPolicy {
	out := *policy
	out.EventTypes = slices.Clone(policy.EventTypes)
	out.Targets = make([]*models.WebhookTargetObject, len(policy.Targets))
	for i, target := range policy.Targets {
		if target != nil {
			copied := *target
			out.Targets[i] = &copied
		}
	}
	return &out
}
