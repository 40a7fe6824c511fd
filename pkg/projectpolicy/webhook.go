package projectpolicy

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/webhook"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// webhookTargetHTTP is the notify type of every target this package writes.
const webhookTargetHTTP = "http"

// planWebhooks creates and updates the file's webhook policies by name and, when the file
// lists webhooks, deletes the policies it does not name.
func planWebhooks(ctx context.Context, api *client.HarborAPI, plan *Plan, p *Project,
	id int64) error {
	if p.Spec.Webhooks == nil {
		return nil
	}
	existing, err := listWebhookPolicies(ctx, api, id)
	if err != nil {
		return err
	}
	byName := map[string]*models.WebhookPolicy{}
	for _, policy := range existing {
		if _, taken := byName[policy.Name]; taken || !listsWebhook(p, policy.Name) {
			plan.add(ActionDelete, "webhook policy", "%s (not in the file, which owns the "+
				"project's webhook policies)", policy.Name)
			plan.steps = append(plan.steps, deleteWebhookStep(p.Metadata.Name, policy))
			continue
		}
		byName[policy.Name] = policy
	}
	for _, w := range p.Spec.Webhooks {
		current := byName[w.Name]
		if current == nil {
			plan.add(ActionCreate, "webhook policy", "%s events=%s address=%s%s", w.Name,
				strings.Join(w.EventTypes, ","), normalAddress(w.Target.Address),
				authNote(w.Target.AuthHeader))
			plan.steps = append(plan.steps, putWebhookStep(p.Metadata.Name, w, 0))
			continue
		}
		diffs, err := webhookDiffs(ctx, plan.cfg.secrets, w, current)
		if err != nil {
			return err
		}
		if len(diffs) > 0 {
			plan.add(ActionUpdate, "webhook policy", "%s %s", w.Name, strings.Join(diffs, ", "))
			plan.steps = append(plan.steps, putWebhookStep(p.Metadata.Name, w, current.ID))
		}
	}
	return nil
}

func listsWebhook(p *Project, name string) bool {
	return slices.ContainsFunc(p.Spec.Webhooks, func(w Webhook) bool { return w.Name == name })
}

func authNote(src *SecretSource) string {
	if src == nil {
		return ""
	}
	return fmt.Sprintf(" (auth header set from %s)", src)
}

// webhookDiffs lists how a policy Harbor returned differs from w. Harbor may leave the
// auth header out of its response: then the header cannot be compared and counts as
// equal, and only a write for another difference sets it again.
func webhookDiffs(ctx context.Context, secrets SecretReader, w Webhook,
	current *models.WebhookPolicy) ([]string, error) {
	want := webhookModel(w, "")
	var diffs []string
	if want.Enabled != current.Enabled {
		diffs = append(diffs, fmt.Sprintf("enabled: %t -> %t", current.Enabled, want.Enabled))
	}
	if want.Description != current.Description {
		diffs = append(diffs, fmt.Sprintf("description: %q -> %q", current.Description,
			want.Description))
	}
	have := slices.Sorted(slices.Values(current.EventTypes))
	if wantEvents := slices.Sorted(slices.Values(want.EventTypes)); !slices.Equal(have,
		wantEvents) {
		diffs = append(diffs, fmt.Sprintf("events: %s -> %s", strings.Join(have, ","),
			strings.Join(wantEvents, ",")))
	}
	if len(current.Targets) != 1 || current.Targets[0] == nil {
		return append(diffs, fmt.Sprintf("targets: %d -> 1", len(current.Targets))), nil
	}
	diffs = append(diffs, targetDiffs(want.Targets[0], current.Targets[0])...)
	authDiff, err := authHeaderDiff(ctx, secrets, w.Target.AuthHeader,
		current.Targets[0].AuthHeader)
	if err != nil {
		return nil, err
	}
	if authDiff != "" {
		diffs = append(diffs, authDiff)
	} else if len(diffs) > 0 && w.Target.AuthHeader != nil {
		diffs = append(diffs, authNote(w.Target.AuthHeader)[1:])
	}
	return diffs, nil
}

func targetDiffs(want, have *models.WebhookTargetObject) []string {
	var diffs []string
	if want.Type != have.Type {
		diffs = append(diffs, fmt.Sprintf("type: %s -> %s", have.Type, want.Type))
	}
	if want.Address != have.Address {
		diffs = append(diffs, fmt.Sprintf("address: %s -> %s", have.Address, want.Address))
	}
	haveFormat := have.PayloadFormat
	if haveFormat == "" {
		haveFormat = PayloadFormatDefault
	}
	if want.PayloadFormat != haveFormat {
		diffs = append(diffs, fmt.Sprintf("payload format: %s -> %s", haveFormat,
			want.PayloadFormat))
	}
	if want.SkipCertVerify != have.SkipCertVerify {
		diffs = append(diffs, fmt.Sprintf("skip cert verify: %t -> %t", have.SkipCertVerify,
			want.SkipCertVerify))
	}
	return diffs
}

// authHeaderDiff compares the auth header when Harbor returned one, and reads the secret
// only then. It never returns the header itself.
func authHeaderDiff(ctx context.Context, secrets SecretReader, want *SecretSource,
	have string) (string, error) {
	switch {
	case have == "":
		return "", nil
	case want == nil:
		return "(auth header removed)", nil
	}
	value, err := secrets.ReadSecret(ctx, want)
	if err != nil {
		return "", fmt.Errorf("reading the webhook auth header from %s: %w", want, err)
	}
	if value != have {
		return "(auth header changed)", nil
	}
	return "", nil
}

// normalAddress returns the address as Harbor stores it: scheme, host and path without a
// trailing '/'.
func normalAddress(address string) string {
	u, err := url.Parse(address)
	if err != nil {
		return address
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.Path, "/")
}

func webhookModel(w Webhook, authHeader string) *models.WebhookPolicy {
	enabled := w.Enabled == nil || *w.Enabled
	format := w.Target.PayloadFormat
	if format == "" {
		format = PayloadFormatDefault
	}
	return &models.WebhookPolicy{
		Name: w.Name, Description: w.Description, Enabled: enabled,
		EventTypes: slices.Clone(w.EventTypes),
		Targets: []*models.WebhookTargetObject{{
			Type: webhookTargetHTTP, Address: normalAddress(w.Target.Address),
			PayloadFormat: models.PayloadFormatType(format), AuthHeader: authHeader,
			SkipCertVerify: w.Target.SkipCertVerify,
		}},
	}
}

func listWebhookPolicies(ctx context.Context, api *client.HarborAPI,
	id int64) ([]*models.WebhookPolicy, error) {
	if id == 0 {
		return nil, nil
	}
	var all []*models.WebhookPolicy
	pageSize := int64(100)
	for page := int64(1); ; page++ {
		params := webhook.NewListWebhookPoliciesOfProjectParamsWithContext(ctx).
			WithProjectNameOrID(strconv.FormatInt(id, 10)).WithPage(&page).
			WithPageSize(&pageSize)
		resp, err := api.Webhook.ListWebhookPoliciesOfProject(ctx, params)
		if err != nil {
			return nil, wrapHarbor(err, "listing webhook policies of project %d", id)
		}
		all = append(all, resp.Payload...)
		if int64(len(all)) >= resp.XTotalCount || len(resp.Payload) == 0 {
			return all, nil
		}
	}
}

// putWebhookStep creates the policy when policyID is 0 and replaces it otherwise. The
// auth header is read when the step runs.
func putWebhookStep(project string, w Webhook, policyID int64) step {
	return func(ctx context.Context, a *applier) error {
		id, err := a.id(ctx, project)
		if err != nil {
			return err
		}
		header := ""
		if w.Target.AuthHeader != nil {
			if header, err = a.cfg.secrets.ReadSecret(ctx, w.Target.AuthHeader); err != nil {
				return fmt.Errorf("reading the auth header of webhook %s from %s: %w",
					w.Name, w.Target.AuthHeader, err)
			}
		}
		model := webhookModel(w, header)
		pid := strconv.FormatInt(id, 10)
		if policyID == 0 {
			params := webhook.NewCreateWebhookPolicyOfProjectParamsWithContext(ctx).
				WithProjectNameOrID(pid).WithPolicy(model)
			_, err = a.api.Webhook.CreateWebhookPolicyOfProject(ctx, params)
			return wrapHarbor(err, "creating webhook policy %s", w.Name)
		}
		model.ID = policyID
		params := webhook.NewUpdateWebhookPolicyOfProjectParamsWithContext(ctx).
			WithProjectNameOrID(pid).WithWebhookPolicyID(policyID).WithPolicy(model)
		_, err = a.api.Webhook.UpdateWebhookPolicyOfProject(ctx, params)
		return wrapHarbor(err, "updating webhook policy %s", w.Name)
	}
}

func deleteWebhookStep(project string, policy *models.WebhookPolicy) step {
	return func(ctx context.Context, a *applier) error {
		id, err := a.id(ctx, project)
		if err != nil {
			return err
		}
		params := webhook.NewDeleteWebhookPolicyOfProjectParamsWithContext(ctx).
			WithProjectNameOrID(strconv.FormatInt(id, 10)).WithWebhookPolicyID(policy.ID)
		_, err = a.api.Webhook.DeleteWebhookPolicyOfProject(ctx, params)
		return wrapHarbor(err, "deleting webhook policy %s", policy.Name)
	}
}
