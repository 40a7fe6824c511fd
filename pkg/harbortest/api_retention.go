package harbortest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/robfig/cron/v3"
)

// retentionMetadata returns the templates and selectors that GET /retentions/metadatas
// lists.
func retentionMetadata() *models.RetentionMetadata {
	template := func(id, text, unit string) *models.RetentionRuleMetadata {
		m := &models.RetentionRuleMetadata{
			RuleTemplate: id, DisplayText: text, Action: retentionActionRetain,
			Params: []*models.RetentionRuleParamMetadata{},
		}
		if unit != "" {
			m.Params = append(m.Params,
				&models.RetentionRuleParamMetadata{Type: "int", Unit: unit, Required: true})
		}
		return m
	}
	return &models.RetentionMetadata{
		Templates: []*models.RetentionRuleMetadata{
			template(templateLatestPushedK, "the most recently pushed # artifacts", "count"),
			template(templateLatestPulledN, "the most recently pulled # artifacts", "count"),
			template(templateDaysSinceLastPull, "pulled within the last # days", "days"),
			template(templateDaysSinceLastPush, "pushed within the last # days", "days"),
			template(templateAlways, "always", ""),
		},
		ScopeSelectors: []*models.RetentionSelectorMetadata{{
			Kind: selectorKindDoublestar, DisplayText: "Quick Pattern Match",
			Decorations: []string{decorationRepoMatches, decorationRepoExcludes},
		}},
		TagSelectors: []*models.RetentionSelectorMetadata{{
			Kind: selectorKindDoublestar, DisplayText: "Quick Pattern Match",
			Decorations: []string{decorationMatches, decorationExcludes},
		}},
	}
}

func (c *apiCall) getRetentionMetadata() *apiError {
	writeJSON(c.w, http.StatusOK, retentionMetadata())
	return nil
}

func badRetention(format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, "BAD_REQUEST", format, args...)
}

// validateRetentionPolicy applies Harbor v2.13's checks of a policy body. A missing
// trigger or scope gets 400 here, where Harbor dereferences nil and fails with 500.
func validateRetentionPolicy(policy *models.RetentionPolicy) *apiError {
	switch {
	case policy.Algorithm != retentionAlgorithmOr:
		return badRetention("invalid retention algorithm %q: use %q", policy.Algorithm,
			retentionAlgorithmOr)
	case policy.Trigger == nil:
		return badRetention("invalid retention policy: trigger is required")
	case policy.Scope == nil:
		return badRetention("invalid retention policy: scope is required")
	case policy.Scope.Level != retentionScopeProject:
		return badRetention("invalid scope level %q: only %q is supported",
			policy.Scope.Level, retentionScopeProject)
	case len(policy.Rules) > retentionMaxRules:
		return badRetention("invalid retention policy: %d rules, at most %d are allowed",
			len(policy.Rules), retentionMaxRules)
	}
	if apiErr := validateRetentionTrigger(policy.Trigger); apiErr != nil {
		return apiErr
	}
	for i, rule := range policy.Rules {
		if apiErr := validateRetentionRule(i, rule); apiErr != nil {
			return apiErr
		}
	}
	return checkRetentionRuleConflict(policy.Rules)
}

// validateRetentionTrigger checks a Schedule trigger's cron. An empty cron means manual
// runs only. A set one must parse with robfig/cron's six-field parser, seconds first,
// and have 0 seconds, as Harbor v2.13 src/common/utils/utils.go ValidateCronString
// requires.
func validateRetentionTrigger(trigger *models.RetentionRuleTrigger) *apiError {
	if trigger.Kind != retentionTriggerSchedule {
		return badRetention("invalid trigger kind %q: use %q", trigger.Kind,
			retentionTriggerSchedule)
	}
	settings, _ := trigger.Settings.(map[string]any)
	schedule, _ := settings["cron"].(string)
	if schedule == "" {
		return nil
	}
	if len(strings.Fields(schedule)) != 6 {
		return badRetention("invalid cron %q: use 6 fields, seconds first", schedule)
	}
	if _, err := harborCronParser.Parse(schedule); err != nil {
		return badRetention("invalid cron %q: %v", schedule, err)
	}
	if fields := strings.Split(schedule, " "); len(fields) == 6 && fields[0] != "0" {
		return badRetention("invalid cron %q: the 1st field (seconds) must be 0", schedule)
	}
	return nil
}

// harborCronParser is the parser of CronParser in Harbor v2.13 src/common/utils/utils.go.
var harborCronParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom |
	cron.Month | cron.Dow)

// maxDaysSinceLastPush is the largest nDaysSinceLastPush that Harbor accepts
// (Valid in src/pkg/retention/policy/rule/daysps/evaluator.go).
const maxDaysSinceLastPush = 20190904

func validateRetentionRule(index int, rule *models.RetentionRule) *apiError {
	if rule == nil {
		return badRetention("invalid rule %d: empty", index)
	}
	unit, known := retentionTemplates[rule.Template]
	switch {
	case rule.Action != retentionActionRetain:
		return badRetention("invalid action %q in rule %d: use %q", rule.Action, index,
			retentionActionRetain)
	case !known:
		return badRetention("invalid template %q in rule %d", rule.Template, index)
	case len(rule.TagSelectors) == 0 || rule.TagSelectors[0] == nil:
		return badRetention("invalid rule %d: a tag selector is required", index)
	case len(rule.ScopeSelectors[retentionScopeRepositories]) == 0:
		return badRetention("invalid rule %d: a repository scope selector is required", index)
	}
	if unit != "" {
		value, ok := rule.Params[rule.Template].(float64)
		if !ok || value < 0 || value != float64(int64(value)) {
			return badRetention("invalid rule %d: params.%s must be a non-negative integer",
				index, rule.Template)
		}
		if rule.Template == templateDaysSinceLastPush && value > maxDaysSinceLastPush {
			return badRetention("invalid rule %d: %s is too large", index, rule.Template)
		}
	}
	tag := rule.TagSelectors[0]
	repo := rule.ScopeSelectors[retentionScopeRepositories][0]
	selector := &models.ImmutableRule{
		TagSelectors: []*models.ImmutableSelector{{
			Kind: tag.Kind, Decoration: tag.Decoration, Pattern: tag.Pattern,
		}},
		ScopeSelectors: map[string][]models.ImmutableSelector{retentionScopeRepositories: {{
			Kind: repo.Kind, Decoration: repo.Decoration, Pattern: repo.Pattern,
		}}},
	}
	if err := validateImmutableRule(selector); err != nil {
		return badRetention("invalid rule %d: %v", index, err)
	}
	return nil
}

// checkRetentionRuleConflict rejects two rules that are equal apart from their ids with
// 409, as Harbor v2.13's retention handler does.
func checkRetentionRuleConflict(rules []*models.RetentionRule) *apiError {
	seen := map[string]int{}
	for i, rule := range rules {
		copied := *rule
		copied.ID, copied.Priority = 0, 0
		key, _ := json.Marshal(copied)
		if first, ok := seen[string(key)]; ok {
			return newAPIError(http.StatusConflict, "CONFLICT",
				"rule %d is conflict with rule %d", i, first)
		}
		seen[string(key)] = i
	}
	return nil
}

// retentionProject finds the project of a policy's scope and checks a permission there.
func (c *apiCall) retentionProject(policy *models.RetentionPolicy,
	permission string) (*project, *apiError) {
	c.params["project_name_or_id"] = strconv.FormatInt(policy.Scope.Ref, 10)
	return c.project(permission)
}

func (c *apiCall) createRetention() *apiError {
	var policy models.RetentionPolicy
	if apiErr := c.decodeBody(&policy); apiErr != nil {
		return apiErr
	}
	if apiErr := validateRetentionPolicy(&policy); apiErr != nil {
		return apiErr
	}
	p, apiErr := c.retentionProject(&policy, permRetentionCreate)
	if apiErr != nil {
		return apiErr
	}
	if existing := c.s.retentionPolicyOf(p); existing != nil {
		return badRetention("project %d already has retention policy %d", p.id, existing.ID)
	}
	stored := copyRetentionPolicy(&policy)
	stored.ID = c.s.store.newID()
	c.s.retention.policies[stored.ID] = stored
	p.metadata["retention_id"] = strconv.FormatInt(stored.ID, 10)
	c.w.Header().Set("Location", fmt.Sprintf("%s/%d",
		strings.TrimSuffix(c.r.URL.Path, "/"), stored.ID))
	c.w.WriteHeader(http.StatusCreated)
	return nil
}

// retentionFromPath finds the policy named by {id} and checks a permission in its
// project. A missing policy gives 404 to authenticated callers.
func (c *apiCall) retentionFromPath(permission string) (*models.RetentionPolicy, *project,
	*apiError) {
	if c.caller.kind == anonymous {
		return nil, nil, c.deny()
	}
	id, err := strconv.ParseInt(c.params["id"], 10, 64)
	if err != nil {
		return nil, nil, badRetention("invalid retention id %q: use an integer",
			c.params["id"])
	}
	policy := c.s.retention.policies[id]
	if policy == nil {
		return nil, nil, newAPIError(http.StatusNotFound, "NOT_FOUND",
			"retention policy %d not found", id)
	}
	p, apiErr := c.retentionProject(policy, permission)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	return policy, p, nil
}

func (c *apiCall) getRetention() *apiError {
	policy, _, apiErr := c.retentionFromPath(permRetentionRead)
	if apiErr != nil {
		return apiErr
	}
	writeJSON(c.w, http.StatusOK, copyRetentionPolicy(policy))
	return nil
}

// updateRetention replaces a policy. The scope must stay on the same project.
func (c *apiCall) updateRetention() *apiError {
	policy, p, apiErr := c.retentionFromPath(permRetentionUpdate)
	if apiErr != nil {
		return apiErr
	}
	var body models.RetentionPolicy
	if apiErr := c.decodeBody(&body); apiErr != nil {
		return apiErr
	}
	if apiErr := validateRetentionPolicy(&body); apiErr != nil {
		return apiErr
	}
	if body.Scope.Ref != int64(p.id) {
		return badRetention("invalid scope ref %d: retention policy %d belongs to project %d",
			body.Scope.Ref, policy.ID, p.id)
	}
	updated := copyRetentionPolicy(&body)
	updated.ID = policy.ID
	c.s.retention.policies[policy.ID] = updated
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (c *apiCall) deleteRetention() *apiError {
	policy, p, apiErr := c.retentionFromPath(permRetentionDelete)
	if apiErr != nil {
		return apiErr
	}
	delete(c.s.retention.policies, policy.ID)
	delete(p.metadata, "retention_id")
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// triggerRetention runs the policy synchronously and responds with 201 and the
// execution's Location.
func (c *apiCall) triggerRetention() *apiError {
	policy, p, apiErr := c.retentionFromPath(permRetentionUpdate)
	if apiErr != nil {
		return apiErr
	}
	var body struct {
		DryRun bool `json:"dry_run"`
	}
	if apiErr := c.decodeBody(&body); apiErr != nil {
		return apiErr
	}
	outcome := c.s.runRetention(p, policy, body.DryRun)
	c.w.Header().Set("Location", fmt.Sprintf("%s/%d",
		strings.TrimSuffix(c.r.URL.Path, "/"), outcome.execution.record.ID))
	c.w.WriteHeader(http.StatusCreated)
	return nil
}

// listRetentionExecutions lists the policy's executions, newest first.
func (c *apiCall) listRetentionExecutions() *apiError {
	policy, _, apiErr := c.retentionFromPath(permRetentionList)
	if apiErr != nil {
		return apiErr
	}
	var list []*models.RetentionExecution
	for _, execution := range slices.Backward(c.s.retention.executions) {
		if execution.record.PolicyID == policy.ID {
			copied := *execution.record
			list = append(list, &copied)
		}
	}
	start, end, apiErr := c.paginate(len(list))
	if apiErr != nil {
		return apiErr
	}
	writeJSON(c.w, http.StatusOK, append([]*models.RetentionExecution{}, list[start:end]...))
	return nil
}

func (c *apiCall) listRetentionTasks() *apiError {
	policy, _, apiErr := c.retentionFromPath(permRetentionList)
	if apiErr != nil {
		return apiErr
	}
	executionID, err := strconv.ParseInt(c.params["eid"], 10, 64)
	if err != nil {
		return badRetention("invalid execution id %q: use an integer", c.params["eid"])
	}
	for _, execution := range c.s.retention.executions {
		if execution.record.ID != executionID || execution.record.PolicyID != policy.ID {
			continue
		}
		start, end, apiErr := c.paginate(len(execution.tasks))
		if apiErr != nil {
			return apiErr
		}
		page := []*models.RetentionExecutionTask{}
		for _, task := range execution.tasks[start:end] {
			copied := *task
			page = append(page, &copied)
		}
		writeJSON(c.w, http.StatusOK, page)
		return nil
	}
	return newAPIError(http.StatusNotFound, "NOT_FOUND",
		"execution %d of retention policy %d not found", executionID, policy.ID)
}

// copyRetentionPolicy returns a deep copy, so that callers never share a stored policy.
func copyRetentionPolicy(policy *models.RetentionPolicy) *models.RetentionPolicy {
	data, _ := json.Marshal(policy)
	var copied models.RetentionPolicy
	_ = json.Unmarshal(data, &copied)
	return &copied
}
