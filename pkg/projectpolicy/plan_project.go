package projectpolicy

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// Project metadata keys that the policy sets.
const (
	metaPublic      = "public"
	metaAutoScan    = "auto_scan"
	metaPreventVul  = "prevent_vul"
	metaSeverity    = "severity"
	metaCosignOnly  = "enable_content_trust_cosign"
	metaReuseSysCVE = "reuse_sys_cve_allowlist"
)

// PlanProject compares Harbor with the project document p and returns the changes that
// Apply would make. It reads from Harbor and writes nothing. p must be valid. Secrets are
// read only where a comparison or a write needs them.
func PlanProject(ctx context.Context, api *client.HarborAPI, p *Project,
	opts ...Option) (*Plan, error) {
	plan := &Plan{Target: "project " + p.Metadata.Name, cfg: newConfig(opts),
		project: p.Metadata.Name}
	current, err := getProject(ctx, api, p.Metadata.Name)
	if err != nil {
		return nil, err
	}
	// Registry endpoints come first because a proxy-cache project and replication
	// policies refer to them by id. Only a system administrator may list them, so they
	// are read only when the project uses one.
	var registries map[string]*models.Registry
	if len(p.endpoints()) > 0 {
		if registries, err = listRegistries(ctx, api); err != nil {
			return nil, err
		}
	}
	if err := checkProxyCache(p, current, registries); err != nil {
		return nil, err
	}
	planRegistries(plan, p, registries)
	planProjectSettings(plan, p, current)
	var id int64
	if current != nil {
		id = int64(current.ProjectID)
	}
	planners := []func(context.Context, *client.HarborAPI, *Plan, *Project, int64) error{
		planImmutableRules, planRetention, planWebhooks, planRobot,
	}
	for _, planner := range planners {
		if err := planner(ctx, api, plan, p, id); err != nil {
			return nil, err
		}
	}
	if err := planReplication(ctx, api, plan, p, registries); err != nil {
		return nil, err
	}
	return plan, nil
}

// getProject returns the named project, or nil when Harbor reports 404.
func getProject(ctx context.Context, api *client.HarborAPI, name string) (*models.Project,
	error) {
	byName := true
	params := project.NewGetProjectParamsWithContext(ctx).WithProjectNameOrID(name).
		WithXIsResourceName(&byName)
	resp, err := api.Project.GetProject(ctx, params)
	if isStatus(err, http.StatusNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapHarbor(err, "getting project %s", name)
	}
	return resp.Payload, nil
}

// desiredMetadata returns the metadata keys the spec sets.
func desiredMetadata(s *ProjectSpec) map[string]string {
	m := map[string]string{}
	setBool := func(key string, v *bool) {
		if v != nil {
			m[key] = strconv.FormatBool(*v)
		}
	}
	setBool(metaPublic, s.Public)
	setBool(metaAutoScan, s.AutoScan)
	setBool(metaCosignOnly, s.CosignOnly)
	if vp := s.VulnerabilityPrevention; vp != nil {
		m[metaPreventVul] = strconv.FormatBool(vp.Enabled)
		m[metaSeverity] = vp.Severity
	}
	if s.CVEAllowlist != nil {
		m[metaReuseSysCVE] = strconv.FormatBool(s.CVEAllowlist.ReuseSystem)
	}
	return m
}

// currentMetadata returns the metadata keys of a project that the policy may set.
func currentMetadata(p *models.Project) map[string]string {
	m := map[string]string{}
	if p == nil || p.Metadata == nil {
		return m
	}
	md := p.Metadata
	if md.Public != "" {
		m[metaPublic] = md.Public
	}
	for key, v := range map[string]*string{metaAutoScan: md.AutoScan,
		metaCosignOnly: md.EnableContentTrustCosign, metaPreventVul: md.PreventVul,
		metaSeverity: md.Severity, metaReuseSysCVE: md.ReuseSysCVEAllowlist} {
		if v != nil {
			m[key] = *v
		}
	}
	return m
}

// planProjectSettings plans the project itself, its metadata and its CVE allowlist, which
// one POST or PUT /projects request writes together.
func planProjectSettings(plan *Plan, p *Project, current *models.Project) {
	name := p.Metadata.Name
	want := desiredMetadata(&p.Spec)
	have := currentMetadata(current)
	upstream := ""
	if pc := p.Spec.ProxyCache; pc != nil {
		upstream = pc.Upstream.Name
	}
	switch {
	case current == nil && upstream != "":
		plan.add(ActionCreate, "project", "%s (proxy cache of registry %s)", name, upstream)
	case current == nil:
		plan.add(ActionCreate, "project", "%s", name)
	}
	changed := map[string]string{}
	for _, key := range sortedKeys(want) {
		old, ok := have[key]
		switch {
		case !ok:
			plan.add(ActionCreate, "metadata", "%s: %s", key, want[key])
		case !sameMetadata(key, old, want[key]):
			plan.add(ActionUpdate, "metadata", "%s: %s -> %s", key, old, want[key])
		default:
			continue
		}
		changed[key] = want[key]
	}
	allowlist := planAllowlist(plan, p.Spec.CVEAllowlist, current)
	if current == nil {
		// The allowlist is written by a second request: whether Harbor keeps a
		// cve_allowlist sent with the create request is not established, and an
		// update request sets it in every version.
		plan.steps = append(plan.steps, createProjectStep(name, upstream, changed))
		if allowlist != nil {
			plan.steps = append(plan.steps, updateProjectStep(name, nil, allowlist))
		}
	} else if len(changed) > 0 || allowlist != nil {
		plan.steps = append(plan.steps, updateProjectStep(name, changed, allowlist))
	}
}

// sameMetadata compares metadata values as Harbor reads them: booleans with
// strconv.ParseBool and severities without regard to case.
func sameMetadata(key, a, b string) bool {
	if key == metaSeverity {
		return strings.EqualFold(a, b)
	}
	ab, errA := strconv.ParseBool(a)
	bb, errB := strconv.ParseBool(b)
	if errA == nil && errB == nil {
		return ab == bb
	}
	return a == b
}

// planAllowlist adds a change when the project's own allowlist differs from want, and
// returns the list to write, or nil.
func planAllowlist(plan *Plan, want *CVEAllowlist, current *models.Project) *models.CVEAllowlist {
	if want == nil || want.ReuseSystem {
		return nil
	}
	wantModel := allowlistModel(want)
	var haveItems []string
	var haveExpiry *int64
	if current != nil && current.CVEAllowlist != nil {
		haveItems = allowlistItems(current.CVEAllowlist)
		haveExpiry = current.CVEAllowlist.ExpiresAt
	}
	wantItems := allowlistItems(wantModel)
	if slices.Equal(haveItems, wantItems) && expiry(haveExpiry) == expiry(wantModel.ExpiresAt) {
		return nil
	}
	action := ActionUpdate
	if len(haveItems) == 0 && haveExpiry == nil {
		action = ActionCreate
	}
	plan.add(action, "cve allowlist", "items: [%s] -> [%s], expires: %s -> %s",
		strings.Join(haveItems, " "), strings.Join(wantItems, " "),
		expiry(haveExpiry), expiry(wantModel.ExpiresAt))
	return wantModel
}

// allowlistModel converts a valid allowlist. An empty expiresAt becomes no expiry.
func allowlistModel(a *CVEAllowlist) *models.CVEAllowlist {
	m := &models.CVEAllowlist{Items: []*models.CVEAllowlistItem{}}
	for _, id := range a.Items {
		m.Items = append(m.Items, &models.CVEAllowlistItem{CVEID: id})
	}
	if a.ExpiresAt != "" {
		t, _ := time.Parse(time.RFC3339, a.ExpiresAt) // Validate checked the format.
		unix := t.Unix()
		m.ExpiresAt = &unix
	}
	return m
}

func allowlistItems(m *models.CVEAllowlist) []string {
	var ids []string
	for _, item := range m.Items {
		if item != nil {
			ids = append(ids, item.CVEID)
		}
	}
	slices.Sort(ids)
	return ids
}

// expiry formats an allowlist expiry. Only a missing value means never: Harbor v2.13's
// CVEAllowlist.IsExpired treats any set value, 0 included, as a point in time.
func expiry(unix *int64) string {
	if unix == nil {
		return "never"
	}
	return time.Unix(*unix, 0).UTC().Format(time.RFC3339)
}

// createProjectStep creates the project, as a proxy cache of the registry endpoint named
// upstream unless upstream is empty.
func createProjectStep(name, upstream string, metadata map[string]string) step {
	return func(ctx context.Context, a *applier) error {
		req := &models.ProjectReq{ProjectName: name, Metadata: metadataModel(metadata)}
		if upstream != "" {
			id, err := a.registryID(ctx, upstream)
			if err != nil {
				return err
			}
			req.RegistryID = &id
		}
		if public, ok := metadata[metaPublic]; ok {
			b, _ := strconv.ParseBool(public)
			req.Public = &b
		}
		params := project.NewCreateProjectParamsWithContext(ctx).WithProject(req)
		_, err := a.api.Project.CreateProject(ctx, params)
		return wrapHarbor(err, "creating project %s", name)
	}
}

func updateProjectStep(name string, metadata map[string]string,
	allowlist *models.CVEAllowlist) step {
	return func(ctx context.Context, a *applier) error {
		id, err := a.id(ctx, name)
		if err != nil {
			return err
		}
		req := &models.ProjectReq{Metadata: metadataModel(metadata)}
		if allowlist != nil {
			allowlist.ProjectID = id
			req.CVEAllowlist = allowlist
		}
		params := project.NewUpdateProjectParamsWithContext(ctx).
			WithProjectNameOrID(strconv.FormatInt(id, 10)).WithProject(req)
		_, err = a.api.Project.UpdateProject(ctx, params)
		return wrapHarbor(err, "updating project %s", name)
	}
}

// metadataModel converts metadata keys into go-client's model, leaving unset keys nil so
// that Harbor keeps them.
func metadataModel(m map[string]string) *models.ProjectMetadata {
	if len(m) == 0 {
		return nil
	}
	ptr := func(key string) *string {
		if v, ok := m[key]; ok {
			return &v
		}
		return nil
	}
	return &models.ProjectMetadata{
		Public:                   m[metaPublic],
		AutoScan:                 ptr(metaAutoScan),
		EnableContentTrustCosign: ptr(metaCosignOnly),
		PreventVul:               ptr(metaPreventVul),
		Severity:                 ptr(metaSeverity),
		ReuseSysCVEAllowlist:     ptr(metaReuseSysCVE),
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
