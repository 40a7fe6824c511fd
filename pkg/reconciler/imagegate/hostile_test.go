package imagegate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	corev1 "k8s.io/api/core/v1"

	"github.com/druppie/harbor-gate/internal/koimage"
	"github.com/druppie/harbor-gate/pkg/gate"
)

func TestReconcileSourceIsNeverALocalPath(t *testing.T) {
	e := newEnv(t)
	// A layout whose path reads like a registry reference to a closed
	// loopback port: opened as a path, it would be published.
	dir := t.TempDir()
	t.Chdir(dir)
	bin := filepath.Join(dir, "app")
	if err := os.WriteFile(bin, []byte("controller-local file"), 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := koimage.Build(bin, nil)
	if err != nil {
		t.Fatal(err)
	}
	const source = "127.0.0.1:1/localimage"
	if err := koimage.WriteLayout(filepath.Join(dir, source), img); err != nil {
		t.Fatal(err)
	}
	e.create(refRun(param(ParamSource, source), param(ParamTarget, e.target("app"))))
	for range 4 {
		e.reconcile()
	}
	if puts := e.srv.Stats().ManifestPuts[project+"/app"]; puts != 0 {
		t.Errorf("manifest PUTs = %d, want 0: the controller published a local file", puts)
	}
	if cond := succeeded(e.get()); cond.Reason == ReasonPassed {
		t.Errorf("condition reason = %s, want anything but Passed", cond.Reason)
	}
}

func TestReconcileCustomSpecKeysAreCaseSensitive(t *testing.T) {
	e := newEnv(t)
	spec := map[string]any{
		"harbor": map[string]any{"url": e.srv.URL(), "credentialsSecret": credentialsRef},
		"policy": map[string]any{"severity": "low"},
		"Policy": map[string]any{"severity": "critical"},
	}
	e.create(specRun(t, spec, e.params("app")...))
	cond := succeeded(e.drive(nil))
	if cond.Status != corev1.ConditionFalse || cond.Reason != ReasonInvalidSpec {
		t.Errorf("condition = %s/%s, want False/%s", cond.Status, cond.Reason,
			ReasonInvalidSpec)
	}
	if !strings.Contains(cond.Message, "Policy") {
		t.Errorf("message = %q, want it to name the field Policy", cond.Message)
	}
}

func TestReconcileLongParamMessageIsBounded(t *testing.T) {
	e := newEnv(t)
	long := e.srv.Host() + "/" + project + "/" + strings.Repeat("A", 300_000)
	e.create(refRun(param(ParamSource, e.source), param(ParamTarget, long)))
	cond := succeeded(e.drive(nil))
	if cond.Reason != ReasonInvalidSpec {
		t.Errorf("reason = %s, want %s", cond.Reason, ReasonInvalidSpec)
	}
	if n := len(cond.Message); n > maxMessageBytes+64 {
		t.Errorf("message is %d bytes, want at most about %d", n, maxMessageBytes)
	}
	if !strings.Contains(cond.Message, "more bytes)") {
		t.Errorf("message does not say it was shortened: %.200q", cond.Message)
	}
}

func TestReconcileRejectsTamperedExtraFields(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(*ExtraFields)
		want   string
	}{
		{"unknown phase", func(f *ExtraFields) { f.State.Phase = "Bogus" }, `"Bogus"`},
		{"bad digest", func(f *ExtraFields) { f.State.Digest = "sha256:zz" }, `"sha256:zz"`},
		{"bad onFail", func(f *ExtraFields) { f.Run.Spec.OnFail = "Bogus" }, "onFail"},
		{"target on another host", func(f *ExtraFields) {
			f.Run.Target = "team/app:1"
		}, "names no registry host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.create(refRun(e.params("app")...))
			e.drive(func(run *v1beta1.CustomRun) bool {
				return extraFields(t, run).State.Phase == gate.PhaseScan
			})
			e.update(func(run *v1beta1.CustomRun) {
				fields := extraFields(t, run)
				tc.tamper(&fields)
				if err := run.Status.EncodeExtraFields(&fields); err != nil {
					t.Fatal(err)
				}
			})
			cond := succeeded(e.drive(nil))
			if cond.Status != corev1.ConditionFalse || cond.Reason != ReasonInvalidStatus {
				t.Errorf("condition = %s/%s, want False/%s", cond.Status, cond.Reason,
					ReasonInvalidStatus)
			}
			if !strings.Contains(cond.Message, tc.want) {
				t.Errorf("message = %q, want it to contain %q", cond.Message, tc.want)
			}
		})
	}
}
