package projectpolicy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/retention"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// Retention templates of Harbor v2.13 (GET /retentions/metadatas). A rule's parameter
// key equals its template id.
const (
	templateDaysSinceLastPush = "nDaysSinceLastPush"
	templateAlways            = "always"
)

// untaggedFalse is the selector extras that select tagged artifacts only for matches,
// and keep untagged artifacts selected for excludes.
const untaggedFalse = `{"untagged":false}`

// retentionRules builds Harbor's retain-only rules for the deletions: one
// nDaysSinceLastPush rule per entry, which keeps recent matching artifacts, and one always
// rule that keeps every artifact with a tag outside all entries' patterns, and every
// untagged artifact. Validate ensures a single repository pattern for all entries.
func retentionRules(r *Retention) []*models.RetentionRule {
	if len(r.DeleteAfterDays) == 0 {
		return nil
	}
	repos := r.DeleteAfterDays[0].repositories()
	scope := map[string][]models.RetentionSelector{"repository": {{Kind: selectorKind,
		Decoration: decorationRepoMatches, Pattern: repos}}}
	var rules []*models.RetentionRule
	var patterns []string
	for _, d := range r.DeleteAfterDays {
		patterns = append(patterns, d.Tags)
		rules = append(rules, &models.RetentionRule{
			Action: "retain", Template: templateDaysSinceLastPush,
			Params: map[string]any{templateDaysSinceLastPush: d.Days},
			TagSelectors: []*models.RetentionSelector{{Kind: selectorKind,
				Decoration: decorationMatches, Pattern: d.Tags, Extras: untaggedFalse}},
			ScopeSelectors: scope,
		})
	}
	rules = append(rules, &models.RetentionRule{
		Action: "retain", Template: templateAlways, Params: map[string]any{},
		TagSelectors: []*models.RetentionSelector{{Kind: selectorKind,
			Decoration: decorationExcludes, Pattern: unionPattern(patterns),
			Extras: untaggedFalse}},
		ScopeSelectors: scope,
	})
	return rules
}

// unionPattern joins doublestar patterns as {a,b}. Validate rejects '{' and ',' in
// patterns of a list with more than one entry, so the union cannot nest.
func unionPattern(patterns []string) string {
	if len(patterns) == 1 {
		return patterns[0]
	}
	return "{" + strings.Join(patterns, ",") + "}"
}

func retentionModel(r *Retention, projectID int64) *models.RetentionPolicy {
	return &models.RetentionPolicy{
		Algorithm: "or",
		Rules:     retentionRules(r),
		Scope:     &models.RetentionPolicyScope{Level: "project", Ref: projectID},
		Trigger: &models.RetentionRuleTrigger{Kind: "Schedule",
			Settings: map[string]any{"cron": r.Schedule}, References: map[string]any{}},
	}
}

// describeRule returns a canonical text of a rule, so that a rule Harbor returned
// compares equal to the same rule built here.
func describeRule(rule *models.RetentionRule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rule.Action, rule.Template)
	if rule.Disabled {
		b.WriteString(" disabled")
	}
	for _, key := range slices.Sorted(maps.Keys(rule.Params)) {
		fmt.Fprintf(&b, " %s=%v", key, number(rule.Params[key]))
	}
	for _, s := range rule.TagSelectors {
		if s != nil {
			fmt.Fprintf(&b, " tags:%s:%s:%s", s.Decoration, s.Pattern, untagged(s))
		}
	}
	for _, s := range rule.ScopeSelectors["repository"] {
		fmt.Fprintf(&b, " repos:%s:%s", s.Decoration, s.Pattern)
	}
	return b.String()
}

// number formats JSON numbers and Go integers alike.
func number(v any) string {
	switch n := v.(type) {
	case float64:
		return strconv.FormatFloat(n, 'f', -1, 64)
	case json.Number:
		return n.String()
	default:
		return fmt.Sprint(n)
	}
}

// untagged returns the selector's untagged flag with Harbor's defaults: true for
// matches and false for excludes.
func untagged(s *models.RetentionSelector) string {
	var extras struct {
		Untagged *bool `json:"untagged"`
	}
	if s.Extras != "" && json.Unmarshal([]byte(s.Extras), &extras) == nil &&
		extras.Untagged != nil {
		return strconv.FormatBool(*extras.Untagged)
	}
	return strconv.FormatBool(s.Decoration == decorationMatches)
}

func cronOf(trigger *models.RetentionRuleTrigger) string {
	if trigger == nil {
		return ""
	}
	if settings, ok := trigger.Settings.(map[string]any); ok {
		if cron, ok := settings["cron"].(string); ok {
			return cron
		}
	}
	return ""
}

func describeRetention(r *Retention) string {
	var parts []string
	for _, d := range r.DeleteAfterDays {
		parts = append(parts, fmt.Sprintf("delete tags=%s repos=%s after %d days", d.Tags,
			d.repositories(), d.Days))
	}
	return fmt.Sprintf("schedule=%q %s, keep everything else", r.Schedule,
		strings.Join(parts, "; "))
}

// planRetention creates, replaces or deletes the project's retention policy.
func planRetention(ctx context.Context, api *client.HarborAPI, plan *Plan, p *Project,
	id int64) error {
	want := p.Spec.Retention
	if want == nil {
		return nil
	}
	current, err := currentRetention(ctx, api, p, id)
	if err != nil {
		return err
	}
	name := p.Metadata.Name
	switch {
	case current == nil && len(want.DeleteAfterDays) == 0:
	case current == nil:
		plan.add(ActionCreate, "retention policy", "%s", describeRetention(want))
		plan.steps = append(plan.steps, putRetentionStep(name, want, 0))
	case len(want.DeleteAfterDays) == 0:
		plan.add(ActionDelete, "retention policy", "%d (the file lists no deletions)",
			current.ID)
		plan.steps = append(plan.steps, deleteRetentionStep(current.ID))
	default:
		if diffs := retentionDiffs(want, current); len(diffs) > 0 {
			plan.add(ActionUpdate, "retention policy", "%s", strings.Join(diffs, ", "))
			plan.steps = append(plan.steps, putRetentionStep(name, want, current.ID))
		}
	}
	return nil
}

func retentionDiffs(want *Retention, current *models.RetentionPolicy) []string {
	var diffs []string
	if have := cronOf(current.Trigger); have != want.Schedule {
		diffs = append(diffs, fmt.Sprintf("schedule: %q -> %q", have, want.Schedule))
	}
	var haveRules, wantRules []string
	for _, rule := range current.Rules {
		if rule != nil {
			haveRules = append(haveRules, describeRule(rule))
		}
	}
	for _, rule := range retentionRules(want) {
		wantRules = append(wantRules, describeRule(rule))
	}
	slices.Sort(haveRules)
	slices.Sort(wantRules)
	if !slices.Equal(haveRules, wantRules) {
		diffs = append(diffs, fmt.Sprintf("rules: %d rules -> %s", len(haveRules),
			describeRetention(want)))
	}
	return diffs
}

// currentRetention returns the policy named by the project's retention_id metadata, or
// nil when there is none.
func currentRetention(ctx context.Context, api *client.HarborAPI, p *Project,
	id int64) (*models.RetentionPolicy, error) {
	if id == 0 {
		return nil, nil
	}
	proj, err := getProject(ctx, api, p.Metadata.Name)
	if err != nil || proj == nil || proj.Metadata == nil || proj.Metadata.RetentionID == nil {
		return nil, err
	}
	rid, err := strconv.ParseInt(*proj.Metadata.RetentionID, 10, 64)
	if err != nil || rid == 0 {
		return nil, nil
	}
	resp, err := api.Retention.GetRetention(ctx,
		retention.NewGetRetentionParamsWithContext(ctx).WithID(rid))
	if err != nil {
		return nil, wrapHarbor(err, "getting retention policy %d of project %s", rid,
			p.Metadata.Name)
	}
	return resp.Payload, nil
}

func putRetentionStep(project string, r *Retention, policyID int64) step {
	return func(ctx context.Context, a *applier) error {
		id, err := a.id(ctx, project)
		if err != nil {
			return err
		}
		model := retentionModel(r, id)
		if policyID == 0 {
			_, err = a.api.Retention.CreateRetention(ctx,
				retention.NewCreateRetentionParamsWithContext(ctx).WithPolicy(model))
			return wrapHarbor(err, "creating the retention policy of project %s", project)
		}
		model.ID = policyID
		_, err = a.api.Retention.UpdateRetention(ctx,
			retention.NewUpdateRetentionParamsWithContext(ctx).WithID(policyID).
				WithPolicy(model))
		return wrapHarbor(err, "updating retention policy %d", policyID)
	}
}

func deleteRetentionStep(policyID int64) step {
	return func(ctx context.Context, a *applier) error {
		_, err := a.api.Retention.DeleteRetention(ctx,
			retention.NewDeleteRetentionParamsWithContext(ctx).WithID(policyID))
		return wrapHarbor(err, "deleting retention policy %d", policyID)
	}
}
