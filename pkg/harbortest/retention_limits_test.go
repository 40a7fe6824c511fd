package harbortest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-cmp/cmp"
)

func TestRetentionCreateChecksCronAndDays(t *testing.T) {
	withCron := func(cron string) *models.RetentionPolicy {
		p := nightlyPolicy()
		p.Trigger.Settings = map[string]any{"cron": cron}
		return p
	}
	withDays := func(days int) *models.RetentionPolicy {
		p := nightlyPolicy()
		p.Rules[0].Params = map[string]any{"nDaysSinceLastPush": days}
		return p
	}
	tests := []struct {
		name    string
		policy  *models.RetentionPolicy
		status  int
		message string
	}{
		{"hour 25", withCron("0 0 25 * * *"), 400, "invalid cron"},
		{"minute 61", withCron("0 61 * * * *"), 400, "invalid cron"},
		{"words", withCron("0 a b c d e"), 400, "invalid cron"},
		{"zero step", withCron("0 */0 * * * *"), 400, "invalid cron"},
		{"weekday 8", withCron("0 0 3 * * 8"), 400, "invalid cron"},
		{"days too large", withDays(20190905), 400, "nDaysSinceLastPush is too large"},
		{"weekday name", withCron("0 0 3 ? * MON"), 201, ""},
		{"largest days", withDays(20190904), 201, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t)
			status, body := rawJSON(t, srv, http.MethodPost, "/api/v2.0/retentions",
				DefaultAdminUser, DefaultAdminPassword, tc.policy)
			if status != tc.status {
				t.Errorf("status = %d, want %d (body %s)", status, tc.status, body)
			}
			if !strings.Contains(string(body), tc.message) {
				t.Errorf("body %s does not contain %q", body, tc.message)
			}
		})
	}
}

// TestRetentionDaysOverflow checks that the double computes the nDaysSinceLastPush
// cut-off as Harbor does: above 106751 days the duration overflows, and a nightly pushed
// a moment ago is deleted.
func TestRetentionDaysOverflow(t *testing.T) {
	tests := []struct {
		name    string
		days    int
		deleted bool
	}{
		{"largest safe value", 106751, false},
		{"one day more", 106752, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			srv := startServer(t, WithClock(clock))
			nightly := digestOf(t, pushImage(t, srv, "demo/app:nightly-1", robotAuth()))
			clock.Advance(time.Hour)
			policy := nightlyPolicy()
			policy.Rules[0].Params = map[string]any{"nDaysSinceLastPush": tc.days}
			createRetention(t, apiClient(t, srv, DefaultAdminUser, DefaultAdminPassword),
				policy)
			got, err := srv.RunRetention("demo", true)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			if tc.deleted {
				want = []string{"demo/app@" + nightly}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("deleted artifacts (-want +got):\n%s", diff)
			}
		})
	}
}
