package projectpolicy

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/registry"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// Registry endpoint types that this package writes or checks.
const (
	RegistryTypeHarbor    = "harbor"
	RegistryTypeDockerHub = "docker-hub"
)

// registryCredentialBasic is the credential type of an access key and secret.
const registryCredentialBasic = "basic"

// ProxyCacheRegistryTypes are the endpoint types that a Harbor proxy-cache project may
// use, from Harbor's "Configure Proxy Cache" documentation.
var ProxyCacheRegistryTypes = []string{
	RegistryTypeHarbor, RegistryTypeDockerHub, "docker-registry", "aws-ecr", "azure-acr",
	"google-gcr", "quay", "github-ghcr", "jfrog-artifactory",
}

// endpointType returns the endpoint's type with the replication default applied.
func (e *RegistryEndpoint) endpointType() string {
	if e.Type == "" {
		return RegistryTypeHarbor
	}
	return e.Type
}

// endpoints returns the registry endpoints that the project uses, each name once, the
// proxy-cache upstream first. Validate ensures that endpoints of one name are equal.
func (p *Project) endpoints() []RegistryEndpoint {
	var list []RegistryEndpoint
	seen := map[string]bool{}
	add := func(e RegistryEndpoint) {
		if !seen[e.Name] {
			seen[e.Name] = true
			list = append(list, e)
		}
	}
	if p.Spec.ProxyCache != nil {
		add(p.Spec.ProxyCache.Upstream)
	}
	for _, r := range p.Spec.Replication {
		add(r.Target)
	}
	return list
}

// listRegistries returns Harbor's registry endpoints by name. Only a system
// administrator may list them.
func listRegistries(ctx context.Context, api *client.HarborAPI) (map[string]*models.Registry,
	error) {
	byName := map[string]*models.Registry{}
	pageSize := int64(100)
	var seen int
	for page := int64(1); ; page++ {
		params := registry.NewListRegistriesParamsWithContext(ctx).WithPage(&page).
			WithPageSize(&pageSize)
		resp, err := api.Registry.ListRegistries(ctx, params)
		if err != nil {
			return nil, wrapHarbor(err, "listing registry endpoints")
		}
		for _, r := range resp.Payload {
			if r != nil {
				byName[r.Name] = r
			}
		}
		seen += len(resp.Payload)
		if int64(seen) >= resp.XTotalCount || len(resp.Payload) == 0 {
			return byName, nil
		}
	}
}

// planRegistries creates the project's endpoints that Harbor lacks and updates the ones
// that differ. Harbor masks access secrets in responses, so a secret is never compared:
// it is written when the endpoint is created or updated for another difference.
func planRegistries(plan *Plan, p *Project, current map[string]*models.Registry) {
	for _, e := range p.endpoints() {
		have := current[e.Name]
		if have == nil {
			plan.add(ActionCreate, "registry", "%s type=%s url=%s insecure=%t%s", e.Name,
				e.endpointType(), normalURL(e.URL), e.Insecure, credentialNote(e.Credential))
			plan.steps = append(plan.steps, putRegistryStep(e, 0))
			continue
		}
		if diffs := registryDiffs(e, have); len(diffs) > 0 {
			plan.add(ActionUpdate, "registry", "%s %s%s", e.Name, strings.Join(diffs, ", "),
				credentialNote(e.Credential))
			plan.steps = append(plan.steps, putRegistryStep(e, have.ID))
		}
	}
}

func credentialNote(c *RegistryCredential) string {
	if c == nil {
		return " (no credential)"
	}
	return fmt.Sprintf(" (access key %s, access secret set from %s)", c.AccessKey,
		c.AccessSecret)
}

func registryDiffs(want RegistryEndpoint, have *models.Registry) []string {
	var diffs []string
	if have.Type != want.endpointType() {
		diffs = append(diffs, fmt.Sprintf("type: %s -> %s", have.Type, want.endpointType()))
	}
	if normalURL(have.URL) != normalURL(want.URL) {
		diffs = append(diffs, fmt.Sprintf("url: %s -> %s", have.URL, normalURL(want.URL)))
	}
	if have.Insecure != want.Insecure {
		diffs = append(diffs, fmt.Sprintf("insecure: %t -> %t", have.Insecure, want.Insecure))
	}
	haveKey := ""
	if have.Credential != nil {
		haveKey = have.Credential.AccessKey
	}
	wantKey := ""
	if want.Credential != nil {
		wantKey = want.Credential.AccessKey
	}
	if haveKey != wantKey {
		diffs = append(diffs, fmt.Sprintf("access key: %q -> %q", haveKey, wantKey))
	}
	return diffs
}

// normalURL returns the URL without a trailing '/', as Harbor stores endpoint URLs.
func normalURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u.String()
}

// putRegistryStep creates the endpoint when id is 0 and updates it otherwise. The access
// secret is read when the step runs.
//
// NOTE: Harbor pings a new endpoint before it stores it, so creating one fails while
// the remote registry is unreachable. The Harbor double does not ping, so tests do not
// cover that failure.
func putRegistryStep(e RegistryEndpoint, id int64) step {
	return func(ctx context.Context, a *applier) error {
		key, secret, credentialType := "", "", ""
		if c := e.Credential; c != nil {
			value, err := a.cfg.secrets.ReadSecret(ctx, c.AccessSecret)
			if err != nil {
				return fmt.Errorf("reading the access secret of registry %s from %s: %w",
					e.Name, c.AccessSecret, err)
			}
			key, secret, credentialType = c.AccessKey, value, registryCredentialBasic
		}
		if id == 0 {
			return a.createRegistry(ctx, e, &models.RegistryCredential{AccessKey: key,
				AccessSecret: secret, Type: credentialType})
		}
		name, endpointURL, insecure := e.Name, normalURL(e.URL), e.Insecure
		body := &models.RegistryUpdate{Name: &name, URL: &endpointURL, Insecure: &insecure,
			AccessKey: &key, AccessSecret: &secret, CredentialType: &credentialType}
		_, err := a.api.Registry.UpdateRegistry(ctx, registry.NewUpdateRegistryParamsWithContext(ctx).
			WithID(id).WithRegistry(body))
		return wrapHarbor(err, "updating registry %s", e.Name)
	}
}

func (a *applier) createRegistry(ctx context.Context, e RegistryEndpoint,
	credential *models.RegistryCredential) error {
	body := &models.Registry{Name: e.Name, Type: e.endpointType(), URL: normalURL(e.URL),
		Insecure: e.Insecure}
	if credential.AccessKey != "" {
		body.Credential = credential
	}
	resp, err := a.api.Registry.CreateRegistry(ctx,
		registry.NewCreateRegistryParamsWithContext(ctx).WithRegistry(body))
	if err != nil {
		return wrapHarbor(err, "creating registry %s", e.Name)
	}
	// Harbor returns the new id only in the Location header, ".../registries/<id>".
	location := resp.Location
	if id, err := strconv.ParseInt(location[strings.LastIndex(location, "/")+1:], 10,
		64); err == nil {
		a.registryIDs[e.Name] = id
	}
	return nil
}

// registryID returns the id of the named endpoint, reading the list from Harbor when the
// plan did not create the endpoint itself.
func (a *applier) registryID(ctx context.Context, name string) (int64, error) {
	if id, ok := a.registryIDs[name]; ok {
		return id, nil
	}
	current, err := listRegistries(ctx, a.api)
	if err != nil {
		return 0, err
	}
	r := current[name]
	if r == nil {
		return 0, fmt.Errorf("registry endpoint %s not found in Harbor: plan and apply "+
			"again", name)
	}
	a.registryIDs[name] = r.ID
	return r.ID, nil
}
