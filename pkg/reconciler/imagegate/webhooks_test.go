package imagegate

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
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
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	fakekube "k8s.io/client-go/kubernetes/fake"

	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// webhookSecret is the Authorization value that the Harbor double's policy sends.
const webhookSecret = "Bearer s3cr3t-hook-Tk40"

// addScanPolicy subscribes the controller's receiver to the test project's scan events.
func (e *env) addScanPolicy(format, authHeader string) {
	e.t.Helper()
	_, err := e.srv.AddWebhookPolicy(project, models.WebhookPolicy{
		Name:    "harbor-gate",
		Enabled: true,
		EventTypes: []string{harbortest.EventScanningCompleted,
			harbortest.EventScanningFailed, harbortest.EventScanningStopped},
		Targets: []*models.WebhookTargetObject{{
			Type: "http", Address: e.webhookURL, AuthHeader: authHeader,
			PayloadFormat: models.PayloadFormatType(format),
		}},
	})
	if err != nil {
		e.t.Fatalf("adding the webhook policy: %v", err)
	}
}

// driveUntilRunning reconciles, stepping the fake clock by each requeue delay, until a
// poll has read the scan as Running. It leaves the clock at the time of that poll.
func (e *env) driveUntilRunning() *v1beta1.CustomRun {
	e.t.Helper()
	for range 200 {
		delay, err := e.reconcile()
		if err != nil {
			e.t.Fatalf("reconcile failed: %v", err)
		}
		run := e.get()
		if extraFields(e.t, run).State.Scan.LastStatus == harbor.ScanRunning {
			return run
		}
		if run.IsDone() {
			e.t.Fatalf("the run finished before its scan was read as Running: %+v",
				succeeded(run))
		}
		e.clock.Step(delay)
	}
	e.t.Fatal("no poll read the scan as Running in 200 reconciles")
	return nil
}

// awaitEnqueued returns the next key that reaches the controller's work queue.
func (e *env) awaitEnqueued() types.NamespacedName {
	e.t.Helper()
	got := make(chan any, 1)
	go func() {
		item, _ := e.impl.WorkQueue().Get()
		got <- item
	}()
	select {
	case item := <-got:
		e.impl.WorkQueue().Done(item)
		key, ok := item.(types.NamespacedName)
		if !ok {
			e.t.Fatalf("work queue item %v is a %T, want a types.NamespacedName", item, item)
		}
		return key
	case <-time.After(10 * time.Second):
		e.t.Fatal("no key reached the work queue within 10s")
	}
	return types.NamespacedName{}
}

// waitLeft returns how long the stored run waits before its next step.
func (e *env) waitLeft(run *v1beta1.CustomRun) time.Duration {
	return extraFields(e.t, run).NextStepAfter.Sub(e.clock.Now())
}

func TestWebhookWakesWaitingRun(t *testing.T) {
	for _, format := range []string{harbortest.PayloadFormatDefault,
		harbortest.PayloadFormatCloudEvents} {
		t.Run(format, func(t *testing.T) {
			e := newEnv(t, withWebhooks(webhookSecret))
			e.addScanPolicy(format, webhookSecret)
			e.create(refRun(e.params("slow-app")...))
			running := e.driveUntilRunning()
			if wait := e.waitLeft(running); wait < time.Minute {
				t.Fatalf("wait after a Running poll = %s, want the 1m fallback", wait)
			}

			// The scan ends 20s after it started, well before the fallback poll.
			e.clock.Step(20 * time.Second)
			want := types.NamespacedName{Namespace: namespace, Name: runName}
			if diff := cmp.Diff(want, e.awaitEnqueued()); diff != "" {
				t.Errorf("enqueued key (-want +got):\n%s", diff)
			}
			if wait := e.waitLeft(e.get()); wait <= 0 {
				t.Fatalf("wait left = %s, want the next poll still ahead", wait)
			}
			if _, err := e.reconcile(); err != nil {
				t.Fatalf("reconcile after the webhook: %v", err)
			}
			got := e.get()
			if reason := succeeded(got).Reason; reason != ReasonPassed {
				t.Errorf("reason after the webhook = %q, want %q", reason, ReasonPassed)
			}
			e.srv.WaitForWebhooks()
			if n := e.srv.Stats().WebhookDeliveries; n != 1 {
				t.Errorf("webhook deliveries = %d, want 1", n)
			}
			if n := e.r.webhooks.waiters.Len(); n != 0 {
				t.Errorf("%d runs still wait for webhooks after the verdict, want 0", n)
			}
		})
	}
}

// pushIndexSource pushes an index of two random platform images to staging/multi:v1 and
// returns its reference and the children's digests.
func (e *env) pushIndexSource() (string, []string) {
	e.t.Helper()
	var adds []mutate.IndexAddendum
	var children []string
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(256, 1)
		if err != nil {
			e.t.Fatal(err)
		}
		digest, err := img.Digest()
		if err != nil {
			e.t.Fatal(err)
		}
		children = append(children, digest.String())
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	index := mutate.AppendManifests(mutate.IndexMediaType(empty.Index,
		ggcrtypes.OCIImageIndex), adds...)
	source := e.srv.Host() + "/staging/multi:v1"
	ref, err := name.ParseReference(source)
	if err != nil {
		e.t.Fatal(err)
	}
	admin := &authn.Basic{Username: harbortest.DefaultAdminUser,
		Password: harbortest.DefaultAdminPassword}
	if err := remote.WriteIndex(ref, index, remote.WithAuth(admin)); err != nil {
		e.t.Fatalf("pushing the index: %v", err)
	}
	return source, children
}

func TestWebhookIndexChildWakesIndexRun(t *testing.T) {
	e := newEnv(t, withWebhooks(webhookSecret))
	e.addScanPolicy(harbortest.PayloadFormatDefault, webhookSecret)
	source, children := e.pushIndexSource()
	e.create(refRun(param(ParamSource, source), param(ParamTarget, e.target("slow-multi"))))
	running := e.driveUntilRunning()

	fields := extraFields(t, running)
	wantDigests := append([]string{fields.State.Digest}, children...)
	if diff := cmp.Diff(wantDigests, fields.ScanDigests); diff != "" {
		t.Errorf("scan digests (-want +got):\n%s", diff)
	}
	for _, child := range children {
		if diff := cmp.Diff([]string{namespace + "/" + runName},
			e.r.webhooks.waiters.Lookup(child)); diff != "" {
			t.Errorf("runs waiting for child %s (-want +got):\n%s", child, diff)
		}
	}
	e.clock.Step(20 * time.Second)
	want := types.NamespacedName{Namespace: namespace, Name: runName}
	if diff := cmp.Diff(want, e.awaitEnqueued()); diff != "" {
		t.Errorf("enqueued key (-want +got):\n%s", diff)
	}
	if _, err := e.reconcile(); err != nil {
		t.Fatalf("reconcile after the webhook: %v", err)
	}
	if reason := succeeded(e.get()).Reason; reason != ReasonPassed {
		t.Errorf("reason after the webhook = %q, want %q", reason, ReasonPassed)
	}
}

// scanEventBody returns a Default payload of a SCANNING_COMPLETED event for digest.
func scanEventBody(t *testing.T, digest string) []byte {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"type": harbortest.EventScanningCompleted, "occur_at": 1735725600,
		"operator": "robot$team+ci",
		"event_data": map[string]any{
			"resources":  []map[string]any{{"digest": digest, "tag": "build-1"}},
			"repository": map[string]any{"repo_full_name": project + "/slow-app"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestWebhookForgedDeliveryChangesNothing(t *testing.T) {
	tests := []struct {
		name       string
		auth       string
		digest     func(e *env) string
		wantStatus int
	}{{
		name:       "missing authorization",
		digest:     func(e *env) string { return extraFields(e.t, e.get()).State.Digest },
		wantStatus: http.StatusUnauthorized,
	}, {
		name:       "wrong authorization",
		auth:       "Bearer guessed-Zz99",
		digest:     func(e *env) string { return extraFields(e.t, e.get()).State.Digest },
		wantStatus: http.StatusUnauthorized,
	}, {
		name: "unknown digest",
		auth: webhookSecret,
		digest: func(*env) string {
			return "sha256:" + string(bytes.Repeat([]byte("ab"), 32))
		},
		wantStatus: http.StatusOK,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withWebhooks(webhookSecret))
			e.create(refRun(e.params("slow-app")...))
			before := e.driveUntilRunning()

			req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.webhookURL,
				bytes.NewReader(scanEventBody(t, tc.digest(e))))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("posting the delivery: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if n := e.impl.WorkQueue().Len(); n != 0 {
				t.Errorf("work queue holds %d keys, want 0", n)
			}
			if delay, err := e.reconcile(); err != nil || delay <= 0 {
				t.Errorf("reconcile = delay %s, error %v; want a requeue", delay, err)
			}
			if diff := cmp.Diff(before.Status, e.get().Status); diff != "" {
				t.Errorf("status changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWebhookFallbackPollInterval(t *testing.T) {
	tests := []struct {
		name     string
		webhooks envOption
		defaults map[string]string
		wantMin  time.Duration
		wantMax  time.Duration
	}{{
		name:    "polling only",
		wantMin: time.Second,
		wantMax: 5 * time.Second,
	}, {
		name:     "listener without the Secret polls",
		webhooks: withWebhooks(""),
		wantMin:  time.Second,
		wantMax:  5 * time.Second,
	}, {
		name:     "webhooks use the configured fallback",
		webhooks: withWebhooks(webhookSecret),
		defaults: map[string]string{"webhook-fallback-poll-interval": "45s"},
		wantMin:  45 * time.Second,
		wantMax:  45 * time.Second,
	}, {
		name:     "scan timeout ends the fallback wait",
		webhooks: withWebhooks(webhookSecret),
		defaults: map[string]string{"scan-timeout": "15s"},
		wantMin:  5 * time.Second,
		wantMax:  15 * time.Second,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defaults := map[string]string{
				"grace-period": "2s", "poll-interval": "1s", "max-poll-interval": "5s",
			}
			for key, value := range tc.defaults {
				defaults[key] = value
			}
			opts := []envOption{withDefaults(defaults)}
			if tc.webhooks != nil {
				opts = append(opts, tc.webhooks)
			}
			e := newEnv(t, opts...)
			e.create(refRun(e.params("slow-app")...))
			running := e.driveUntilRunning()
			wait := e.waitLeft(running)
			if wait < tc.wantMin || wait > tc.wantMax {
				t.Errorf("wait after a Running poll = %s, want %s to %s", wait, tc.wantMin,
					tc.wantMax)
			}
		})
	}
}

func TestWebhookGraceWaitKeepsGateDelay(t *testing.T) {
	e := newEnv(t, withWebhooks(webhookSecret))
	e.create(refRun(e.params("slow-app")...))
	var run *v1beta1.CustomRun
	for extraFields(t, e.get()).State.Scan.Polls == 0 {
		delay, err := e.reconcile()
		if err != nil {
			t.Fatalf("reconcile failed: %v", err)
		}
		if delay > 0 {
			break
		}
	}
	run = e.get()
	status := extraFields(t, run).State.Scan.LastStatus
	if status != harbor.ScanNotStarted {
		t.Fatalf("status after the first poll = %q, want %q", status, harbor.ScanNotStarted)
	}
	// The grace period of 2s must end on time, so that the controller starts the scan.
	if wait := e.waitLeft(run); wait > 2*time.Second {
		t.Errorf("wait before the scan started = %s, want at most the 2s grace period", wait)
	}
}

func TestReadWebhookSecretTrimsSpaces(t *testing.T) {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "harbor-gate", Name: DefaultWebhookSecretName},
		Data:       map[string][]byte{WebhookSecretKey: []byte("  Bearer abc \n")},
	}
	kube := fakekube.NewSimpleClientset(secret)
	got, err := readWebhookSecret(context.Background(), kube, "harbor-gate",
		DefaultWebhookSecretName)
	if err != nil {
		t.Fatal(err)
	}
	if got != "Bearer abc" {
		t.Errorf("secret = %q, want %q: Go's HTTP server drops the spaces of the header",
			got, "Bearer abc")
	}
}
