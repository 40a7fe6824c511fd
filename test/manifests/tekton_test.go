package manifests

import (
	"bytes"
	"context"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/druppie/harbor-gate/internal/cli"
	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
	"github.com/druppie/harbor-gate/pkg/gate"
)

// gateResults are the results both the Task and the ImageGate custom task
// set, in the order the Task declares them.
var gateResults = gate.ResultNames()

// customTaskParams are the params a CustomRun of an ImageGate accepts.
var customTaskParams = []string{"source", "target", "severity", "timeout", "onFail"}

func TestTektonObjectsValidate(t *testing.T) {
	docs := loadDocuments(t)
	ctx := context.Background()
	validated := 0
	for _, d := range docs {
		switch obj := d.obj.(type) {
		case *pipelinev1.Task:
			obj.SetDefaults(ctx)
			if err := obj.Validate(ctx); err != nil {
				t.Errorf("%s: %v", d, err)
			}
		case *pipelinev1.Pipeline:
			obj.SetDefaults(ctx)
			if err := obj.Validate(ctx); err != nil {
				t.Errorf("%s: %v", d, err)
			}
		case *v1alpha1.ImageGate:
			obj.SetDefaults(ctx)
			if err := obj.Validate(ctx); err != nil {
				t.Errorf("%s: %v", d, err)
			}
		default:
			continue
		}
		validated++
	}
	if validated < 3 {
		t.Errorf("validated %d Tekton objects and ImageGates, want at least 3", validated)
	}
}

func TestTektonValidationRejects(t *testing.T) {
	ctx := context.Background()
	task := publishTask(t, loadDocuments(t))
	task.Spec.Steps[0].Args = append(task.Spec.Steps[0].Args, "--token=$(params.token)")
	if err := task.Validate(ctx); err == nil {
		t.Error("Task.Validate() with an undeclared param = nil, want an error")
	}
	pipe := gatePipeline(t, loadDocuments(t))
	gate := pipelineTask(t, pipe, "gate")
	gate.TaskRef.Kind = ""
	if err := pipe.Validate(ctx); err == nil {
		t.Error("Pipeline.Validate() with a custom task without kind = nil, want an error")
	}
}

func publishTask(t *testing.T, docs []document) *pipelinev1.Task {
	t.Helper()
	task := findNamed(objectsOf[*pipelinev1.Task](docs), "harbor-gate-publish",
		func(t *pipelinev1.Task) string { return t.Name })
	if task == nil {
		t.Fatal("no Task harbor-gate-publish in tekton/")
	}
	if len(task.Spec.Steps) != 1 {
		t.Fatalf("Task has %d steps, want 1", len(task.Spec.Steps))
	}
	return task
}

func TestPublishTaskResults(t *testing.T) {
	task := publishTask(t, loadDocuments(t))
	var names []string
	for _, r := range task.Spec.Results {
		names = append(names, r.Name)
	}
	if diff := cmp.Diff(gateResults, names); diff != "" {
		t.Errorf("Task results (-want +got):\n%s", diff)
	}
}

// substituteParams replaces the Task's params in args with values, or
// with their defaults when values has none, and the image workspace path.
func substituteParams(task *pipelinev1.Task, args []string, values map[string]string) []string {
	var pairs []string
	for _, p := range task.Spec.Params {
		value, ok := values[p.Name]
		if !ok && p.Default != nil {
			value = p.Default.StringVal
		}
		pairs = append(pairs, "$(params."+p.Name+")", value)
	}
	pairs = append(pairs, "$(workspaces.image.path)", "/workspace/image")
	replacer := strings.NewReplacer(pairs...)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = replacer.Replace(a)
	}
	return out
}

func TestPublishTaskStepRunsTheCLI(t *testing.T) {
	task := publishTask(t, loadDocuments(t))
	step := task.Spec.Steps[0]
	if step.Image != "ko://github.com/druppie/harbor-gate/cmd/harbor-gate" {
		t.Errorf("step image = %q, want the ko:// path of cmd/harbor-gate", step.Image)
	}
	if len(step.Command) == 0 || path.Base(step.Command[0]) != "harbor-gate" {
		t.Errorf("step command = %q, want the harbor-gate binary", step.Command)
	}
	if len(step.Args) == 0 || step.Args[0] != "publish" {
		t.Fatalf("step args = %q, want publish first", step.Args)
	}

	args := substituteParams(task, step.Args, map[string]string{
		"target": "registry.druppie.local/team/app:build-1",
	})
	wantResultsDir := "--results-dir=" + pipeline.DefaultResultPath
	if !slices.Contains(args, wantResultsDir) {
		t.Errorf("step args %q lack %s, the directory Tekton collects results from",
			args, wantResultsDir)
	}
	if !slices.Contains(args, "--source=oci:/workspace/image/.") {
		t.Errorf("step args %q do not read the OCI layout in the image workspace", args)
	}

	// The real command line parses the flags; --help stops before any
	// file is read or any connection is made, but unknown flags and
	// values that do not parse still fail.
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), append(args, "--help"), &stdout, &stderr)
	if code != cli.ExitPass {
		t.Errorf("harbor-gate %s --help exited %d: %s", strings.Join(args, " "), code, stderr.String())
	}
}

func TestPublishTaskSecretFiles(t *testing.T) {
	task := publishTask(t, loadDocuments(t))
	step := task.Spec.Steps[0]
	secretVolumes := map[string]*corev1.SecretVolumeSource{}
	for _, v := range task.Spec.Volumes {
		if v.Secret != nil {
			secretVolumes[v.Name] = v.Secret
		}
	}
	mounts := map[string]string{}
	for _, m := range step.VolumeMounts {
		if _, ok := secretVolumes[m.Name]; ok {
			if !m.ReadOnly {
				t.Errorf("Secret volume %s is mounted writable", m.Name)
			}
			mounts[m.MountPath] = m.Name
		}
	}

	// The flags that take a file from a Secret, and the Secret key each
	// file must be.
	wantFiles := map[string]string{
		"--password-file":     "harbor-credentials/password",
		"--key":               "cosign-key/cosign.key",
		"--key-password-file": "cosign-key/cosign.password",
	}
	got := map[string]string{}
	for _, arg := range step.Args {
		flag, value, ok := strings.Cut(arg, "=")
		if _, isFileFlag := wantFiles[flag]; !ok || !isFileFlag {
			continue
		}
		volume := mounts[path.Dir(value)]
		got[flag] = volume + "/" + path.Base(value)
	}
	if diff := cmp.Diff(wantFiles, got); diff != "" {
		t.Errorf("secret files of the step (-want +got):\n%s", diff)
	}

	var username *corev1.SecretKeySelector
	for _, e := range step.Env {
		if e.Name == "HARBOR_USERNAME" && e.ValueFrom != nil {
			username = e.ValueFrom.SecretKeyRef
		}
	}
	harbor := secretVolumes["harbor-credentials"]
	if username == nil || harbor == nil || username.Name != harbor.SecretName ||
		username.Key != "username" {
		t.Errorf("HARBOR_USERNAME comes from %+v, want key username of the Secret %+v",
			username, harbor)
	}
}

func gatePipeline(t *testing.T, docs []document) *pipelinev1.Pipeline {
	t.Helper()
	p := findNamed(objectsOf[*pipelinev1.Pipeline](docs), "build-gate-deploy",
		func(p *pipelinev1.Pipeline) string { return p.Name })
	if p == nil {
		t.Fatal("no Pipeline build-gate-deploy in tekton/")
	}
	return p
}

// pipelineTask returns the task or finally task called name.
func pipelineTask(t *testing.T, p *pipelinev1.Pipeline, name string) *pipelinev1.PipelineTask {
	t.Helper()
	for _, tasks := range [][]pipelinev1.PipelineTask{p.Spec.Tasks, p.Spec.Finally} {
		for i := range tasks {
			if tasks[i].Name == name {
				return &tasks[i]
			}
		}
	}
	t.Fatalf("Pipeline %s has no task %s", p.Name, name)
	return nil
}

func TestPipelineGatesOnVerdict(t *testing.T) {
	docs := loadDocuments(t)
	p := gatePipeline(t, docs)
	gate := pipelineTask(t, p, "gate")
	if gate.TaskRef == nil || gate.TaskRef.APIVersion != v1alpha1.SchemeGroupVersion.String() ||
		gate.TaskRef.Kind != v1alpha1.Kind {
		t.Fatalf("gate taskRef = %+v, want a custom task %s %s",
			gate.TaskRef, v1alpha1.SchemeGroupVersion, v1alpha1.Kind)
	}
	gates := objectsOf[*v1alpha1.ImageGate](docs)
	named := findNamed(gates, gate.TaskRef.Name,
		func(g *v1alpha1.ImageGate) string { return g.Name })
	if named == nil {
		t.Errorf("gate names ImageGate %q, which no file in tekton/ defines", gate.TaskRef.Name)
	}

	params := map[string]string{}
	for _, param := range gate.Params {
		if !slices.Contains(customTaskParams, param.Name) {
			t.Errorf("gate param %q is not one of %q", param.Name, customTaskParams)
		}
		params[param.Name] = param.Value.StringVal
	}
	wantSource := "$(tasks.build.results.IMAGE_URL)@$(tasks.build.results.IMAGE_DIGEST)"
	if params["source"] != wantSource {
		t.Errorf("gate source = %q, want %q", params["source"], wantSource)
	}
	if params["target"] == "" {
		t.Error("gate has no target param")
	}

	checkWhen(t, pipelineTask(t, p, "deploy"), "PASS")
	checkWhen(t, pipelineTask(t, p, "notify"), "FAIL")
	deploy := pipelineTask(t, p, "deploy")
	wantImage := "$(tasks.gate.results.IMAGE_URL)@$(tasks.gate.results.IMAGE_DIGEST)"
	if !slices.ContainsFunc(deploy.Params, func(p pipelinev1.Param) bool {
		return p.Value.StringVal == wantImage
	}) {
		t.Errorf("deploy params %+v do not pass the gated digest %s", deploy.Params, wantImage)
	}
}

// checkWhen checks that task runs only when the gate's VERDICT is verdict.
func checkWhen(t *testing.T, task *pipelinev1.PipelineTask, verdict string) {
	t.Helper()
	want := pipelinev1.WhenExpressions{{
		Input:    "$(tasks.gate.results.VERDICT)",
		Operator: "in",
		Values:   []string{verdict},
	}}
	if diff := cmp.Diff(want, task.When); diff != "" {
		t.Errorf("task %s when (-want +got):\n%s", task.Name, diff)
	}
}

func TestPipelineReadsOnlyGateResults(t *testing.T) {
	p := gatePipeline(t, loadDocuments(t))
	var refs []string
	for _, task := range append(slices.Clone(p.Spec.Tasks), p.Spec.Finally...) {
		for _, ref := range pipelinev1.PipelineTaskResultRefs(&task) {
			if ref.PipelineTask == "gate" {
				refs = append(refs, ref.Result)
			}
		}
	}
	for _, name := range refs {
		if !slices.Contains(gateResults, name) {
			t.Errorf("the Pipeline reads result %s of the gate, which it never sets", name)
		}
	}
	if len(refs) == 0 {
		t.Error("the Pipeline reads no result of the gate")
	}
}
