package imagegate

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
	"github.com/druppie/harbor-gate/pkg/gate"
)

func TestReconcileTransientErrorRetriesThroughQueue(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + listener.Addr().String()
	listener.Close()
	e := newEnv(t)
	spec := e.gateSpec()
	spec.Harbor.URL = closedURL
	// The target's registry must be Harbor's host, so both name the closed port.
	closedTarget := listener.Addr().String() + "/" + project + "/app:build-1"
	e.create(specRun(t, spec, param(ParamSource, e.source), param(ParamTarget, closedTarget)))

	var messages []string
	for range 2 {
		delay, err := e.reconcile()
		if err == nil || delay != 0 {
			t.Fatalf("reconcile = delay %s, error %v; want a transient error", delay, err)
		}
		cond := succeeded(e.get())
		if cond.Status != corev1.ConditionUnknown || cond.Reason != ReasonTransientError {
			t.Errorf("condition = %s/%s, want Unknown/%s", cond.Status, cond.Reason,
				ReasonTransientError)
		}
		messages = append(messages, cond.Message)
	}
	if !strings.Contains(messages[0], "phase Resolve") {
		t.Errorf("message = %q, want it to name phase Resolve", messages[0])
	}
	if messages[0] != messages[1] {
		t.Errorf("message changed between retries: %q, then %q", messages[0], messages[1])
	}
}

func TestReconcilePermanentErrorUsesRetries(t *testing.T) {
	wrongCredentials := credentialsSecret()
	wrongCredentials.Data[SecretKeyPassword] = []byte("not-the-robot-secret")
	e := newEnv(t, withSecrets(wrongCredentials, keySecret(keyPassword)))
	run := refRun(e.params("app")...)
	run.Spec.Retries = 1
	e.create(run)
	got := e.drive(nil)
	cond := succeeded(got)
	if cond.Status != corev1.ConditionFalse || cond.Reason != ReasonHarborError {
		t.Errorf("condition = %s/%s, want False/%s", cond.Status, cond.Reason,
			ReasonHarborError)
	}
	if len(got.Status.RetriesStatus) != 1 {
		t.Errorf("retriesStatus has %d entries, want 1", len(got.Status.RetriesStatus))
	}
	if strings.Contains(cond.Message, "not-the-robot-secret") {
		t.Errorf("message %q contains the password", cond.Message)
	}
}

func TestReconcileDefaultsAndParamsPrecedence(t *testing.T) {
	tests := []struct {
		name         string
		gateSeverity string
		defaults     string
		param        string
		wantVerdict  string
	}{
		{name: "built-in critical passes a medium finding", wantVerdict: "PASS"},
		{name: "config medium fails it", defaults: "medium", wantVerdict: "FAIL"},
		{name: "param critical beats config medium", defaults: "medium", param: "critical",
			wantVerdict: "PASS"},
		{name: "spec low beats config critical", gateSeverity: "low", defaults: "critical",
			wantVerdict: "FAIL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defaults := map[string]string{"grace-period": "2s", "poll-interval": "1s",
				"max-poll-interval": "5s", "severity": tc.defaults}
			e := newEnv(t, withDefaults(defaults))
			spec := e.gateSpec()
			spec.Policy.Severity = tc.gateSeverity
			var extra []v1beta1.Param
			if tc.param != "" {
				extra = append(extra, param(ParamSeverity, tc.param))
			}
			e.create(specRun(t, spec, e.params("medium-app", extra...)...))
			got := e.drive(nil)
			if verdict := resultValue(got.Status.Results, gate.ResultVerdict); verdict != tc.wantVerdict {
				t.Errorf("VERDICT = %q, want %q; condition %+v", verdict, tc.wantVerdict,
					succeeded(got))
			}
		})
	}
}

func TestReconcileBeforeNextStepDoesNothing(t *testing.T) {
	e := newEnv(t)
	e.create(refRun(e.params("app")...))
	var delay time.Duration
	for delay == 0 {
		var err error
		if delay, err = e.reconcile(); err != nil {
			t.Fatal(err)
		}
	}
	before := e.get()
	apiRequests := e.srv.Stats().APIRequests
	again, err := e.reconcile()
	if err != nil {
		t.Fatal(err)
	}
	if again <= 0 || again > delay {
		t.Errorf("requeue delay = %s, want a positive delay up to %s", again, delay)
	}
	if diff := cmp.Diff(before.Status, e.get().Status); diff != "" {
		t.Errorf("status changed before the next step was due (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(apiRequests, e.srv.Stats().APIRequests); diff != "" {
		t.Errorf("Harbor API requests before the next step was due (-want +got):\n%s", diff)
	}
}

func TestIsImageGateRun(t *testing.T) {
	apiVersion := v1alpha1.SchemeGroupVersion.String()
	embedded := func(apiVersion, kind string) *v1beta1.EmbeddedCustomRunSpec {
		return &v1beta1.EmbeddedCustomRunSpec{
			TypeMeta: runtime.TypeMeta{APIVersion: apiVersion, Kind: kind}}
	}
	tests := []struct {
		name string
		obj  any
		want bool
	}{
		{"customRef ImageGate", &v1beta1.CustomRun{Spec: v1beta1.CustomRunSpec{
			CustomRef: &v1beta1.TaskRef{APIVersion: apiVersion, Kind: "ImageGate"}}}, true},
		{"customSpec ImageGate", &v1beta1.CustomRun{Spec: v1beta1.CustomRunSpec{
			CustomSpec: embedded(apiVersion, "ImageGate")}}, true},
		{"other kind", &v1beta1.CustomRun{Spec: v1beta1.CustomRunSpec{
			CustomRef: &v1beta1.TaskRef{APIVersion: apiVersion, Kind: "Wait"}}}, false},
		{"other version", &v1beta1.CustomRun{Spec: v1beta1.CustomRunSpec{
			CustomRef: &v1beta1.TaskRef{APIVersion: "harbor.druppie.dev/v1",
				Kind: "ImageGate"}}}, false},
		{"other customSpec group", &v1beta1.CustomRun{Spec: v1beta1.CustomRunSpec{
			CustomSpec: embedded("example.dev/v1alpha1", "ImageGate")}}, false},
		{"neither ref nor spec", &v1beta1.CustomRun{}, false},
		{"not a CustomRun", &corev1.Pod{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsImageGateRun(tc.obj); got != tc.want {
				t.Errorf("IsImageGateRun = %v, want %v", got, tc.want)
			}
		})
	}
}
