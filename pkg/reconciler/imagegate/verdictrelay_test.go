package imagegate

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/druppie/harbor-gate/pkg/events"
	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// sinkEvent is a structured CloudEvent as the sink received it.
type sinkEvent struct {
	ContentType string
	ID          string             `json:"id"`
	Source      string             `json:"source"`
	Type        string             `json:"type"`
	Subject     string             `json:"subject"`
	Data        events.VerdictData `json:"data"`
}

// newSink starts a loopback CloudEvents sink that passes each received event to the
// returned channel.
func newSink(t *testing.T) (string, <-chan sinkEvent) {
	t.Helper()
	received := make(chan sinkEvent, 16)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var ev sinkEvent
		if err == nil {
			err = json.Unmarshal(body, &ev)
		}
		if err != nil {
			t.Errorf("sink body %q: %v", body, err)
		}
		ev.ContentType = r.Header.Get("Content-Type")
		received <- ev
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(sink.Close)
	return sink.URL + "/events", received
}

func TestRelaySendsOneEventPerVerdict(t *testing.T) {
	tests := []struct {
		name        string
		repository  string
		wantVerdict string
		wantCounts  map[string]int64
		wantReason  string
	}{
		{"clean image", "app", events.VerdictPass, map[string]int64{}, ReasonPassed + ": "},
		{"vulnerable image", "vulnerable-app", events.VerdictFail,
			map[string]int64{"Critical": 1, "Low": 1}, ReasonPolicyViolation + ": "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sinkURL, received := newSink(t)
			e := newEnv(t, withDefaults(map[string]string{
				"grace-period": "2s", "poll-interval": "1s", "max-poll-interval": "5s",
				"core-sink-url": sinkURL,
			}))
			run := refRun(e.params(tc.repository)...)
			run.UID = "5b1c0c1e-uid"
			run.Labels = map[string]string{pipeline.PipelineRunLabelKey: "build-42"}
			e.create(run)
			done := e.drive(nil)
			e.r.relay.stop()

			var got []sinkEvent
			for len(received) > 0 {
				got = append(got, <-received)
			}
			if len(got) != 1 {
				t.Fatalf("the sink received %d events, want 1: %+v", len(got), got)
			}
			ev := got[0]
			state := extraFields(t, done).State
			wantData := events.VerdictData{
				Image:       e.srv.Host() + "/" + project + "/" + tc.repository,
				Digest:      e.digest,
				Verdict:     tc.wantVerdict,
				Reason:      ev.Data.Reason,
				Counts:      tc.wantCounts,
				PipelineRun: "build-42",
				Namespace:   namespace,
				ArtifactURL: gate.ArtifactURL(e.srv.URL(), state.ProjectID, tc.repository,
					e.digest),
			}
			if diff := cmp.Diff(wantData, ev.Data); diff != "" {
				t.Errorf("event data (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(ev.Data.Reason, tc.wantReason) {
				t.Errorf("reason = %q, want it to start with %q", ev.Data.Reason, tc.wantReason)
			}
			wantAttributes := sinkEvent{
				ContentType: "application/cloudevents+json",
				ID:          "5b1c0c1e-uid",
				Source:      events.CustomRunSource(namespace, runName),
				Type:        events.EventTypeScanCompleted,
				Subject:     wantData.Image + "@" + e.digest,
				Data:        ev.Data,
			}
			if diff := cmp.Diff(wantAttributes, ev); diff != "" {
				t.Errorf("event attributes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRelayOffWithoutSink(t *testing.T) {
	e := newEnv(t)
	e.create(refRun(e.params("app")...))
	e.drive(nil)
	e.r.relay.mu.Lock()
	relay := e.r.relay.relay
	e.r.relay.mu.Unlock()
	if relay != nil {
		t.Errorf("relay = %v without core-sink-url, want none", relay)
	}
}

func TestRelayFollowsSinkChanges(t *testing.T) {
	first, firstReceived := newSink(t)
	second, secondReceived := newSink(t)
	v := newVerdictRelay(zap.NewNop().Sugar())
	send := func(id string) {
		v.send(events.Event{ID: id, Source: events.CustomRunSource(namespace, runName)})
	}
	v.configure(first)
	send("to-first")
	v.configure(second)
	send("to-second")
	v.configure("")
	send("to-nobody")
	v.stop()
	v.configure(first)
	send("after-stop")

	ids := func(received <-chan sinkEvent) []string {
		var got []string
		for len(received) > 0 {
			got = append(got, (<-received).ID)
		}
		return got
	}
	if diff := cmp.Diff([]string{"to-first"}, ids(firstReceived)); diff != "" {
		t.Errorf("events at the first sink (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"to-second"}, ids(secondReceived)); diff != "" {
		t.Errorf("events at the second sink (-want +got):\n%s", diff)
	}
}

// secretsOf lists the secret values of an env that no log line may contain.
func secretsOf(e *env) []string {
	secrets := []string{robotSecret, keyPassword}
	if e.webhookSecret != "" {
		token := strings.TrimPrefix(e.webhookSecret, "Bearer ")
		secrets = append(secrets, e.webhookSecret, token)
	}
	return secrets
}

func TestLogsContainNoSecret(t *testing.T) {
	sinkURL, received := newSink(t)
	e := newEnv(t, withWebhooks(webhookSecret), withDefaults(map[string]string{
		"grace-period": "2s", "poll-interval": "1s", "max-poll-interval": "5s",
		"core-sink-url": sinkURL,
	}))
	e.addScanPolicy(harbortest.PayloadFormatCloudEvents, webhookSecret)
	e.create(refRun(e.params("slow-app")...))
	e.driveUntilRunning()
	e.clock.Step(20 * time.Second)
	e.awaitEnqueued()
	if _, err := e.reconcile(); err != nil {
		t.Fatalf("reconcile after the webhook: %v", err)
	}
	e.srv.WaitForWebhooks()
	e.r.relay.stop()
	if len(received) != 1 {
		t.Errorf("the sink received %d events, want 1", len(received))
	}

	entries := e.logs.All()
	if len(entries) == 0 {
		t.Fatal("no log entries were captured")
	}
	for _, entry := range entries {
		line := entry.Message + " " + fmt.Sprint(entry.ContextMap())
		for _, secret := range secretsOf(e) {
			if strings.Contains(line, secret) {
				t.Errorf("log entry at %s contains the secret %q: %s", entry.Level, secret,
					line)
			}
		}
	}
	if n := e.logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 0 {
		t.Errorf("%d error entries were logged, want 0: %v", n,
			e.logs.FilterLevelExact(zapcore.ErrorLevel).All())
	}
}
