package imagegate

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	fakecustomruninformer "github.com/tektoncd/pipeline/pkg/client/injection/informers/pipeline/v1beta1/customrun/fake"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"

	"github.com/druppie/harbor-gate/pkg/gate"
)

var ignoreTransitionTime = cmpopts.IgnoreFields(apis.Condition{}, "LastTransitionTime")

func succeeded(run *v1beta1.CustomRun) apis.Condition {
	if cond := run.Status.GetCondition(apis.ConditionSucceeded); cond != nil {
		return *cond
	}
	return apis.Condition{}
}

func TestReconcileRunsEveryPhase(t *testing.T) {
	tests := []struct {
		name        string
		repository  string
		extra       []v1beta1.Param
		embedded    bool
		wantStatus  string
		wantReason  string
		wantVerdict string
		wantCounts  string
		wantLast    string
	}{{
		name:        "clean image passes",
		repository:  "app",
		wantStatus:  "True",
		wantReason:  ReasonPassed,
		wantVerdict: "PASS",
		wantCounts:  "{}",
		wantLast:    EventPassed,
	}, {
		name:        "vulnerable image fails and run succeeds",
		repository:  "vulnerable-app",
		wantStatus:  "True",
		wantReason:  ReasonPolicyViolation,
		wantVerdict: "FAIL",
		wantCounts:  `{"Critical":1,"Low":1}`,
		wantLast:    EventFailed,
	}, {
		name:        "vulnerable image with onFail Fail fails the run",
		repository:  "vulnerable-app",
		extra:       []v1beta1.Param{param(ParamOnFail, "Fail")},
		wantStatus:  "False",
		wantReason:  ReasonPolicyViolation,
		wantVerdict: "FAIL",
		wantCounts:  `{"Critical":1,"Low":1}`,
		wantLast:    EventFailed,
	}, {
		name:        "customSpec run passes",
		repository:  "app",
		embedded:    true,
		wantStatus:  "True",
		wantReason:  ReasonPassed,
		wantVerdict: "PASS",
		wantCounts:  "{}",
		wantLast:    EventPassed,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			run := refRun(e.params(tc.repository, tc.extra...)...)
			if tc.embedded {
				run = specRun(t, e.gateSpec(), e.params(tc.repository, tc.extra...)...)
			}
			e.create(run)
			got := e.drive(nil)

			wantEvents := []string{EventPushed, EventSigned, EventScanStarted, tc.wantLast}
			if diff := cmp.Diff(wantEvents, e.events()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			state := extraFields(t, got).State
			signatureRef := e.srv.Host() + "/" + project + "/" + tc.repository + ":" +
				strings.Replace(e.digest, ":", "-", 1) + ".sig"
			wantResults := map[string]string{
				gate.ResultVerdict:        tc.wantVerdict,
				gate.ResultImageURL:       e.target(tc.repository),
				gate.ResultImageDigest:    e.digest,
				gate.ResultCounts:         tc.wantCounts,
				gate.ResultSignatureRef:   signatureRef,
				gate.ResultPlatformCounts: "{}",
				gate.ResultArtifactURL: gate.ArtifactURL(e.srv.URL(), state.ProjectID,
					tc.repository, e.digest),
			}
			gotResults := map[string]string{}
			for _, r := range got.Status.Results {
				gotResults[r.Name] = r.Value
			}
			reason := gotResults[gate.ResultReason]
			delete(gotResults, gate.ResultReason)
			if diff := cmp.Diff(wantResults, gotResults); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(reason, tc.wantReason+": ") {
				t.Errorf("result REASON = %q, want it to start with %q", reason, tc.wantReason)
			}
			wantCond := apis.Condition{Type: apis.ConditionSucceeded,
				Status: corev1.ConditionStatus(tc.wantStatus), Reason: tc.wantReason,
				Message: tc.wantVerdict + ": " + strings.TrimPrefix(reason, tc.wantReason+": ")}
			if diff := cmp.Diff(wantCond, succeeded(got), ignoreTransitionTime); diff != "" {
				t.Errorf("condition (-want +got):\n%s", diff)
			}
			if got.Status.CompletionTime == nil {
				t.Error("completion time not set")
			}
			wantPuts := map[string]int{"staging/app": 1, project + "/" + tc.repository: 2}
			if diff := cmp.Diff(wantPuts, e.srv.Stats().ManifestPuts); diff != "" {
				t.Errorf("manifest PUTs, one image and one signature (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReconcileRestartContinuesFromStoredPhase(t *testing.T) {
	tests := []struct {
		name      string
		stopAfter gate.Phase
	}{
		{"restart before push", gate.PhasePush},
		{"restart before signing", gate.PhaseSign},
		{"restart during scan wait", gate.PhaseScan},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.create(refRun(e.params("app")...))
			e.drive(func(run *v1beta1.CustomRun) bool {
				return extraFields(t, run).State.Phase == tc.stopAfter
			})
			e.impl = e.newImpl()
			got := e.drive(nil)
			if reason := succeeded(got).Reason; reason != ReasonPassed {
				t.Fatalf("reason = %q, want %q", reason, ReasonPassed)
			}
			wantPuts := map[string]int{"staging/app": 1, project + "/app": 2}
			if diff := cmp.Diff(wantPuts, e.srv.Stats().ManifestPuts); diff != "" {
				t.Errorf("manifest PUTs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReconcileStaleInformerCopyDoesNotPushAgain(t *testing.T) {
	e := newEnv(t)
	e.create(refRun(e.params("app")...))
	e.drive(func(run *v1beta1.CustomRun) bool {
		return extraFields(t, run).State.Phase == gate.PhasePush
	})
	stale := e.get()
	if _, err := e.reconcile(); err != nil {
		t.Fatalf("push reconcile: %v", err)
	}
	pushed := e.get()
	if extraFields(t, pushed).State.Phase != gate.PhaseSign {
		t.Fatalf("phase after push = %q, want %q", extraFields(t, pushed).State.Phase,
			gate.PhaseSign)
	}
	indexer := fakecustomruninformer.Get(e.ctx).Informer().GetIndexer()
	if err := indexer.Update(stale); err != nil {
		t.Fatal(err)
	}
	if err := e.impl.Reconciler.Reconcile(e.ctx, namespace+"/"+runName); err != nil {
		t.Fatalf("stale reconcile: %v", err)
	}
	if puts := e.srv.Stats().ManifestPuts[project+"/app"]; puts != 1 {
		t.Errorf("manifest PUTs to %s/app = %d, want 1", project, puts)
	}
	if diff := cmp.Diff(pushed.Status, e.get().Status); diff != "" {
		t.Errorf("status changed by a stale reconcile (-want +got):\n%s", diff)
	}
}

func TestReconcileCancelled(t *testing.T) {
	tests := []struct {
		name      string
		stopAfter gate.Phase
		wantPuts  int
	}{
		{"cancelled before start", "", 0},
		{"cancelled during scan wait", gate.PhaseScan, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.create(refRun(e.params("app")...))
			if tc.stopAfter != "" {
				e.drive(func(run *v1beta1.CustomRun) bool {
					return extraFields(t, run).State.Phase == tc.stopAfter
				})
			}
			e.update(func(run *v1beta1.CustomRun) {
				run.Spec.Status = v1beta1.CustomRunSpecStatusCancelled
			})
			got := e.drive(nil)
			want := apis.Condition{Type: apis.ConditionSucceeded, Status: "False",
				Reason:  ReasonCancelled,
				Message: "the run was cancelled through spec.status RunCancelled"}
			if diff := cmp.Diff(want, succeeded(got), ignoreTransitionTime); diff != "" {
				t.Errorf("condition (-want +got):\n%s", diff)
			}
			if puts := e.srv.Stats().ManifestPuts[project+"/app"]; puts != tc.wantPuts {
				t.Errorf("manifest PUTs = %d, want %d", puts, tc.wantPuts)
			}
		})
	}
}

func TestReconcileFinishedRunIgnoresLaterCancel(t *testing.T) {
	e := newEnv(t)
	e.create(refRun(e.params("app")...))
	done := e.drive(nil)
	e.update(func(run *v1beta1.CustomRun) {
		run.Spec.Status = v1beta1.CustomRunSpecStatusCancelled
	})
	if _, err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(succeeded(done), succeeded(e.get()), ignoreTransitionTime); diff != "" {
		t.Errorf("condition of a finished run changed (-want +got):\n%s", diff)
	}
}

func TestReconcileTimeout(t *testing.T) {
	tests := []struct {
		name        string
		retries     int
		wantRetries int
	}{
		{"no retries", 0, 0},
		{"two retries", 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			run := refRun(e.params("stuck-app")...)
			run.Spec.Timeout.Duration = 90 * time.Second
			run.Spec.Retries = tc.retries
			e.create(run)
			got := e.drive(nil)
			want := apis.Condition{Type: apis.ConditionSucceeded, Status: "False",
				Reason: ReasonTimedOut, Message: "the run did not finish within its timeout of 1m30s"}
			if diff := cmp.Diff(want, succeeded(got), ignoreTransitionTime); diff != "" {
				t.Errorf("condition (-want +got):\n%s", diff)
			}
			if len(got.Status.RetriesStatus) != tc.wantRetries {
				t.Fatalf("retriesStatus has %d entries, want %d", len(got.Status.RetriesStatus),
					tc.wantRetries)
			}
			for i, attempt := range got.Status.RetriesStatus {
				if diff := cmp.Diff(want, succeeded(&v1beta1.CustomRun{Status: attempt}),
					ignoreTransitionTime); diff != "" {
					t.Errorf("attempt %d condition (-want +got):\n%s", i, diff)
				}
			}
			if got.Status.Results != nil {
				t.Errorf("results = %v, want none", got.Status.Results)
			}
		})
	}
}

func TestReconcileMissingSecret(t *testing.T) {
	tests := []struct {
		name        string
		secrets     []*corev1.Secret
		wantMessage string
	}{{
		name:        "secret missing",
		secrets:     []*corev1.Secret{keySecret(keyPassword)},
		wantMessage: "Secret builds/harbor-robot not found",
	}, {
		name:        "key missing",
		secrets:     []*corev1.Secret{keySecret(keyPassword), credentialsSecret(SecretKeyPassword)},
		wantMessage: `Secret builds/harbor-robot has no key "password"`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withSecrets(tc.secrets...))
			e.create(refRun(e.params("app")...))
			delay, err := e.reconcile()
			if err != nil {
				t.Fatalf("reconcile: %v", err)
			}
			if delay <= 0 {
				t.Errorf("requeue delay = %s, want a positive delay", delay)
			}
			cond := succeeded(e.get())
			if cond.Status != "Unknown" || cond.Reason != ReasonSecretNotFound {
				t.Errorf("condition = %s/%s, want Unknown/%s", cond.Status, cond.Reason,
					ReasonSecretNotFound)
			}
			if !strings.Contains(cond.Message, tc.wantMessage) {
				t.Errorf("message = %q, want it to contain %q", cond.Message, tc.wantMessage)
			}
			e.replaceSecret(credentialsSecret())
			if reason := succeeded(e.drive(nil)).Reason; reason != ReasonPassed {
				t.Errorf("reason after the Secret appeared = %q, want %q", reason, ReasonPassed)
			}
		})
	}
}

func TestReconcileInvalidInput(t *testing.T) {
	tests := []struct {
		name        string
		run         func(e *env) *v1beta1.CustomRun
		wantReason  string
		wantMessage string
	}{{
		name: "unknown param",
		run: func(e *env) *v1beta1.CustomRun {
			return refRun(e.params("app", param("colour", "blue"))...)
		},
		wantReason:  ReasonInvalidSpec,
		wantMessage: `unknown param "colour"`,
	}, {
		name: "bad target",
		run: func(e *env) *v1beta1.CustomRun {
			return refRun(param(ParamSource, e.source), param(ParamTarget, e.srv.Host()+"/app"))
		},
		wantReason:  ReasonInvalidSpec,
		wantMessage: "spec.params[target]",
	}, {
		name: "bad severity",
		run: func(e *env) *v1beta1.CustomRun {
			return refRun(e.params("app", param(ParamSeverity, "dire"))...)
		},
		wantReason:  ReasonInvalidSpec,
		wantMessage: "spec.params[severity]",
	}, {
		name: "missing source",
		run: func(e *env) *v1beta1.CustomRun {
			return refRun(param(ParamTarget, e.target("app")))
		},
		wantReason:  ReasonInvalidSpec,
		wantMessage: "missing field(s): spec.params[source]",
	}, {
		name: "layout source",
		run: func(e *env) *v1beta1.CustomRun {
			return refRun(param(ParamSource, "oci:/workspace/image"),
				param(ParamTarget, e.target("app")))
		},
		wantReason:  ReasonInvalidSpec,
		wantMessage: "registries only",
	}, {
		name: "invalid customSpec url",
		run: func(e *env) *v1beta1.CustomRun {
			spec := e.gateSpec()
			spec.Harbor.URL = "ftp://harbor.example"
			return specRun(e.t, spec, e.params("app")...)
		},
		wantReason:  ReasonInvalidSpec,
		wantMessage: "spec.customSpec.spec.harbor.url",
	}, {
		name: "unknown customSpec field",
		run: func(e *env) *v1beta1.CustomRun {
			return specRun(e.t, map[string]any{"harbor": map[string]any{"url": e.srv.URL()},
				"severty": "high"}, e.params("app")...)
		},
		wantReason:  ReasonInvalidSpec,
		wantMessage: `unknown field "severty"`,
	}, {
		name: "missing ImageGate",
		run: func(e *env) *v1beta1.CustomRun {
			run := refRun(e.params("app")...)
			run.Spec.CustomRef.Name = "no-such-gate"
			return run
		},
		wantReason:  ReasonImageGateNotFound,
		wantMessage: "ImageGate builds/no-such-gate not found",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.create(tc.run(e))
			got := e.drive(nil)
			cond := succeeded(got)
			if cond.Status != "False" || cond.Reason != tc.wantReason {
				t.Errorf("condition = %s/%s, want False/%s", cond.Status, cond.Reason,
					tc.wantReason)
			}
			if !strings.Contains(cond.Message, tc.wantMessage) {
				t.Errorf("message = %q, want it to contain %q", cond.Message, tc.wantMessage)
			}
			if puts := e.srv.Stats().ManifestPuts[project+"/app"]; puts != 0 {
				t.Errorf("manifest PUTs = %d, want 0", puts)
			}
		})
	}
}

func TestReconcileWrongKeyPassword(t *testing.T) {
	e := newEnv(t, withSecrets(credentialsSecret(), keySecret("wrong-password-Xy12")))
	e.create(refRun(e.params("app")...))
	got := e.drive(nil)
	cond := succeeded(got)
	if cond.Status != "False" || cond.Reason != ReasonInvalidSpec {
		t.Errorf("condition = %s/%s, want False/%s", cond.Status, cond.Reason, ReasonInvalidSpec)
	}
	if !strings.Contains(cond.Message, "Secret builds/cosign-key") {
		t.Errorf("message = %q, want it to name the Secret", cond.Message)
	}
	raw, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"wrong-password-Xy12", robotSecret} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the CustomRun contains the secret %q", secret)
		}
	}
	if puts := e.srv.Stats().ManifestPuts[project+"/app"]; puts != 0 {
		t.Errorf("manifest PUTs = %d, want 0", puts)
	}
}
