package harbortest

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/configure"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/systeminfo"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

func oidcConfiguration() *models.Configurations {
	text := func(s string) *string { return &s }
	yes := true
	return &models.Configurations{
		AuthMode: text("oidc_auth"), OIDCName: text("keycloak"),
		OIDCEndpoint: text("https://sso.example.test/realms/ci"), OIDCClientID: text("harbor"),
		OIDCClientSecret: text("oidc-client-secret"), OIDCGroupsClaim: text("groups"),
		OIDCAdminGroup: text("harbor-admins"), OIDCScope: text("openid,profile,groups"),
		OIDCVerifyCert: &yes, OIDCAutoOnboard: &yes, OIDCUserClaim: text("preferred_username"),
	}
}

func TestConfigurationsRoundTrip(t *testing.T) {
	srv := startServer(t)
	admin := apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword)
	ctx := context.Background()
	if _, err := admin.Configure.UpdateConfigurations(ctx, configure.
		NewUpdateConfigurationsParams().WithConfigurations(oidcConfiguration())); err != nil {
		t.Fatalf("UpdateConfigurations() error = %v", err)
	}
	got, err := admin.Configure.GetConfigurations(ctx, configure.NewGetConfigurationsParams())
	if err != nil {
		t.Fatalf("GetConfigurations() error = %v", err)
	}
	c := got.Payload
	for name, pair := range map[string][2]string{
		"auth_mode":         {c.AuthMode.Value, "oidc_auth"},
		"oidc_name":         {c.OIDCName.Value, "keycloak"},
		"oidc_endpoint":     {c.OIDCEndpoint.Value, "https://sso.example.test/realms/ci"},
		"oidc_client_id":    {c.OIDCClientID.Value, "harbor"},
		"oidc_groups_claim": {c.OIDCGroupsClaim.Value, "groups"},
		"oidc_admin_group":  {c.OIDCAdminGroup.Value, "harbor-admins"},
		"oidc_scope":        {c.OIDCScope.Value, "openid,profile,groups"},
		"oidc_user_claim":   {c.OIDCUserClaim.Value, "preferred_username"},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s = %q, want %q", name, pair[0], pair[1])
		}
	}
	if !c.OIDCVerifyCert.Value || !c.OIDCAutoOnboard.Value {
		t.Errorf("oidc_verify_cert %v oidc_auto_onboard %v, want both true",
			c.OIDCVerifyCert.Value, c.OIDCAutoOnboard.Value)
	}
	status, _, body := rawGet(t, srv, "/api/v2.0/configurations", DefaultAdminUser,
		DefaultAdminPassword, nil)
	if status != http.StatusOK || strings.Contains(string(body), "oidc-client-secret") ||
		strings.Contains(string(body), "oidc_client_secret") {
		t.Errorf("GET /configurations: status %d, body shows the client secret: %s",
			status, body)
	}
	if secret, ok := srv.ConfigValue("oidc_client_secret"); !ok ||
		secret != "oidc-client-secret" {
		t.Errorf("ConfigValue(oidc_client_secret) = %q, %v, want the stored secret", secret, ok)
	}
	info, err := admin.Systeminfo.GetSystemInfo(ctx, systeminfo.NewGetSystemInfoParams())
	if err != nil {
		t.Fatal(err)
	}
	if *info.Payload.AuthMode != "oidc_auth" {
		t.Errorf("systeminfo auth_mode = %q, want oidc_auth", *info.Payload.AuthMode)
	}
}

func TestConfigurationsRejects(t *testing.T) {
	srv := startServer(t)
	tests := []struct {
		name, user, pass string
		body             map[string]any
		status           int
		message          string
	}{
		{"unknown auth mode", DefaultAdminUser, DefaultAdminPassword,
			map[string]any{"auth_mode": "saml_auth"}, 400, `invalid auth_mode \"saml_auth\"`},
		{"unknown key", DefaultAdminUser, DefaultAdminPassword,
			map[string]any{"colour": "blue"}, 400, `invalid configuration key \"colour\"`},
		{"wrong type", DefaultAdminUser, DefaultAdminPassword,
			map[string]any{"oidc_verify_cert": "yes"}, 400, "oidc_verify_cert"},
		{"project administrator", "dev", userSecret,
			map[string]any{"auth_mode": "db_auth"}, 403, "forbidden"},
		{"anonymous", "", "", map[string]any{"auth_mode": "db_auth"}, 401, "unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawJSON(t, srv, http.MethodPut, "/api/v2.0/configurations",
				tc.user, tc.pass, tc.body)
			if status != tc.status {
				t.Errorf("status = %d, want %d", status, tc.status)
			}
			if !strings.Contains(string(body), tc.message) {
				t.Errorf("body %s does not contain %q", body, tc.message)
			}
		})
	}
	if mode, _ := srv.ConfigValue("auth_mode"); mode != "db_auth" {
		t.Errorf("auth_mode after rejected updates = %q, want db_auth", mode)
	}
	status, _, _ := rawGet(t, srv, "/api/v2.0/configurations", robotLogin, robotSecret, nil)
	if status != http.StatusForbidden {
		t.Errorf("GET as robot: status %d, want 403", status)
	}
}
