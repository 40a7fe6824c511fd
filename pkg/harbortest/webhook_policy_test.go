package harbortest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	v2client "github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	webhookapi "github.com/goharbor/go-client/pkg/sdk/v2.0/client/webhook"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func scanPolicy(address, format string) *models.WebhookPolicy {
	return &models.WebhookPolicy{
		Name:       "ci-scan",
		Enabled:    true,
		EventTypes: []string{EventScanningCompleted, EventScanningFailed, EventScanningStopped},
		Targets: []*models.WebhookTargetObject{{
			Type: "http", Address: address, AuthHeader: "Bearer s3cr3t",
			PayloadFormat: models.PayloadFormatType(format),
		}},
	}
}

func createPolicy(client *v2client.HarborAPI, policy *models.WebhookPolicy) (string, error) {
	created, err := client.Webhook.CreateWebhookPolicyOfProject(context.Background(),
		webhookapi.NewCreateWebhookPolicyOfProjectParams().WithProjectNameOrID("demo").
			WithPolicy(policy))
	if err != nil {
		return "", err
	}
	return created.Location, nil
}

// exerciseWebhookRoutes calls each webhook policy route once for the swagger check.
func exerciseWebhookRoutes(t *testing.T, admin *v2client.HarborAPI) {
	t.Helper()
	ctx := context.Background()
	if _, err := createPolicy(admin, scanPolicy("hook.example/scan", "")); err != nil {
		t.Errorf("create webhook policy: %v", err)
	}
	list, err := admin.Webhook.ListWebhookPoliciesOfProject(ctx,
		webhookapi.NewListWebhookPoliciesOfProjectParams().WithProjectNameOrID("demo"))
	if err != nil || len(list.Payload) != 1 {
		t.Fatalf("list webhook policies: %v, %d policies, want 1", err, len(list.GetPayload()))
	}
	id := list.Payload[0].ID
	_, err = admin.Webhook.GetWebhookPolicyOfProject(ctx, webhookapi.
		NewGetWebhookPolicyOfProjectParams().WithProjectNameOrID("demo").WithWebhookPolicyID(id))
	if err != nil {
		t.Errorf("get webhook policy: %v", err)
	}
	_, err = admin.Webhook.UpdateWebhookPolicyOfProject(ctx, webhookapi.
		NewUpdateWebhookPolicyOfProjectParams().WithProjectNameOrID("demo").
		WithWebhookPolicyID(id).WithPolicy(scanPolicy("hook.example/other", "CloudEvents")))
	if err != nil {
		t.Errorf("update webhook policy: %v", err)
	}
	_, err = admin.Webhook.DeleteWebhookPolicyOfProject(ctx, webhookapi.
		NewDeleteWebhookPolicyOfProjectParams().WithProjectNameOrID("demo").
		WithWebhookPolicyID(id))
	if err != nil {
		t.Errorf("delete webhook policy: %v", err)
	}
}

func TestWebhookPolicyLifecycle(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock))
	dev := apiClient(t, srv, "dev", userSecret)
	ctx := context.Background()

	location, err := createPolicy(dev, scanPolicy("https://ci.example/hook/?token=x", ""))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if want := "/api/v2.0/projects/demo/webhook/policies/1"; location != want {
		t.Errorf("Location = %q, want %q", location, want)
	}
	got, err := dev.Webhook.GetWebhookPolicyOfProject(ctx, webhookapi.
		NewGetWebhookPolicyOfProjectParams().WithProjectNameOrID("demo").WithWebhookPolicyID(1))
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	want := scanPolicy("https://ci.example/hook/", "Default")
	want.ID, want.ProjectID, want.Creator = 1, 1, "dev"
	ignoreTimes := cmpopts.IgnoreFields(models.WebhookPolicy{}, "CreationTime", "UpdateTime")
	if diff := cmp.Diff(want, got.Payload, ignoreTimes); diff != "" {
		t.Errorf("stored policy (-want +got):\n%s", diff)
	}

	update := scanPolicy("ci.example/other", "CloudEvents")
	update.Enabled = false
	_, err = dev.Webhook.UpdateWebhookPolicyOfProject(ctx, webhookapi.
		NewUpdateWebhookPolicyOfProjectParams().WithProjectNameOrID("demo").
		WithWebhookPolicyID(1).WithPolicy(update))
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	updated, err := dev.Webhook.GetWebhookPolicyOfProject(ctx, webhookapi.
		NewGetWebhookPolicyOfProjectParams().WithProjectNameOrID("demo").WithWebhookPolicyID(1))
	if err != nil {
		t.Fatalf("get after update: %v", err)
	}
	want = scanPolicy("http://ci.example/other", "CloudEvents")
	want.Enabled, want.ID, want.ProjectID, want.Creator = false, 1, 1, "dev"
	if diff := cmp.Diff(want, updated.Payload, ignoreTimes); diff != "" {
		t.Errorf("updated policy (-want +got):\n%s", diff)
	}

	_, err = dev.Webhook.DeleteWebhookPolicyOfProject(ctx, webhookapi.
		NewDeleteWebhookPolicyOfProjectParams().WithProjectNameOrID("demo").
		WithWebhookPolicyID(1))
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = dev.Webhook.GetWebhookPolicyOfProject(ctx, webhookapi.
		NewGetWebhookPolicyOfProjectParams().WithProjectNameOrID("demo").WithWebhookPolicyID(1))
	if status := apiStatus(err); status != http.StatusNotFound {
		t.Errorf("get after delete: status = %d (error %v), want 404", status, err)
	}
}

func TestWebhookPolicyEnabledDefaultsFalse(t *testing.T) {
	srv := startServer(t)
	policy := scanPolicy("hook.example", "")
	policy.Enabled = false
	if _, err := createPolicy(apiClient(t, srv, "dev", userSecret), policy); err != nil {
		t.Fatal(err)
	}
	status, _, body := rawGet(t, srv, "/api/v2.0/projects/demo/webhook/policies/1", "dev",
		userSecret, nil)
	if status != http.StatusOK {
		t.Fatalf("status = %d, want 200", status)
	}
	if !strings.Contains(string(body), `"enabled":false`) {
		t.Errorf("body = %s, want \"enabled\":false", body)
	}
}

func TestWebhookPolicyValidation(t *testing.T) {
	srv := startServer(t)
	dev := apiClient(t, srv, "dev", userSecret)
	tests := []struct {
		name   string
		change func(*models.WebhookPolicy)
		want   string
	}{
		{name: "no event types", want: "empty event type",
			change: func(p *models.WebhookPolicy) { p.EventTypes = nil }},
		{name: "tag event", want: "unsupported event type CREATE_TAG",
			change: func(p *models.WebhookPolicy) { p.EventTypes = []string{"CREATE_TAG"} }},
		{name: "no targets", want: "empty notification target with policy ci-scan",
			change: func(p *models.WebhookPolicy) { p.Targets = nil }},
		{name: "ftp address", want: "invalid scheme: ftp",
			change: func(p *models.WebhookPolicy) { p.Targets[0].Address = "ftp://h/x" }},
		{name: "empty address", want: "empty URL",
			change: func(p *models.WebhookPolicy) { p.Targets[0].Address = " / " }},
		{name: "slack target", want: "unsupported target type slack with policy ci-scan",
			change: func(p *models.WebhookPolicy) { p.Targets[0].Type = "slack" }},
		{name: "unknown format", want: "unsupported payload format type: XML",
			change: func(p *models.WebhookPolicy) { p.Targets[0].PayloadFormat = "XML" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			policy := scanPolicy("hook.example", "")
			tc.change(policy)
			_, err := createPolicy(dev, policy)
			if status := apiStatus(err); status != http.StatusBadRequest {
				t.Fatalf("status = %d (error %v), want 400", status, err)
			}
			var badRequest *webhookapi.CreateWebhookPolicyOfProjectBadRequest
			if !errors.As(err, &badRequest) || len(badRequest.Payload.Errors) != 1 {
				t.Fatalf("error = %v, want one Harbor error", err)
			}
			if got := badRequest.Payload.Errors[0].Message; got != tc.want {
				t.Errorf("message = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWebhookAddressNormalised(t *testing.T) {
	srv := startServer(t)
	tests := []struct {
		name    string
		address string
		want    string
	}{
		{name: "query dropped", address: "https://ci.example/hook?token=abc",
			want: "https://ci.example/hook"},
		{name: "trailing slashes trimmed", address: " https://ci.example/a/b// ",
			want: "https://ci.example/a/b"},
		{name: "scheme added", address: "ci.example:8080/hook", want: "http://ci.example:8080/hook"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			policy := scanPolicy(tc.address, "")
			id, err := srv.AddWebhookPolicy("demo", *policy)
			if err != nil {
				t.Fatalf("AddWebhookPolicy() error = %v", err)
			}
			srv.mu.Lock()
			got := srv.webhooks.policies[id].Targets[0].Address
			srv.mu.Unlock()
			if got != tc.want {
				t.Errorf("address = %q, want %q", got, tc.want)
			}
			if policy.Targets[0].Address != tc.address {
				t.Errorf("caller's policy changed to %q", policy.Targets[0].Address)
			}
		})
	}
}

func TestAddWebhookPolicyRejects(t *testing.T) {
	srv := startServer(t)
	if _, err := srv.AddWebhookPolicy("missing", *scanPolicy("hook.example", "")); !errors.Is(
		err, ErrInvalid) {
		t.Errorf("unknown project: error = %v, want ErrInvalid", err)
	}
	bad := scanPolicy("gopher://hook.example", "")
	if _, err := srv.AddWebhookPolicy("demo", *bad); !errors.Is(err, ErrInvalid) ||
		!strings.Contains(err.Error(), "invalid scheme: gopher") {
		t.Errorf("bad scheme: error = %v, want ErrInvalid naming the scheme", err)
	}
}

func TestWebhookPolicyAccess(t *testing.T) {
	srv := startServer(t, WithProject(Project{Name: "other"}))
	if _, err := srv.AddWebhookPolicy("other", *scanPolicy("hook.example", "")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		username string
		password string
		path     string
		want     int
	}{
		{name: "robot may not list", username: robotLogin, password: robotSecret,
			path: "/api/v2.0/projects/demo/webhook/policies", want: http.StatusForbidden},
		{name: "anonymous may not list", path: "/api/v2.0/projects/demo/webhook/policies",
			want: http.StatusUnauthorized},
		{name: "policy of another project", username: DefaultAdminUser,
			password: DefaultAdminPassword, path: "/api/v2.0/projects/demo/webhook/policies/1",
			want: http.StatusNotFound},
		{name: "id not a number", username: DefaultAdminUser, password: DefaultAdminPassword,
			path: "/api/v2.0/projects/other/webhook/policies/one", want: http.StatusBadRequest},
		{name: "admin reads it", username: DefaultAdminUser, password: DefaultAdminPassword,
			path: "/api/v2.0/projects/other/webhook/policies/1", want: http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := rawGet(t, srv, tc.path, tc.username, tc.password, nil)
			if status != tc.want {
				t.Errorf("status = %d, want %d; body %s", status, tc.want, body)
			}
		})
	}
}
