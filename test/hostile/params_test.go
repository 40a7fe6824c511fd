package hostile

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	fakepipelineclient "github.com/tektoncd/pipeline/pkg/client/injection/client/fake"
	fakecustomruninformer "github.com/tektoncd/pipeline/pkg/client/injection/informers/pipeline/v1beta1/customrun/fake"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"knative.dev/pkg/apis"
	fakekubeclient "knative.dev/pkg/client/injection/kube/client/fake"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	fakedynamicclient "knative.dev/pkg/injection/clients/dynamicclient/fake"
	"knative.dev/pkg/reconciler"
	rtesting "knative.dev/pkg/reconciler/testing"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
	"github.com/druppie/harbor-gate/pkg/reconciler/imagegate"
)

const (
	runNamespace = "builds"
	gateName     = "platform-gate"
	// closedHarbor is a loopback address where nothing listens. No param case gets as
	// far as contacting Harbor.
	closedHarbor = "127.0.0.1:1"
	goodSource   = closedHarbor + "/staging/app:v1"
	goodTarget   = closedHarbor + "/team/app:build-1"
)

// paramCase is one hostile CustomRun of the ImageGate controller. The case passes when
// one reconcile ends the run with Succeeded=False and reason InvalidSpec, no results,
// and a condition message that contains want.
type paramCase struct {
	name string
	// params are the run's params; nil means the good source and target.
	params []v1beta1.Param
	// customSpec, when set, replaces the reference to the ImageGate with this JSON spec.
	customSpec string
	want       []string
}

func param(name, value string) v1beta1.Param {
	return v1beta1.Param{Name: name, Value: *v1beta1.NewStructuredValues(value)}
}

// withTarget returns the good source and the given target.
func withTarget(target string) []v1beta1.Param {
	return []v1beta1.Param{param(imagegate.ParamSource, goodSource),
		param(imagegate.ParamTarget, target)}
}

// withSource returns the given source and the good target.
func withSource(source string) []v1beta1.Param {
	return []v1beta1.Param{param(imagegate.ParamSource, source),
		param(imagegate.ParamTarget, goodTarget)}
}

// withParam returns the good source and target and one more param.
func withParam(name, value string) []v1beta1.Param {
	return append(withTarget(goodTarget), param(name, value))
}

// customSpecPrefix starts a customSpec that is valid up to its policy.
const customSpecPrefix = `{"harbor":{"url":"http://` + closedHarbor +
	`","credentialsSecret":"robot"},"signing":{"skip":true},`

var paramCases = []paramCase{{
	name:   "no source",
	params: []v1beta1.Param{param(imagegate.ParamTarget, goodTarget)},
	want:   []string{"missing field(s): spec.params[source]"},
}, {
	name:   "no target",
	params: []v1beta1.Param{param(imagegate.ParamSource, goodSource)},
	want:   []string{"missing field(s): spec.params[target]"},
}, {
	name:   "source is an OCI layout on the controller",
	params: withSource("oci:/var/run/secrets"),
	want:   []string{"oci:/var/run/secrets", "reads sources from registries only"},
}, {
	name:   "source is a tarball on the controller",
	params: withSource("docker-archive:/etc/passwd"),
	want:   []string{"docker-archive:/etc/passwd", "HOST/REPOSITORY:TAG"},
}, {
	name:   "malformed source",
	params: withSource("registry.example/Bad Name::x"),
	want:   []string{"registry.example/Bad Name::x", "spec.params[source]"},
}, {
	name:   "target without a project",
	params: withTarget(closedHarbor + "/app:1"),
	want:   []string{"must name a Harbor project", "HOST/PROJECT/REPOSITORY"},
}, {
	name:   "target without a registry host",
	params: withTarget("team/app:1"),
	want:   []string{"names no registry host", "use HOST/PROJECT/REPOSITORY"},
}, {
	name:   "path trick: .. in the target",
	params: withTarget(closedHarbor + "/team/../app:1"),
	want:   []string{`path component ".."`, "spec.params[target]"},
}, {
	name:   "path trick: escaped slash in the target",
	params: withTarget(closedHarbor + "/team%2Fapp:1"),
	want:   []string{"team%2Fapp", "HOST/PROJECT/REPOSITORY"},
}, {
	name:   "path trick: empty component in the target",
	params: withTarget(closedHarbor + "/team//app:1"),
	want:   []string{"team//app", `path component ""`, "must be lower-case letters"},
}, {
	name:   "path trick: upper case in the target",
	params: withTarget(closedHarbor + "/team/App:1"),
	want:   []string{"team/App", "HOST/PROJECT/REPOSITORY"},
}, {
	name:   "path trick: 256-character repository",
	params: withTarget(closedHarbor + "/team/" + strings.Repeat("a", 256) + ":1"),
	want:   []string{strings.Repeat("a", 256), "spec.params[target]"},
}, {
	name:   "target with a right-to-left override",
	params: withTarget(closedHarbor + "/team/app\u202e:1"),
	want:   []string{"spec.params[target]", "HOST/PROJECT/REPOSITORY"},
}, {
	name:   "target with a NUL",
	params: withTarget(closedHarbor + "/team/app\x00:1"),
	want:   []string{"spec.params[target]", "HOST/PROJECT/REPOSITORY"},
}, {
	name:   "target in invalid UTF-8",
	params: withTarget(closedHarbor + "/team/app\xff:1"),
	want:   []string{"spec.params[target]", "HOST/PROJECT/REPOSITORY"},
}, {
	name:   "target host with a homoglyph",
	params: withTarget("hаrbor.example/team/app:1"),
	want:   []string{"hаrbor.example is not the Harbor at " + closedHarbor},
}, {
	name:   "unknown severity",
	params: withParam(imagegate.ParamSeverity, "severe"),
	want:   []string{`"severe"`, "use one of none, unknown"},
}, {
	name:   "homoglyph severity",
	params: withParam(imagegate.ParamSeverity, "сritical"),
	want:   []string{"сritical", "use one of none, unknown"},
}, {
	name:   "negative timeout",
	params: withParam(imagegate.ParamTimeout, "-5m"),
	want:   []string{"-5m", "use a positive Go duration"},
}, {
	name:   "timeout beyond the duration range",
	params: withParam(imagegate.ParamTimeout, "9999999999h"),
	want:   []string{"9999999999h", "use a positive Go duration"},
}, {
	name:   "lower-case onFail",
	params: withParam(imagegate.ParamOnFail, "succeed"),
	want:   []string{"succeed", "use Succeed or Fail"},
}, {
	name:   "param that sets the verdict",
	params: withParam("verdict", "PASS"),
	want:   []string{`unknown param "verdict"`, "use source, target"},
}, {
	name:   "param that sets a result",
	params: withParam("VERDICT", "PASS"),
	want:   []string{`unknown param "VERDICT"`},
}, {
	name: "source given twice",
	params: append(withTarget(goodTarget), param(imagegate.ParamSource,
		closedHarbor+"/staging/other:v1")),
	want: []string{"duplicate param: spec.params[source]"},
}, {
	name: "array param",
	params: append(withTarget(goodTarget), v1beta1.Param{Name: imagegate.ParamSeverity,
		Value: *v1beta1.NewStructuredValues("low", "high")}),
	want: []string{"the param has type array", "every param of an ImageGate run is a string"},
}, {
	name:       "customSpec with a duplicated key",
	customSpec: customSpecPrefix + `"policy":{"severity":"low","severity":"critical"}}`,
	want:       []string{`duplicate field "policy.severity"`, "spec.customSpec.spec"},
}, {
	name:       "customSpec with a number as a string",
	customSpec: customSpecPrefix + `"policy":{"maxCounts":{"Critical":"5"}}}`,
	want:       []string{"cannot unmarshal string", "spec.customSpec.spec"},
}, {
	name:       "customSpec with an unknown field",
	customSpec: customSpecPrefix + `"policy":{"verdict":"PASS"}}`,
	want:       []string{`unknown field "policy.verdict"`, "spec.customSpec.spec"},
}, {
	name:       "customSpec with a negative maximum count",
	customSpec: customSpecPrefix + `"policy":{"maxCounts":{"Critical":-1}}}`,
	want:       []string{"spec.customSpec.spec.policy.maxCounts[Critical]", "0 or more"},
}}

func TestCustomRunInput(t *testing.T) {
	c := newController(t)
	for i, tc := range paramCases {
		t.Run(tc.name, func(t *testing.T) {
			run := hostileRun(t, i, tc)
			callSafely(t, func() { run = c.reconcileOnce(t, run) })
			cond := run.Status.GetCondition(apis.ConditionSucceeded)
			if cond == nil {
				t.Fatal("the run has no Succeeded condition")
			}
			if cond.Status != corev1.ConditionFalse || cond.Reason != imagegate.ReasonInvalidSpec {
				t.Errorf("condition = %s/%s, want False/%s", cond.Status, cond.Reason,
					imagegate.ReasonInvalidSpec)
			}
			checkFragments(t, "the condition message", cond.Message, tc.want)
			if len(run.Status.Results) != 0 {
				t.Errorf("the run has results %v, want none", run.Status.Results)
			}
		})
	}
}

// hostileRun returns the CustomRun of case number i.
func hostileRun(t *testing.T, i int, tc paramCase) *v1beta1.CustomRun {
	t.Helper()
	params := tc.params
	if params == nil {
		params = withTarget(goodTarget)
	}
	run := &v1beta1.CustomRun{
		ObjectMeta: metav1.ObjectMeta{Name: "run-" + strings.Repeat("x", i%3) +
			string(rune('a'+i%26)) + string(rune('a'+i/26)), Namespace: runNamespace,
			Generation: 1},
		Spec: v1beta1.CustomRunSpec{
			CustomRef: &v1beta1.TaskRef{APIVersion: v1alpha1.SchemeGroupVersion.String(),
				Kind: v1alpha1.Kind, Name: gateName},
			Params:  params,
			Timeout: &metav1.Duration{Duration: time.Hour},
		},
	}
	if tc.customSpec != "" {
		if !json.Valid([]byte(tc.customSpec)) {
			t.Fatalf("the customSpec of the case is not JSON: %s", tc.customSpec)
		}
		run.Spec.CustomRef = nil
		run.Spec.CustomSpec = &v1beta1.EmbeddedCustomRunSpec{
			TypeMeta: runtime.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(),
				Kind: v1alpha1.Kind},
			Spec: runtime.RawExtension{Raw: []byte(tc.customSpec)},
		}
	}
	return run
}

// runController is the ImageGate controller on fake clients.
type runController struct {
	ctx  context.Context
	impl *controller.Impl
}

// newController builds the controller as the controller binary does, on fake clients
// that contain one valid ImageGate, gateName, and its credentials Secret.
func newController(t *testing.T) *runController {
	t.Helper()
	ctx, cancel, _ := rtesting.SetupFakeContextWithCancel(t)
	t.Cleanup(cancel)
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	gate := &v1alpha1.ImageGate{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(),
			Kind: v1alpha1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: gateName, Namespace: runNamespace},
		Spec: v1alpha1.ImageGateSpec{
			Harbor:  v1alpha1.HarborSpec{URL: "http://" + closedHarbor, CredentialsSecret: "robot"},
			Signing: v1alpha1.SigningSpec{Skip: true},
		},
	}
	ctx, _ = fakedynamicclient.With(ctx, scheme, gate)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "robot", Namespace: runNamespace},
		Data: map[string][]byte{imagegate.SecretKeyUsername: []byte("robot$team+ci"),
			imagegate.SecretKeyPassword: []byte("s3cr3t-robot-Zq81")},
	}
	_, err := fakekubeclient.Get(ctx).CoreV1().Secrets(runNamespace).
		Create(ctx, secret, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: v1alpha1.DefaultsConfigName, Namespace: "harbor-gate"}}
	impl := imagegate.NewController(ctx, configmap.NewStaticWatcher(cm))
	// Without leader election the generated reconciler skips every key until it is
	// promoted, which sharedmain's leader elector would do.
	leader, ok := impl.Reconciler.(reconciler.LeaderAware)
	if !ok {
		t.Fatal("the generated reconciler is not LeaderAware")
	}
	err = leader.Promote(reconciler.UniversalBucket(),
		func(reconciler.Bucket, types.NamespacedName) {})
	if err != nil {
		t.Fatalf("promoting the reconciler: %v", err)
	}
	return &runController{ctx: ctx, impl: impl}
}

// reconcileOnce stores run, reconciles it once and returns it as stored afterwards.
func (c *runController) reconcileOnce(t *testing.T, run *v1beta1.CustomRun) *v1beta1.CustomRun {
	t.Helper()
	runs := fakepipelineclient.Get(c.ctx).TektonV1beta1().CustomRuns(run.Namespace)
	created, err := runs.Create(c.ctx, run, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the CustomRun: %v", err)
	}
	indexer := fakecustomruninformer.Get(c.ctx).Informer().GetIndexer()
	if err := indexer.Add(created); err != nil {
		t.Fatal(err)
	}
	err = c.impl.Reconciler.Reconcile(c.ctx, run.Namespace+"/"+run.Name)
	if requeue, _ := controller.IsRequeueKey(err); err != nil && !requeue {
		t.Errorf("reconcile failed: %v", err)
	}
	stored, err := runs.Get(c.ctx, run.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the CustomRun: %v", err)
	}
	return stored
}
