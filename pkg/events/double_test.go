package events_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/druppie/harbor-gate/pkg/events"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

const (
	robotSecret = "robot-secret"
	hookSecret  = "Bearer hook-s3cr3t"
)

// harborEnv is a Harbor double whose project demo scans on push, with a receiver served
// on loopback and a webhook policy pointing at it.
type harborEnv struct {
	t          *testing.T
	clock      *clocktesting.FakeClock
	srv        *harbortest.Server
	receiver   *events.Receiver
	deliveries chan events.Delivery
}

func newHarborEnv(t *testing.T, format, authHeader string) *harborEnv {
	t.Helper()
	e := &harborEnv{
		t:          t,
		clock:      clocktesting.NewFakeClock(time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)),
		deliveries: make(chan events.Delivery, 16),
	}
	srv, err := harbortest.New(harbortest.WithClock(e.clock),
		harbortest.WithProject(harbortest.Project{Name: "demo",
			Metadata: map[string]string{"auto_scan": "true"}}),
		harbortest.WithRobot("demo", "ci", robotSecret),
		harbortest.WithWebhookRetryDelay(func(int) time.Duration { return 0 }))
	if err != nil {
		t.Fatalf("starting the Harbor double: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	e.srv = srv

	e.receiver = events.NewReceiver(events.WithSecret(hookSecret),
		events.WithCallback(func(_ context.Context, d events.Delivery) { e.deliveries <- d }))
	hook := httptest.NewServer(e.receiver)
	t.Cleanup(hook.Close)

	_, err = srv.AddWebhookPolicy("demo", models.WebhookPolicy{
		Name: "gate", Enabled: true,
		EventTypes: []string{harbortest.EventScanningCompleted,
			harbortest.EventScanningFailed, harbortest.EventScanningStopped},
		Targets: []*models.WebhookTargetObject{{Type: "http", Address: hook.URL + "/harbor",
			AuthHeader: authHeader, PayloadFormat: models.PayloadFormatType(format)}},
	})
	if err != nil {
		t.Fatalf("adding the webhook policy: %v", err)
	}
	return e
}

func (e *harborEnv) remoteOptions() []remote.Option {
	return []remote.Option{
		remote.WithAuth(&authn.Basic{Username: harbortest.RobotName("demo", "ci"),
			Password: robotSecret}),
		remote.WithTransport(e.srv.Client().Transport),
	}
}

func (e *harborEnv) ref(repo string) name.Reference {
	e.t.Helper()
	ref, err := name.ParseReference(e.srv.Host()+"/demo/"+repo, name.Insecure)
	if err != nil {
		e.t.Fatal(err)
	}
	return ref
}

// finishScans lets the auto-scans of earlier pushes end, which fires their webhooks.
func (e *harborEnv) finishScans() {
	e.srv.WaitForAutoScans()
	e.clock.Step(harbortest.DefaultPending + harbortest.DefaultRunning)
}

func (e *harborEnv) await() events.Delivery {
	e.t.Helper()
	guard := time.NewTimer(time.Minute)
	defer guard.Stop()
	select {
	case d := <-e.deliveries:
		return d
	case <-guard.C:
		e.t.Fatal("no delivery reached the callback within a minute")
		return events.Delivery{}
	}
}

func digestOf(t *testing.T, item interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	digest, err := item.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return digest.String()
}

func TestDoubleWebhookReachesReceiver(t *testing.T) {
	for _, format := range []string{events.FormatDefault, events.FormatCloudEvents} {
		t.Run(format, func(t *testing.T) {
			e := newHarborEnv(t, format, hookSecret)
			img, err := random.Image(256, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(e.ref("app:v1"), img, e.remoteOptions()...); err != nil {
				t.Fatalf("pushing: %v", err)
			}
			e.finishScans()

			got := e.await()
			want := events.Delivery{
				EventType: events.EventScanningCompleted, Format: format,
				Repository: "demo/app", Digest: digestOf(t, img), Tag: "v1",
				ScanStatus: "Success", Operator: harbortest.RobotName("demo", "ci"),
				OccurredAt: e.clock.Now().UTC().Truncate(time.Second),
			}
			ignoreID := func(d events.Delivery) events.Delivery { d.EventID = ""; return d }
			if diff := cmp.Diff(want, ignoreID(got)); diff != "" {
				t.Errorf("delivery (-want +got):\n%s", diff)
			}
			if (got.EventID != "") != (format == events.FormatCloudEvents) {
				t.Errorf("EventID = %q in format %s", got.EventID, format)
			}
		})
	}
}

func TestDoubleIndexWakesIndexRun(t *testing.T) {
	for _, format := range []string{events.FormatDefault, events.FormatCloudEvents} {
		t.Run(format, func(t *testing.T) {
			e := newHarborEnv(t, format, hookSecret)
			var adds []mutate.IndexAddendum
			var children []string
			for _, arch := range []string{"amd64", "arm64"} {
				img, err := random.Image(128, 1)
				if err != nil {
					t.Fatal(err)
				}
				children = append(children, digestOf(t, img))
				adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
					Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
			}
			index := mutate.AppendManifests(mutate.IndexMediaType(empty.Index,
				types.OCIImageIndex), adds...)
			if err := remote.WriteIndex(e.ref("multi:v1"), index,
				e.remoteOptions()...); err != nil {
				t.Fatalf("pushing index: %v", err)
			}
			var waiters events.Waiters
			waiters.Register("team-a/gate-run", digestOf(t, index), children...)
			e.finishScans()

			var digests []string
			for range children {
				d := e.await()
				digests = append(digests, d.Digest)
				if diff := cmp.Diff([]string{"team-a/gate-run"}, waiters.Lookup(d.Digest)); diff != "" {
					t.Errorf("runs woken by %s (-want +got):\n%s", d.Digest, diff)
				}
			}
			slices.Sort(digests)
			slices.Sort(children)
			if diff := cmp.Diff(children, digests); diff != "" {
				t.Errorf("delivered digests (-want +got):\n%s", diff)
			}
			e.srv.WaitForWebhooks()
			if got := e.srv.Stats().WebhookDeliveries; got != len(children) {
				t.Errorf("WebhookDeliveries = %d, want one per child, %d", got, len(children))
			}
		})
	}
}

func TestDoubleWrongSecretIsRejected(t *testing.T) {
	e := newHarborEnv(t, events.FormatDefault, "Bearer stale-secret")
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(e.ref("app:v1"), img, e.remoteOptions()...); err != nil {
		t.Fatalf("pushing: %v", err)
	}
	e.finishScans()
	// The scan's end fires the webhook on a goroutine of the double. Any request to the
	// double starts the deliveries of ended scans too, under the same lock, so after it
	// WaitForWebhooks covers them.
	resp, err := e.srv.Client().Get(e.srv.URL() + "/api/v2.0/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e.srv.WaitForWebhooks()

	if got := e.srv.Stats().WebhookFailures; got != 1 {
		t.Errorf("WebhookFailures = %d, want 1", got)
	}
	if got := e.receiver.Stats().Rejected[events.RejectUnauthorized]; got != 3 {
		t.Errorf("Rejected[unauthorized] = %d, want 3 attempts", got)
	}
	if got := len(e.deliveries); got != 0 {
		t.Errorf("callback calls = %d, want 0", got)
	}
}
