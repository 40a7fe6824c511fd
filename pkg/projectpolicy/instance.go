package projectpolicy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/configure"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/system_cve_allowlist"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// Defaults of the OIDC settings.
const (
	DefaultOIDCName  = "keycloak"
	DefaultOIDCScope = "openid,profile,email,offline_access"
	authModeOIDC     = "oidc_auth"
)

// PlanInstance compares Harbor's configuration with the instance document and returns the
// changes that Apply would make. It needs a system administrator's credentials.
//
// Harbor never returns the OIDC client secret, so a changed secret alone shows no change.
// Apply sends the secret whenever it writes the OIDC settings.
func PlanInstance(ctx context.Context, api *client.HarborAPI, in *Instance,
	opts ...Option) (*Plan, error) {
	plan := &Plan{Target: "instance", cfg: newConfig(opts)}
	if in.Spec.OIDC != nil {
		resp, err := api.Configure.GetConfigurations(ctx,
			configure.NewGetConfigurationsParamsWithContext(ctx))
		if err != nil {
			return nil, wrapHarbor(err, "getting Harbor's configuration")
		}
		planOIDC(plan, in.Spec.OIDC, resp.Payload)
	}
	if want := in.Spec.SystemCVEAllowlist; want != nil {
		resp, err := api.SystemCVEAllowlist.GetSystemCVEAllowlist(ctx,
			system_cve_allowlist.NewGetSystemCVEAllowlistParamsWithContext(ctx))
		if err != nil {
			return nil, wrapHarbor(err, "getting the system CVE allowlist")
		}
		planSystemAllowlist(plan, want, resp.Payload)
	}
	return plan, nil
}

// oidcSetting is one configuration key with its wanted and current value as text.
type oidcSetting struct{ key, want, have string }

func oidcSettings(o *OIDC, cfg *models.ConfigurationsResponse) []oidcSetting {
	str := func(item *models.StringConfigItem) string {
		if item == nil {
			return ""
		}
		return item.Value
	}
	boolean := func(item *models.BoolConfigItem) string {
		if item == nil {
			return ""
		}
		return fmt.Sprint(item.Value)
	}
	verify := o.VerifyCert == nil || *o.VerifyCert
	return []oidcSetting{
		{"auth_mode", authModeOIDC, str(cfg.AuthMode)},
		{"oidc_name", o.name(), str(cfg.OIDCName)},
		{"oidc_endpoint", o.Endpoint, str(cfg.OIDCEndpoint)},
		{"oidc_client_id", o.ClientID, str(cfg.OIDCClientID)},
		{"oidc_groups_claim", o.GroupsClaim, str(cfg.OIDCGroupsClaim)},
		{"oidc_admin_group", o.AdminGroup, str(cfg.OIDCAdminGroup)},
		{"oidc_scope", o.scope(), str(cfg.OIDCScope)},
		{"oidc_verify_cert", fmt.Sprint(verify), boolean(cfg.OIDCVerifyCert)},
		{"oidc_auto_onboard", fmt.Sprint(o.AutoOnboard), boolean(cfg.OIDCAutoOnboard)},
		{"oidc_user_claim", o.UserClaim, str(cfg.OIDCUserClaim)},
	}
}

func (o *OIDC) name() string {
	if o.Name == "" {
		return DefaultOIDCName
	}
	return o.Name
}

func (o *OIDC) scope() string {
	if o.Scope == "" {
		return DefaultOIDCScope
	}
	return o.Scope
}

func planOIDC(plan *Plan, o *OIDC, cfg *models.ConfigurationsResponse) {
	changed := false
	for _, s := range oidcSettings(o, cfg) {
		if s.want == s.have {
			continue
		}
		changed = true
		if s.have == "" {
			plan.add(ActionCreate, "configuration", "%s: %s", s.key, s.want)
		} else {
			plan.add(ActionUpdate, "configuration", "%s: %s -> %s", s.key, s.have, s.want)
		}
	}
	if changed {
		plan.add(ActionUpdate, "configuration", "oidc_client_secret (set from %s)",
			o.ClientSecret)
		plan.steps = append(plan.steps, oidcStep(o))
	}
}

// oidcStep writes every OIDC setting and the client secret in one PUT /configurations.
//
// NOTE: Harbor changes auth_mode only while no user other than admin exists; it rejects
// the request otherwise, and Apply then returns that error.
func oidcStep(o *OIDC) step {
	return func(ctx context.Context, a *applier) error {
		secret, err := a.cfg.secrets.ReadSecret(ctx, o.ClientSecret)
		if err != nil {
			return fmt.Errorf("reading the OIDC client secret from %s: %w", o.ClientSecret,
				err)
		}
		mode, name, scope := authModeOIDC, o.name(), o.scope()
		verify := o.VerifyCert == nil || *o.VerifyCert
		body := &models.Configurations{
			AuthMode: &mode, OIDCName: &name, OIDCEndpoint: &o.Endpoint,
			OIDCClientID: &o.ClientID, OIDCClientSecret: &secret,
			OIDCGroupsClaim: &o.GroupsClaim, OIDCAdminGroup: &o.AdminGroup,
			OIDCScope: &scope, OIDCVerifyCert: &verify, OIDCAutoOnboard: &o.AutoOnboard,
			OIDCUserClaim: &o.UserClaim,
		}
		_, err = a.api.Configure.UpdateConfigurations(ctx,
			configure.NewUpdateConfigurationsParamsWithContext(ctx).WithConfigurations(body))
		return wrapHarbor(err, "updating Harbor's OIDC configuration")
	}
}

func planSystemAllowlist(plan *Plan, want *CVEAllowlist, have *models.CVEAllowlist) {
	model := allowlistModel(want)
	var haveItems []string
	var haveExpiry *int64
	if have != nil {
		haveItems, haveExpiry = allowlistItems(have), have.ExpiresAt
	}
	wantItems := allowlistItems(model)
	if slices.Equal(haveItems, wantItems) && expiry(haveExpiry) == expiry(model.ExpiresAt) {
		return
	}
	plan.add(ActionUpdate, "system cve allowlist", "items: [%s] -> [%s], expires: %s -> %s",
		strings.Join(haveItems, " "), strings.Join(wantItems, " "), expiry(haveExpiry),
		expiry(model.ExpiresAt))
	plan.steps = append(plan.steps, func(ctx context.Context, a *applier) error {
		_, err := a.api.SystemCVEAllowlist.PutSystemCVEAllowlist(ctx,
			system_cve_allowlist.NewPutSystemCVEAllowlistParamsWithContext(ctx).
				WithAllowlist(model))
		return wrapHarbor(err, "updating the system CVE allowlist")
	})
}
