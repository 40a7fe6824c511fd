package projectpolicy

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/bmatcuk/doublestar"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/immutable"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// Selector kinds and decorations of Harbor's immutable and retention rules, from Harbor
// v2.13 src/lib/selector/selectors/doublestar/selector.go.
const (
	selectorKind          = "doublestar"
	decorationMatches     = "matches"
	decorationExcludes    = "excludes"
	decorationRepoMatches = "repoMatches"
	decorationRepoExclude = "repoExcludes"
)

// ruleSelectors is the one tag selector and one repository selector of an immutable rule.
type ruleSelectors struct {
	tagDecoration, tagPattern   string
	repoDecoration, repoPattern string
}

// immutableSelectors returns the selectors of a rule, defaulting the repositories to "**".
func immutableSelectors(r ImmutableTagRule) (ruleSelectors, error) {
	s := ruleSelectors{repoDecoration: decorationRepoMatches, repoPattern: "**"}
	switch {
	case r.Tags != "" && r.ExcludeTags != "":
		return s, errors.New("set either tags or excludeTags, because Harbor uses one " +
			"tag selector per rule")
	case r.Tags != "":
		s.tagDecoration, s.tagPattern = decorationMatches, r.Tags
	case r.ExcludeTags != "":
		s.tagDecoration, s.tagPattern = decorationExcludes, r.ExcludeTags
	default:
		return s, errors.New("missing tag pattern: set tags, such as \"v*\"")
	}
	switch {
	case r.Repositories != "" && r.ExcludeRepositories != "":
		return s, errors.New("set either repositories or excludeRepositories, because " +
			"Harbor uses one repository selector per rule")
	case r.Repositories != "":
		s.repoPattern = r.Repositories
	case r.ExcludeRepositories != "":
		s.repoDecoration, s.repoPattern = decorationRepoExclude, r.ExcludeRepositories
	}
	return s, nil
}

// matchesTag reports whether the tag selector selects tag, as Harbor's doublestar
// selector does.
func (s ruleSelectors) matchesTag(tag string) bool {
	matched, _ := doublestar.Match(s.tagPattern, tag)
	if s.tagDecoration == decorationExcludes {
		return !matched
	}
	return matched
}

// String formats the selectors for a plan line, such as "tags=v* repos=**".
func (s ruleSelectors) String() string {
	tagOp, repoOp := "=", "="
	if s.tagDecoration == decorationExcludes {
		tagOp = "!="
	}
	if s.repoDecoration == decorationRepoExclude {
		repoOp = "!="
	}
	return fmt.Sprintf("tags%s%s repos%s%s", tagOp, s.tagPattern, repoOp, s.repoPattern)
}

func (s ruleSelectors) model() *models.ImmutableRule {
	return &models.ImmutableRule{
		Action:   "immutable",
		Template: "immutable_template",
		TagSelectors: []*models.ImmutableSelector{{Kind: selectorKind,
			Decoration: s.tagDecoration, Pattern: s.tagPattern}},
		ScopeSelectors: map[string][]models.ImmutableSelector{"repository": {{
			Kind: selectorKind, Decoration: s.repoDecoration, Pattern: s.repoPattern}}},
	}
}

// selectorsOf returns the selectors of an enabled rule that Harbor returned, and false for
// a disabled rule or one this package cannot describe.
func selectorsOf(rule *models.ImmutableRule) (ruleSelectors, bool) {
	repos := rule.ScopeSelectors["repository"]
	if rule.Disabled || len(rule.TagSelectors) == 0 || rule.TagSelectors[0] == nil ||
		len(repos) == 0 {
		return ruleSelectors{}, false
	}
	tag := rule.TagSelectors[0]
	return ruleSelectors{tagDecoration: tag.Decoration, tagPattern: tag.Pattern,
		repoDecoration: repos[0].Decoration, repoPattern: repos[0].Pattern}, true
}

// planImmutableRules creates the file's rules that Harbor lacks and, when the file lists
// immutableTags, deletes the rules it does not list.
func planImmutableRules(ctx context.Context, api *client.HarborAPI, plan *Plan, p *Project,
	id int64) error {
	if p.Spec.ImmutableTags == nil {
		return nil
	}
	existing, err := listImmutableRules(ctx, api, id)
	if err != nil {
		return err
	}
	desired := map[ruleSelectors]bool{}
	for _, r := range p.Spec.ImmutableTags {
		s, _ := immutableSelectors(r) // Validate checked the rule.
		if desired[s] {
			continue
		}
		desired[s] = true
		if !ruleListed(existing, s) {
			plan.add(ActionCreate, "immutable rule", "%s", s)
			plan.steps = append(plan.steps, createImmutableStep(p.Metadata.Name, s))
		}
	}
	matched := map[ruleSelectors]bool{}
	for _, rule := range existing {
		s, ok := selectorsOf(rule)
		if ok && desired[s] && !matched[s] {
			matched[s] = true
			continue
		}
		label := existingRuleLabel(rule)
		plan.add(ActionDelete, "immutable rule", "%s (not in the file, which owns the "+
			"project's immutable rules)", label)
		plan.steps = append(plan.steps, deleteImmutableStep(p.Metadata.Name, rule.ID, label))
	}
	return nil
}

// existingRuleLabel describes a rule that Harbor returned for the plan: by its selectors,
// marked "disabled" when it is, or by its id when it has no selectors to show.
func existingRuleLabel(rule *models.ImmutableRule) string {
	enabled := *rule
	enabled.Disabled = false
	s, ok := selectorsOf(&enabled)
	switch {
	case !ok:
		return fmt.Sprintf("id %d", rule.ID)
	case rule.Disabled:
		return s.String() + " disabled"
	default:
		return s.String()
	}
}

func ruleListed(rules []*models.ImmutableRule, s ruleSelectors) bool {
	for _, rule := range rules {
		if got, ok := selectorsOf(rule); ok && got == s {
			return true
		}
	}
	return false
}

// listImmutableRules returns every immutable rule of the project, or nil for id 0, a
// project that does not exist yet.
func listImmutableRules(ctx context.Context, api *client.HarborAPI,
	id int64) ([]*models.ImmutableRule, error) {
	if id == 0 {
		return nil, nil
	}
	var all []*models.ImmutableRule
	pageSize := int64(100)
	for page := int64(1); ; page++ {
		params := immutable.NewListImmuRulesParamsWithContext(ctx).
			WithProjectNameOrID(strconv.FormatInt(id, 10)).WithPage(&page).
			WithPageSize(&pageSize)
		resp, err := api.Immutable.ListImmuRules(ctx, params)
		if err != nil {
			return nil, wrapHarbor(err, "listing immutable rules of project %d", id)
		}
		all = append(all, resp.Payload...)
		if int64(len(all)) >= resp.XTotalCount || len(resp.Payload) == 0 {
			return all, nil
		}
	}
}

func createImmutableStep(project string, s ruleSelectors) step {
	return func(ctx context.Context, a *applier) error {
		id, err := a.id(ctx, project)
		if err != nil {
			return err
		}
		params := immutable.NewCreateImmuRuleParamsWithContext(ctx).
			WithProjectNameOrID(strconv.FormatInt(id, 10)).WithImmutableRule(s.model())
		_, err = a.api.Immutable.CreateImmuRule(ctx, params)
		return wrapHarbor(err, "creating immutable rule %s", s)
	}
}

func deleteImmutableStep(project string, ruleID int64, label string) step {
	return func(ctx context.Context, a *applier) error {
		id, err := a.id(ctx, project)
		if err != nil {
			return err
		}
		params := immutable.NewDeleteImmuRuleParamsWithContext(ctx).
			WithProjectNameOrID(strconv.FormatInt(id, 10)).WithImmutableRuleID(ruleID)
		_, err = a.api.Immutable.DeleteImmuRule(ctx, params)
		return wrapHarbor(err, "deleting immutable rule %s", label)
	}
}
