package harbortest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// Retention rule templates of Harbor v2.13 src/pkg/retention/policy/rule. The parameter
// of a rule is keyed by its template id.
const (
	templateAlways             = "always"
	templateLatestPushedK      = "latestPushedK"
	templateLatestPulledN      = "latestPulledN"
	templateLatestActiveK      = "latestActiveK"
	templateLastXDays          = "lastXDays"
	templateDaysSinceLastPush  = "nDaysSinceLastPush"
	templateDaysSinceLastPull  = "nDaysSinceLastPull"
	retentionActionRetain      = "retain"
	retentionAlgorithmOr       = "or"
	retentionScopeProject      = "project"
	retentionMaxRules          = 15
	retentionTriggerSchedule   = "Schedule"
	retentionExecutionSucceed  = "Succeed"
	retentionTriggerManual     = "MANUAL"
	retentionScopeRepositories = "repository"
	// accessoryTypeNydus is a soft reference, which deleting its subject leaves in place.
	accessoryTypeNydus = "accelerator.nydus"
)

// retentionTemplates lists every template with the unit of its integer parameter, or ""
// for a template without parameter.
var retentionTemplates = map[string]string{
	templateAlways: "", templateLatestPushedK: "count", templateLatestPulledN: "count",
	templateLatestActiveK: "count", templateLastXDays: "days",
	templateDaysSinceLastPush: "days", templateDaysSinceLastPull: "days",
}

// retentionState contains the retention policies and their executions. The Server's
// mutex guards it.
type retentionState struct {
	policies   map[int64]*models.RetentionPolicy
	executions []*retentionExecution
}

func newRetentionState() retentionState {
	return retentionState{policies: map[int64]*models.RetentionPolicy{}}
}

type retentionExecution struct {
	record *models.RetentionExecution
	tasks  []*models.RetentionExecutionTask
}

// retentionCandidate is an artifact that retention may delete, with the time of its
// newest push: the artifact's own or that of any of its tags.
type retentionCandidate struct {
	art      *artifact
	lastPush time.Time
}

// RunRetention runs the project's tag retention policy now, as POST
// /retentions/{id}/executions does, and records the execution. It returns the artifacts
// that were deleted, or with dryRun would be, as "<project>/<repository>@<digest>", sorted.
// Their tags and their signatures go with them, but are not listed. It wraps ErrInvalid
// when the project does not exist or has no retention policy.
func (s *Server) RunRetention(project string, dryRun bool) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.store.projects[project]
	if p == nil {
		return nil, fmt.Errorf("running retention: %w: project %q does not exist",
			ErrInvalid, project)
	}
	policy := s.retentionPolicyOf(p)
	if policy == nil {
		return nil, fmt.Errorf("running retention: %w: project %q has no retention policy",
			ErrInvalid, project)
	}
	deleted := s.runRetention(p, policy, dryRun).deleted
	slices.Sort(deleted)
	return deleted, nil
}

// retentionPolicyOf returns the project's policy from its retention_id, or nil.
func (s *Server) retentionPolicyOf(p *project) *models.RetentionPolicy {
	for _, policy := range s.retention.policies {
		if policy.Scope != nil && policy.Scope.Ref == int64(p.id) {
			return policy
		}
	}
	return nil
}

type retentionOutcome struct {
	execution *retentionExecution
	deleted   []string
}

// runRetention evaluates the policy over every repository of the project that some
// enabled rule's repository selector matches, deletes what no rule retains unless dryRun
// is set or an immutable tag protects it, and records the execution. The caller holds s.mu.
func (s *Server) runRetention(p *project, policy *models.RetentionPolicy,
	dryRun bool) retentionOutcome {
	now := s.clock.Now()
	execution := &retentionExecution{record: &models.RetentionExecution{
		ID: s.store.newID(), PolicyID: policy.ID, DryRun: dryRun,
		Status: retentionExecutionSucceed, Trigger: retentionTriggerManual,
		StartTime: now.UTC().Format(time.RFC3339), EndTime: now.UTC().Format(time.RFC3339),
	}}
	var deleted []string
	for _, repo := range s.projectRepositories(p) {
		name := strings.TrimPrefix(repo.name, p.name+"/")
		candidates := retentionCandidates(repo)
		retained, matched := evaluateRetention(policy.Rules, name, candidates, now)
		if !matched {
			continue
		}
		var removed []*artifact
		for _, c := range candidates {
			if !retained[c.art.digest] && !s.hasImmutableTag(c.art) {
				removed = append(removed, c.art)
				deleted = append(deleted, repo.name+"@"+c.art.digest)
			}
		}
		if !dryRun {
			for _, art := range removed {
				s.deleteArtifactDeeply(repo, art)
			}
		}
		execution.tasks = append(execution.tasks, &models.RetentionExecutionTask{
			ID: s.store.newID(), ExecutionID: execution.record.ID, Repository: name,
			JobID: newUUID(), Status: retentionExecutionSucceed, StatusCode: 3,
			Total: int64(len(candidates)), Retained: int64(len(candidates) - len(removed)),
			StartTime: execution.record.StartTime, EndTime: execution.record.EndTime,
		})
	}
	s.retention.executions = append(s.retention.executions, execution)
	return retentionOutcome{execution: execution, deleted: deleted}
}

// projectRepositories returns the project's repositories ordered by name.
func (s *Server) projectRepositories(p *project) []*repository {
	var list []*repository
	for _, repo := range s.store.repositories {
		if repo.project == p {
			list = append(list, repo)
		}
	}
	slices.SortFunc(list, func(a, b *repository) int { return strings.Compare(a.name, b.name) })
	return list
}

// retentionCandidates returns the artifacts that Harbor's artifact list shows, because
// retention takes its candidates from there: accessories and untagged index children are
// never candidates themselves.
func retentionCandidates(repo *repository) []retentionCandidate {
	var candidates []retentionCandidate
	for _, art := range repo.listed() {
		last := art.pushTime
		for _, t := range art.tags {
			if t.pushTime.After(last) {
				last = t.pushTime
			}
		}
		candidates = append(candidates, retentionCandidate{art: art, lastPush: last})
	}
	return candidates
}

// evaluateRetention applies the "or" algorithm: an artifact is retained when any enabled
// rule whose repository selector matches the repository retains it. matched reports
// whether any enabled rule applies to the repository at all.
func evaluateRetention(rules []*models.RetentionRule, repository string,
	candidates []retentionCandidate, now time.Time) (map[string]bool, bool) {
	retained := map[string]bool{}
	matched := false
	for _, rule := range rules {
		if rule == nil || rule.Disabled || !retentionRepoMatch(rule, repository) {
			continue
		}
		matched = true
		var selected []retentionCandidate
		for _, c := range candidates {
			if retentionTagSelect(rule.TagSelectors[0], c.art) {
				selected = append(selected, c)
			}
		}
		for _, c := range applyTemplate(rule, selected, now) {
			retained[c.art.digest] = true
		}
	}
	return retained, matched
}

// retentionRepoMatch applies the rule's first repository selector to the repository name
// without its project.
func retentionRepoMatch(rule *models.RetentionRule, repository string) bool {
	selectors := rule.ScopeSelectors[retentionScopeRepositories]
	if len(selectors) == 0 {
		return false
	}
	matched, _ := doublestar.Match(selectors[0].Pattern, repository)
	if selectors[0].Decoration == decorationRepoExcludes {
		return !matched
	}
	return matched
}

// retentionTagSelect applies a doublestar tag selector as Harbor v2.13
// src/lib/selector/selectors/doublestar/selector.go does: "matches" selects an artifact
// when any tag matches, "excludes" when any tag does not. The extras flag "untagged"
// decides about untagged artifacts: with "matches" they are selected when it is true, the
// default, and with "excludes" when it is false, also the default.
func retentionTagSelect(selector *models.RetentionSelector, art *artifact) bool {
	untagged := selector.Decoration == decorationMatches
	var extras struct {
		Untagged *bool `json:"untagged"`
	}
	if selector.Extras != "" && json.Unmarshal([]byte(selector.Extras), &extras) == nil &&
		extras.Untagged != nil {
		untagged = *extras.Untagged
	}
	if len(art.tags) == 0 {
		if selector.Decoration == decorationMatches {
			return untagged
		}
		return !untagged
	}
	for _, t := range art.tags {
		matched, _ := doublestar.Match(selector.Pattern, t.name)
		if matched == (selector.Decoration == decorationMatches) {
			return true
		}
	}
	return false
}

// applyTemplate returns the selected candidates that the rule's template retains.
//
// NOTE: the double records no pull times, so the pull-based templates treat every
// artifact as never pulled: nDaysSinceLastPull retains nothing, latestPulledN keeps the
// newest pushes and latestActiveK equals latestPushedK.
func applyTemplate(rule *models.RetentionRule, selected []retentionCandidate,
	now time.Time) []retentionCandidate {
	param := retentionParam(rule)
	switch rule.Template {
	case templateAlways:
		return selected
	case templateLatestPushedK, templateLatestPulledN, templateLatestActiveK:
		sorted := slices.Clone(selected)
		slices.SortStableFunc(sorted, func(a, b retentionCandidate) int {
			return b.lastPush.Compare(a.lastPush)
		})
		return sorted[:min(int(param), len(sorted))]
	case templateDaysSinceLastPush:
		return retainPushedSince(selected, now, param)
	case templateLastXDays:
		oldest := now.AddDate(0, 0, -int(param))
		var kept []retentionCandidate
		for _, c := range selected {
			if !c.lastPush.Before(oldest) {
				kept = append(kept, c)
			}
		}
		return kept
	}
	return nil
}

// retainPushedSince keeps the candidates pushed within the last days, computing the cut-off
// as Harbor's src/pkg/retention/policy/rule/daysps/evaluator.go does, in whole
// seconds and with time.Duration(-24*days) * time.Hour. That product overflows above
// 106751 days, and Harbor then keeps whatever the wrapped cut-off selects; so does the
// double.
func retainPushedSince(selected []retentionCandidate, now time.Time,
	days int64) []retentionCandidate {
	cutOff := now.UTC().Add(time.Duration(-1*24*days) * time.Hour).Unix()
	var kept []retentionCandidate
	for _, c := range selected {
		if c.lastPush.Unix() >= cutOff {
			kept = append(kept, c)
		}
	}
	return kept
}

// retentionParam returns the rule's integer parameter, which JSON decoding stores as a
// float64 under the template id.
func retentionParam(rule *models.RetentionRule) int64 {
	switch value := rule.Params[rule.Template].(type) {
	case float64:
		return int64(value)
	case json.Number:
		parsed, _ := value.Int64()
		return parsed
	}
	return 0
}

// hasImmutableTag reports whether an immutable rule covers one of the artifact's tags.
// Harbor's retention keeps such artifacts and records an error for them.
func (s *Server) hasImmutableTag(art *artifact) bool {
	name := strings.TrimPrefix(art.repo.name, art.repo.project.name+"/")
	for _, rule := range art.repo.project.immutableRules {
		for _, t := range art.tags {
			if immutableMatch(rule, name, t.name) {
				return true
			}
		}
	}
	return false
}

// deleteArtifactDeeply deletes an artifact with its tags and its hard-referenced
// accessories from the records and from the embedded registry, as Harbor's artifact
// controller does. The caller holds s.mu.
//
// NOTE: children of a deleted index stay in place, but Harbor also deletes those that no
// other artifact references.
func (s *Server) deleteArtifactDeeply(repo *repository, art *artifact) {
	for _, accessory := range repo.accessoriesOf(art.digest) {
		if accessory.accessoryType != accessoryTypeNydus {
			s.deleteArtifactDeeply(repo, accessory)
		}
	}
	request := httptest.NewRequest(http.MethodDelete,
		"/v2/"+repo.name+"/manifests/"+art.digest, nil)
	s.registry.ServeHTTP(httptest.NewRecorder(), request)
	repo.deleteArtifact(art.digest)
}
