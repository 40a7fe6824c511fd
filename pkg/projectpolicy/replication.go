package projectpolicy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/replication"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// DirectionPush is the only replication direction this package writes: from this
// Harbor's project to a remote Harbor.
const DirectionPush = "push"

// Replication filter types and the tag filter decoration that this package writes.
const (
	filterName    = "name"
	filterTag     = "tag"
	filterMatches = "matches"
)

// defaultRepositories is the repositories filter of a rule that sets none.
const defaultRepositories = "**"

func (r *Replication) enabled() bool  { return r.Enabled == nil || *r.Enabled }
func (r *Replication) override() bool { return r.Override == nil || *r.Override }

func (r *Replication) triggerType() string {
	if r.Trigger.Type == "" {
		return TriggerManual
	}
	return r.Trigger.Type
}

// namePattern returns the name filter of the rule: the repositories pattern below the
// project, so that a push-based policy never replicates another project.
func (r *Replication) namePattern(project string) string {
	repositories := r.Filters.Repositories
	if repositories == "" {
		repositories = defaultRepositories
	}
	return project + "/" + repositories
}

// policyView contains the fields of a replication policy that Plan compares, as text.
type policyView struct {
	description, enabled, target, repositories, tags, namespace, trigger, override,
	deletion string
}

// fields returns the view's fields with their plan labels, in plan order.
func (v policyView) fields() [][2]string {
	return [][2]string{{"description", v.description}, {"enabled", v.enabled},
		{"target", v.target}, {"repositories", v.repositories}, {"tags", v.tags},
		{"destination namespace", v.namespace}, {"trigger", v.trigger},
		{"override", v.override}, {"deletion", v.deletion}}
}

func wantView(project string, r Replication) policyView {
	trigger := r.triggerType()
	if trigger == TriggerScheduled {
		trigger += " " + r.Trigger.Cron
	}
	return policyView{description: fmt.Sprintf("%q", r.Description),
		enabled: fmt.Sprint(r.enabled()), target: r.Target.Name,
		repositories: r.namePattern(project), tags: r.Filters.Tags,
		namespace: r.DestinationNamespace, trigger: trigger,
		override: fmt.Sprint(r.override()), deletion: fmt.Sprint(r.Deletion)}
}

// haveView reads a policy that Harbor returned. A pull-based policy's remote side shows
// as "pull from <name>", which never equals a push target.
func haveView(policy *models.ReplicationPolicy) policyView {
	v := policyView{description: fmt.Sprintf("%q", policy.Description),
		enabled: fmt.Sprint(policy.Enabled), namespace: policy.DestNamespace,
		override: fmt.Sprint(policy.Override), deletion: fmt.Sprint(policy.Deletion)}
	switch {
	case remoteID(policy.SrcRegistry) != 0:
		v.target = "pull from " + policy.SrcRegistry.Name
	case policy.DestRegistry != nil:
		v.target = policy.DestRegistry.Name
	}
	for _, f := range policy.Filters {
		if f == nil {
			continue
		}
		value := fmt.Sprint(f.Value)
		switch {
		case f.Type == filterName:
			v.repositories = value
		case f.Type == filterTag && (f.Decoration == "" || f.Decoration == filterMatches):
			v.tags = value
		default:
			v.tags += fmt.Sprintf(" %s %s %s", f.Type, f.Decoration, value)
		}
	}
	if t := policy.Trigger; t != nil {
		v.trigger = t.Type
		if t.Type == TriggerScheduled && t.TriggerSettings != nil {
			v.trigger += " " + t.TriggerSettings.Cron
		}
	}
	return v
}

func remoteID(r *models.Registry) int64 {
	if r == nil {
		return 0
	}
	return r.ID
}

// pushesProject reports whether the policy pushes the project's repositories from this
// Harbor, which makes it one of the project's policies.
func pushesProject(policy *models.ReplicationPolicy, project string) bool {
	if remoteID(policy.SrcRegistry) != 0 {
		return false
	}
	return slices.ContainsFunc(policy.Filters, func(f *models.ReplicationFilter) bool {
		if f == nil || f.Type != filterName {
			return false
		}
		value, ok := f.Value.(string)
		return ok && strings.HasPrefix(value, project+"/")
	})
}

// planReplication creates and updates the file's replication rules, matched to Harbor's
// policies by name. When the file lists replication rules, it also deletes the policies
// that push this project's repositories (their name filter starts with "<project>/")
// and that the file does not name. Registry endpoints are planned by planRegistries.
func planReplication(ctx context.Context, api *client.HarborAPI, plan *Plan, p *Project,
	registries map[string]*models.Registry) error {
	if p.Spec.Replication == nil {
		return nil
	}
	existing, err := listReplicationPolicies(ctx, api)
	if err != nil {
		return err
	}
	project := p.Metadata.Name
	byName := map[string]*models.ReplicationPolicy{}
	for _, policy := range existing {
		byName[policy.Name] = policy
		if pushesProject(policy, project) && !listsReplication(p, policy.Name) {
			plan.add(ActionDelete, "replication policy", "%s (not in the file, which owns "+
				"the policies that push the project's repositories)", policy.Name)
			plan.steps = append(plan.steps, deletePolicyStep(policy))
		}
	}
	for _, r := range p.Spec.Replication {
		want := wantView(project, r)
		current := byName[r.Name]
		if current == nil {
			plan.add(ActionCreate, "replication policy", "%s %s", r.Name, describeView(want))
			plan.steps = append(plan.steps, putPolicyStep(project, r, 0))
			continue
		}
		diffs := viewDiffs(want, haveView(current))
		target := registries[r.Target.Name]
		if current.DestRegistry != nil && target != nil && current.DestRegistry.ID != target.ID {
			diffs = append(diffs, fmt.Sprintf("target id: %d -> %d", current.DestRegistry.ID,
				target.ID))
		}
		if len(diffs) > 0 {
			plan.add(ActionUpdate, "replication policy", "%s %s", r.Name,
				strings.Join(diffs, ", "))
			plan.steps = append(plan.steps, putPolicyStep(project, r, current.ID))
		}
	}
	return nil
}

func listsReplication(p *Project, name string) bool {
	return slices.ContainsFunc(p.Spec.Replication, func(r Replication) bool {
		return r.Name == name
	})
}

func describeView(v policyView) string {
	parts := make([]string, 0, 9)
	for _, f := range v.fields() {
		parts = append(parts, strings.ReplaceAll(f[0], " ", "-")+"="+f[1])
	}
	return strings.Join(parts, " ")
}

func viewDiffs(want, have policyView) []string {
	var diffs []string
	haveFields := have.fields()
	for i, f := range want.fields() {
		if f[1] != haveFields[i][1] {
			diffs = append(diffs, fmt.Sprintf("%s: %s -> %s", f[0], haveFields[i][1], f[1]))
		}
	}
	return diffs
}

func listReplicationPolicies(ctx context.Context,
	api *client.HarborAPI) ([]*models.ReplicationPolicy, error) {
	var all []*models.ReplicationPolicy
	pageSize := int64(100)
	for page := int64(1); ; page++ {
		params := replication.NewListReplicationPoliciesParamsWithContext(ctx).
			WithPage(&page).WithPageSize(&pageSize)
		resp, err := api.Replication.ListReplicationPolicies(ctx, params)
		if err != nil {
			return nil, wrapHarbor(err, "listing replication policies")
		}
		for _, policy := range resp.Payload {
			if policy != nil {
				all = append(all, policy)
			}
		}
		if int64(len(all)) >= resp.XTotalCount || len(resp.Payload) == 0 {
			return all, nil
		}
	}
}

// policyModel returns the push-based policy of a rule whose target has registryID.
func policyModel(project string, r Replication, registryID int64) *models.ReplicationPolicy {
	filters := []*models.ReplicationFilter{{Type: filterName, Value: r.namePattern(project)}}
	if r.Filters.Tags != "" {
		filters = append(filters, &models.ReplicationFilter{Type: filterTag,
			Decoration: filterMatches, Value: r.Filters.Tags})
	}
	trigger := &models.ReplicationTrigger{Type: r.triggerType()}
	if trigger.Type == TriggerScheduled {
		trigger.TriggerSettings = &models.ReplicationTriggerSettings{Cron: r.Trigger.Cron}
	}
	return &models.ReplicationPolicy{
		Name: r.Name, Description: r.Description, Enabled: r.enabled(),
		DestRegistry: &models.Registry{ID: registryID}, DestNamespace: r.DestinationNamespace,
		Filters: filters, Trigger: trigger, Override: r.override(),
		// Harbor's replication handler (src/server/v2.0/handler/replication.go) reads
		// only "deletion" and returns the value in "deletion" and "replicate_deletion" alike.
		Deletion: r.Deletion, ReplicateDeletion: r.Deletion,
	}
}

// putPolicyStep creates the policy when policyID is 0 and replaces it otherwise.
func putPolicyStep(project string, r Replication, policyID int64) step {
	return func(ctx context.Context, a *applier) error {
		registryID, err := a.registryID(ctx, r.Target.Name)
		if err != nil {
			return err
		}
		model := policyModel(project, r, registryID)
		if policyID == 0 {
			_, err = a.api.Replication.CreateReplicationPolicy(ctx, replication.
				NewCreateReplicationPolicyParamsWithContext(ctx).WithPolicy(model))
			return wrapHarbor(err, "creating replication policy %s", r.Name)
		}
		model.ID = policyID
		_, err = a.api.Replication.UpdateReplicationPolicy(ctx, replication.
			NewUpdateReplicationPolicyParamsWithContext(ctx).WithID(policyID).
			WithPolicy(model))
		return wrapHarbor(err, "updating replication policy %s", r.Name)
	}
}

func deletePolicyStep(policy *models.ReplicationPolicy) step {
	return func(ctx context.Context, a *applier) error {
		_, err := a.api.Replication.DeleteReplicationPolicy(ctx, replication.
			NewDeleteReplicationPolicyParamsWithContext(ctx).WithID(policy.ID))
		return wrapHarbor(err, "deleting replication policy %s", policy.Name)
	}
}
