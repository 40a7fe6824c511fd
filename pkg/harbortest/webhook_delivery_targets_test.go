package harbortest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWebhookSkipsNonLoopbackTarget(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock))
	const address = "https://core.druppie.local/harbor"
	id, err := srv.AddWebhookPolicy("demo", *scanPolicy(address, ""))
	if err != nil {
		t.Fatal(err)
	}
	pushImage(t, srv, "demo/app:v1", robotAuth())
	scanAndAnnounce(t, srv, clock, "app", "v1")

	jobs := srv.WebhookJobs()
	if len(jobs) != 1 {
		t.Fatalf("WebhookJobs() has %d jobs, want 1: %+v", len(jobs), jobs)
	}
	message := jobs[0].StatusMessage
	jobs[0].StatusMessage = ""
	want := WebhookJob{PolicyID: id, EventType: EventScanningCompleted, Address: address,
		Status: StatusError}
	if diff := cmp.Diff(want, jobs[0]); diff != "" {
		t.Errorf("job (-want +got):\n%s", diff)
	}
	for _, part := range []string{`not delivered to ` + address, `host "core.druppie.local"`,
		"only to loopback addresses", "WithAnyWebhookTarget"} {
		if !strings.Contains(message, part) {
			t.Errorf("StatusMessage = %q, want it to contain %q", message, part)
		}
	}
	stats := srv.Stats()
	if stats.WebhookAttempts != 0 || stats.WebhookFailures != 1 {
		t.Errorf("attempts = %d, failures = %d, want 0 and 1", stats.WebhookAttempts,
			stats.WebhookFailures)
	}
}

func TestWebhookRedirectStaysOnLoopback(t *testing.T) {
	// 192.0.2.1 is in TEST-NET-1, reserved for documentation (RFC 5737), so no host uses
	// it even if the loopback check failed.
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter,
		r *http.Request) {
		http.Redirect(w, r, "http://192.0.2.1:9/hook", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock),
		WithWebhookRetryDelay(func(int) time.Duration { return 0 }))
	if _, err := srv.AddWebhookPolicy("demo", *scanPolicy(redirect.URL+"/hook", "")); err != nil {
		t.Fatal(err)
	}
	pushImage(t, srv, "demo/app:v1", robotAuth())
	scanAndAnnounce(t, srv, clock, "app", "v1")

	jobs := srv.WebhookJobs()
	if len(jobs) != 1 {
		t.Fatalf("WebhookJobs() has %d jobs, want 1: %+v", len(jobs), jobs)
	}
	if jobs[0].Status != StatusError || jobs[0].Attempts != webhookMaxAttempts {
		t.Errorf("status %s after %d attempts, want Error after %d", jobs[0].Status,
			jobs[0].Attempts, webhookMaxAttempts)
	}
	want := "dialing 192.0.2.1:9: " + errNotLoopback.Error()
	if !strings.Contains(jobs[0].StatusMessage, want) {
		t.Errorf("StatusMessage = %q, want it to contain %q", jobs[0].StatusMessage, want)
	}
}

func TestWebhookDeliversToLocalhost(t *testing.T) {
	clock := newFakeClock()
	srv := startServer(t, WithClock(clock))
	hook := newHookRecorder(t)
	address := strings.Replace(hook.url, "127.0.0.1", "localhost", 1)
	if _, err := srv.AddWebhookPolicy("demo", *scanPolicy(address, "")); err != nil {
		t.Fatal(err)
	}
	pushImage(t, srv, "demo/app:v1", robotAuth())
	scanAndAnnounce(t, srv, clock, "app", "v1")

	if n := len(hook.received()); n != 1 {
		t.Errorf("target received %d webhooks, want 1", n)
	}
	jobs := srv.WebhookJobs()
	if len(jobs) != 1 || jobs[0].Status != StatusSuccess || jobs[0].Attempts != 1 {
		t.Errorf("WebhookJobs() = %+v, want one job with status Success after 1 attempt",
			jobs)
	}
}

func TestWebhookTargetCheck(t *testing.T) {
	tests := []struct {
		name      string
		address   string
		anyTarget bool
		wantErr   bool
	}{
		{name: "IPv4 loopback", address: "http://127.0.0.1:8080/hook"},
		{name: "other IPv4 loopback", address: "http://127.3.2.1/hook"},
		{name: "IPv6 loopback", address: "https://[::1]:8443/hook"},
		{name: "localhost", address: "https://LocalHost/hook"},
		{name: "name", address: "https://core.druppie.local/harbor", wantErr: true},
		{name: "localhost subdomain", address: "https://a.localhost/", wantErr: true},
		{name: "private address", address: "http://10.0.0.1/hook", wantErr: true},
		{name: "unspecified address", address: "http://0.0.0.0:80/hook", wantErr: true},
		{name: "mapped IPv4 loopback", address: "http://[::ffff:127.0.0.1]/hook"},
		{name: "name with the option", address: "https://core.druppie.local/harbor",
			anyTarget: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWebhookSender(harborRetryDelay, tc.anyTarget)
			defer w.cancel()
			err := w.checkTarget(tc.address)
			if (err != nil) != tc.wantErr {
				t.Errorf("checkTarget(%q) error = %v, want error: %t", tc.address, err,
					tc.wantErr)
			}
		})
	}
}

func TestWebhookTransportByOption(t *testing.T) {
	restricted := newWebhookSender(harborRetryDelay, false)
	defer restricted.cancel()
	for name, client := range map[string]*http.Client{"verifying": restricted.client,
		"skip_cert_verify": restricted.insecure} {
		transport := client.Transport.(*http.Transport)
		if transport.Proxy != nil {
			t.Errorf("%s client of a loopback-only sender uses a proxy, want none", name)
		}
		if transport.DialContext == nil {
			t.Errorf("%s client of a loopback-only sender has no loopback dialer", name)
		}
	}
	open := newWebhookSender(harborRetryDelay, true)
	defer open.cancel()
	if open.client.Transport.(*http.Transport).Proxy == nil {
		t.Errorf("sender with WithAnyWebhookTarget ignores the environment's proxy, " +
			"want http.ProxyFromEnvironment as Harbor")
	}
}
