package harbortest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

const immutableRulePath = "/projects/{project_name_or_id}/immutabletagrules"

// Selector kinds and decorations of immutable tag rules, as Harbor v2.13's
// src/lib/selector/selectors/doublestar/selector.go names them.
const (
	selectorKindDoublestar = "doublestar"
	decorationMatches      = "matches"
	decorationExcludes     = "excludes"
	decorationRepoMatches  = "repoMatches"
	decorationRepoExcludes = "repoExcludes"
)

// AddImmutableRule adds an enabled immutable tag rule to the project, as the web
// interface's "Add rule" does: tags matching the doublestar pattern tagPattern in
// repositories matching repoPattern become immutable. Like Harbor, repoPattern is matched
// against the repository name without the project, so "**" covers every repository. It
// returns the rule's id.
func (s *Server) AddImmutableRule(project, tagPattern, repoPattern string) (int64, error) {
	rule := &models.ImmutableRule{
		Action: "immutable", Template: "immutable_template",
		TagSelectors: []*models.ImmutableSelector{{
			Kind: selectorKindDoublestar, Decoration: decorationMatches, Pattern: tagPattern,
		}},
		ScopeSelectors: map[string][]models.ImmutableSelector{"repository": {{
			Kind: selectorKindDoublestar, Decoration: decorationRepoMatches, Pattern: repoPattern,
		}}},
	}
	if err := validateImmutableRule(rule); err != nil {
		return 0, fmt.Errorf("adding immutable rule: %w: %w", ErrInvalid, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.store.projects[project]
	if p == nil {
		return 0, fmt.Errorf("adding immutable rule: %w: project %q does not exist",
			ErrInvalid, project)
	}
	return s.storeImmutableRule(p, rule), nil
}

// storeImmutableRule gives the rule an id and adds it to the project. The caller holds
// s.mu.
func (s *Server) storeImmutableRule(p *project, rule *models.ImmutableRule) int64 {
	rule.ID = s.store.newID()
	p.immutableRules = append(p.immutableRules, rule)
	return rule.ID
}

// validateImmutableRule checks what Harbor needs to match a rule: a doublestar tag
// selector and a doublestar repository selector with valid decorations and patterns.
func validateImmutableRule(rule *models.ImmutableRule) error {
	if len(rule.TagSelectors) == 0 || rule.TagSelectors[0] == nil {
		return fmt.Errorf("the rule has no tag selector")
	}
	repos := rule.ScopeSelectors["repository"]
	if len(repos) == 0 {
		return fmt.Errorf("the rule has no repository scope selector")
	}
	tag, repo := rule.TagSelectors[0], repos[0]
	if tag.Kind != selectorKindDoublestar || repo.Kind != selectorKindDoublestar {
		return fmt.Errorf("invalid selector kinds %q and %q: only %q is supported",
			tag.Kind, repo.Kind, selectorKindDoublestar)
	}
	if tag.Decoration != decorationMatches && tag.Decoration != decorationExcludes {
		return fmt.Errorf("invalid tag decoration %q: use %q or %q", tag.Decoration,
			decorationMatches, decorationExcludes)
	}
	if repo.Decoration != decorationRepoMatches && repo.Decoration != decorationRepoExcludes {
		return fmt.Errorf("invalid repository decoration %q: use %q or %q", repo.Decoration,
			decorationRepoMatches, decorationRepoExcludes)
	}
	for _, pattern := range []string{tag.Pattern, repo.Pattern} {
		if _, err := doublestar.Match(pattern, ""); err != nil {
			return fmt.Errorf("invalid pattern %q: %w", pattern, err)
		}
	}
	return nil
}

// immutableMatch reports whether an enabled rule makes the tag of the repository, named
// without its project, immutable. Only the first tag selector and the first repository
// selector count, as in Harbor v2.13's src/pkg/immutable/match/rule/match.go.
func immutableMatch(rule *models.ImmutableRule, repository, tag string) bool {
	if rule.Disabled || len(rule.TagSelectors) == 0 || rule.TagSelectors[0] == nil {
		return false
	}
	repos := rule.ScopeSelectors["repository"]
	if len(repos) == 0 {
		return false
	}
	repoMatched, _ := doublestar.Match(repos[0].Pattern, repository)
	if repos[0].Decoration == decorationRepoExcludes {
		repoMatched = !repoMatched
	}
	tagMatched, _ := doublestar.Match(rule.TagSelectors[0].Pattern, tag)
	if rule.TagSelectors[0].Decoration == decorationExcludes {
		tagMatched = !tagMatched
	}
	return repoMatched && tagMatched
}

// checkImmutable rejects a manifest PUT to an existing tag that an immutable rule covers,
// before the registry stores anything, as Harbor v2.13's
// src/server/middleware/immutable/pushmf.go does. Digests are not compared, so pushing
// the same manifest again is rejected too. Pushes by digest and new tags pass. Harbor
// exempts no tag, so cosign's sha256-<hex>.sig tags are covered as well.
func (s *Server) checkImmutable(route registryRoute) *apiError {
	if route.rest == "" || isDigest(route.rest) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	repo := s.store.repositories[route.repository]
	if repo == nil {
		return nil
	}
	if _, exists := repo.tags[route.rest]; !exists {
		return nil
	}
	name := strings.TrimPrefix(repo.name, repo.project.name+"/")
	for _, rule := range repo.project.immutableRules {
		if immutableMatch(rule, name, route.rest) {
			return newAPIError(http.StatusPreconditionFailed, "PRECONDITION",
				"Failed to process request due to '%s:%s' configured as immutable.",
				name, route.rest)
		}
	}
	return nil
}

func (c *apiCall) listImmutableRules() *apiError {
	p, apiErr := c.project(permImmutableList)
	if apiErr != nil {
		return apiErr
	}
	start, end, apiErr := c.paginate(len(p.immutableRules))
	if apiErr != nil {
		return apiErr
	}
	page := []*models.ImmutableRule{}
	for _, rule := range p.immutableRules[start:end] {
		page = append(page, copyImmutableRule(rule))
	}
	writeJSON(c.w, http.StatusOK, page)
	return nil
}

func (c *apiCall) createImmutableRule() *apiError {
	p, apiErr := c.project(permImmutableCreate)
	if apiErr != nil {
		return apiErr
	}
	var rule models.ImmutableRule
	if apiErr := c.decodeBody(&rule); apiErr != nil {
		return apiErr
	}
	if err := validateImmutableRule(&rule); err != nil {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST", "%v", err)
	}
	id := c.s.storeImmutableRule(p, copyImmutableRule(&rule))
	c.w.Header().Set("Location", fmt.Sprintf("%s/%d",
		strings.TrimSuffix(c.r.URL.Path, "/"), id))
	c.w.WriteHeader(http.StatusCreated)
	return nil
}

func (c *apiCall) updateImmutableRule() *apiError {
	p, index, apiErr := c.immutableRule(permImmutableUpdate)
	if apiErr != nil {
		return apiErr
	}
	var rule models.ImmutableRule
	if apiErr := c.decodeBody(&rule); apiErr != nil {
		return apiErr
	}
	if err := validateImmutableRule(&rule); err != nil {
		return newAPIError(http.StatusBadRequest, "BAD_REQUEST", "%v", err)
	}
	updated := copyImmutableRule(&rule)
	updated.ID = p.immutableRules[index].ID
	p.immutableRules[index] = updated
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (c *apiCall) deleteImmutableRule() *apiError {
	p, index, apiErr := c.immutableRule(permImmutableDelete)
	if apiErr != nil {
		return apiErr
	}
	p.immutableRules = append(p.immutableRules[:index], p.immutableRules[index+1:]...)
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// immutableRule finds the project and the position of the rule named in the path.
func (c *apiCall) immutableRule(permission string) (*project, int, *apiError) {
	p, apiErr := c.project(permission)
	if apiErr != nil {
		return nil, 0, apiErr
	}
	id, err := strconv.ParseInt(c.params["immutable_rule_id"], 10, 64)
	if err != nil {
		return nil, 0, newAPIError(http.StatusBadRequest, "BAD_REQUEST",
			"invalid immutable rule id %q", c.params["immutable_rule_id"])
	}
	for i, rule := range p.immutableRules {
		if rule.ID == id {
			return p, i, nil
		}
	}
	return nil, 0, newAPIError(http.StatusNotFound, "NOT_FOUND",
		"immutable rule %d not found", id)
}

// copyImmutableRule returns a deep copy, so that callers never share a stored rule.
func copyImmutableRule(rule *models.ImmutableRule) *models.ImmutableRule {
	data, _ := json.Marshal(rule)
	var copied models.ImmutableRule
	_ = json.Unmarshal(data, &copied)
	return &copied
}
