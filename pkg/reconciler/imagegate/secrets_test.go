package imagegate

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	"k8s.io/client-go/tools/record"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/logging"

	"github.com/druppie/harbor-gate/pkg/events"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// Secrets of the core sink URL: the password of its user information and a token in its
// query, as a core service may require either.
const (
	sinkPassword = "s3cr3t-sink-Jd73"
	sinkToken    = "s3cr3t-token-Rc05"
)

// withSinkSecrets returns sinkURL with both sink secrets in it.
func withSinkSecrets(t *testing.T, sinkURL string) string {
	t.Helper()
	u, err := url.Parse(sinkURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("core", sinkPassword)
	u.RawQuery = "access_token=" + sinkToken
	return u.String()
}

// encodedSecrets returns every secret of an env with the encodings a leak could take:
// base64 with and without padding, URL-safe base64, URL escaping, and the base64 of a
// Basic authorization "user:secret".
func encodedSecrets(e *env) map[string]string {
	users := map[string]string{robotSecret: "robot$" + project + "+" + robotName,
		sinkPassword: "core"}
	forms := map[string]string{}
	for _, secret := range append(secretsOf(e), sinkPassword, sinkToken) {
		forms[secret] = secret
		forms[url.QueryEscape(secret)] = secret
		forms[url.PathEscape(secret)] = secret
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding,
			base64.URLEncoding, base64.RawURLEncoding} {
			forms[enc.EncodeToString([]byte(secret))] = secret
			if user := users[secret]; user != "" {
				forms[enc.EncodeToString([]byte(user+":"+secret))] = secret + " in Basic auth"
			}
		}
	}
	return forms
}

// recordedEvents drains the fake event recorder and returns each Event as
// "type reason message".
func recordedEvents(e *env) []string {
	recorder := controller.GetEventRecorder(e.ctx).(*record.FakeRecorder)
	var out []string
	for {
		select {
		case event := <-recorder.Events:
			out = append(out, event)
		default:
			return out
		}
	}
}

func TestRunOutputsContainNoSecret(t *testing.T) {
	tests := []struct {
		name       string
		repository string
		target     func(e *env) string
		// closedSink makes the core sink unreachable, so that the relay logs its error.
		closedSink bool
		wantReason string
	}{
		{name: "PASS", repository: "app", wantReason: ReasonPassed},
		{name: "FAIL with an unreachable sink", repository: "vulnerable-app",
			closedSink: true, wantReason: ReasonPolicyViolation},
		{name: "Harbor error", target: func(e *env) string {
			return e.srv.Host() + "/nosuchproject/app:1"
		}, wantReason: ReasonHarborError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sinkURL, received := newSink(t)
			if tc.closedSink {
				sinkURL = closedURL(t)
			}
			e := newEnv(t, withWebhooks(webhookSecret))
			e.addScanPolicy(harbortest.PayloadFormatCloudEvents, webhookSecret)
			e.r.relay = newVerdictRelay(logging.FromContext(e.ctx).Named("relay"),
				events.WithMaxAttempts(1))
			e.r.relay.configure(withSinkSecrets(t, sinkURL))
			params := e.params(tc.repository)
			if tc.target != nil {
				params = []v1beta1.Param{param(ParamSource, e.source),
					param(ParamTarget, tc.target(e))}
			}
			e.create(refRun(params...))
			run := e.drive(nil)
			if got := succeeded(run).Reason; got != tc.wantReason {
				t.Errorf("reason = %s, want %s (%s)", got, tc.wantReason,
					succeeded(run).Message)
			}
			e.srv.WaitForWebhooks()
			e.r.relay.stop()
			relayErrors := e.logs.FilterMessage("Sending a verdict event failed").Len()
			if tc.closedSink && relayErrors != 1 {
				t.Errorf("%d relay errors were logged, want 1", relayErrors)
			}
			if tc.wantReason == ReasonPassed && len(received) != 1 {
				t.Errorf("the sink received %d events, want 1", len(received))
			}

			outputs := map[string]string{}
			runJSON, err := json.Marshal(run)
			if err != nil {
				t.Fatal(err)
			}
			outputs["the CustomRun"] = string(runJSON)
			outputs["the Events"] = strings.Join(recordedEvents(e), "\n")
			for i, entry := range e.logs.All() {
				outputs[fmt.Sprintf("log entry %d", i)] = entry.Message + " " +
					fmt.Sprint(entry.ContextMap())
			}
			for len(received) > 0 {
				sent, err := json.Marshal(<-received)
				if err != nil {
					t.Fatal(err)
				}
				outputs["the sink"] += string(sent)
			}
			for name, text := range outputs {
				for form, secret := range encodedSecrets(e) {
					if strings.Contains(text, form) {
						t.Errorf("%s contains the secret %s as %q:\n%s", name, secret, form, text)
					}
				}
			}
		})
	}
}

// closedURL returns an http URL of a loopback port where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/events"
}
