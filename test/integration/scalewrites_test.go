//go:build integration && scale

package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	pipelineclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// writeBenchObjects is how many CustomRuns TestScaleAPIServerWrites updates per pass, as
// many as TestScale's runs.
const writeBenchObjects = 1000

// writeBenchClientQPS lifts the client-side rate limit far above what the API server
// sustains, so the server alone sets the pace.
const writeBenchClientQPS = 100000

// TestScaleAPIServerWrites measures how many CustomRun status updates and Event creates
// per second the tier's kube-apiserver and etcd sustain on this machine, with no
// client-side rate limit. Each verdict costs the controller one status update and one
// Event, so this bounds how fast any controller could finish 1,000 runs here. The
// CustomRuns name a kind that no controller reconciles.
func TestScaleAPIServerWrites(t *testing.T) {
	if tier == nil {
		t.Skipf("integration tier not started: %s", skipReason)
	}
	config := rest.CopyConfig(tier.admin)
	config.QPS, config.Burst = writeBenchClientQPS, writeBenchClientQPS
	pipeline, err := pipelineclient.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	ns := namespaceName(t)
	if _, err := kube.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
	runs := createBenchRuns(t, pipeline, ns)

	var table strings.Builder
	table.WriteString("| writes | concurrent requests | objects | duration | per second |\n")
	table.WriteString("| --- | --- | --- | --- | --- |\n")
	for i, workers := range []int{8, 32, 8, 32} {
		kind := "status updates"
		write := func(ctx context.Context, run **v1beta1.CustomRun) error {
			return updateBenchStatus(ctx, pipeline, run, i)
		}
		if i >= 2 {
			kind = "status update + Event"
			write = func(ctx context.Context, run **v1beta1.CustomRun) error {
				if err := updateBenchStatus(ctx, pipeline, run, i); err != nil {
					return err
				}
				return createBenchEvent(ctx, kube, *run)
			}
		}
		elapsed := runBenchWrites(t, runs, workers, write)
		fmt.Fprintf(&table, "| %s | %d | %d | %s | %.0f |\n", kind, workers, len(runs),
			elapsed.Round(time.Millisecond), float64(len(runs))/elapsed.Seconds())
	}
	t.Logf("API server writes on %s:\n%s", machineDescription(), table.String())
}

func createBenchRuns(t *testing.T, pipeline pipelineclient.Interface,
	ns string) []*v1beta1.CustomRun {
	t.Helper()
	runs := make([]*v1beta1.CustomRun, writeBenchObjects)
	group, ctx := errgroup.WithContext(t.Context())
	group.SetLimit(32)
	for i := range runs {
		group.Go(func() error {
			run := &v1beta1.CustomRun{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%04d", i), Namespace: ns},
				Spec: v1beta1.CustomRunSpec{CustomRef: &v1beta1.TaskRef{
					APIVersion: "bench.example.dev/v1", Kind: "Nothing"}},
			}
			created, err := pipeline.TektonV1beta1().CustomRuns(ns).Create(ctx, run,
				metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("creating CustomRun %s/%s: %w", ns, run.Name, err)
			}
			runs[i] = created
			return nil
		})
	}
	if err := group.Wait(); err != nil {
		t.Fatal(err)
	}
	return runs
}

// runBenchWrites calls write once per run with the given number of concurrent callers and
// returns how long all calls took. Each call replaces its run with the updated one.
func runBenchWrites(t *testing.T, runs []*v1beta1.CustomRun, workers int,
	write func(context.Context, **v1beta1.CustomRun) error) time.Duration {
	t.Helper()
	group, ctx := errgroup.WithContext(t.Context())
	group.SetLimit(workers)
	start := time.Now()
	for i := range runs {
		group.Go(func() error { return write(ctx, &runs[i]) })
	}
	if err := group.Wait(); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// updateBenchStatus writes a status of about the size of a finished ImageGate run's:
// a condition, results and extra fields of about 1 KiB.
func updateBenchStatus(ctx context.Context, pipeline pipelineclient.Interface,
	stored **v1beta1.CustomRun, pass int) error {
	run := (*stored).DeepCopy()
	run.Status.StartTime = &metav1.Time{Time: time.Now()}
	run.Status.MarkCustomRunSucceeded("Passed", "PASS: pass %d", pass)
	run.Status.Results = []v1beta1.CustomRunResult{{Name: "VERDICT", Value: "PASS"},
		{Name: "IMAGE_DIGEST", Value: "sha256:" + strings.Repeat("0", 64)}}
	run.Status.ExtraFields = runtime.RawExtension{Raw: fmt.Appendf(nil, `{"pad":%q}`,
		strings.Repeat("x", 1024))}
	updated, err := pipeline.TektonV1beta1().CustomRuns(run.Namespace).UpdateStatus(ctx, run,
		metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("updating the status of CustomRun %s/%s: %w", run.Namespace,
			run.Name, err)
	}
	*stored = updated
	return nil
}

func createBenchEvent(ctx context.Context, kube kubernetes.Interface,
	run *v1beta1.CustomRun) error {
	event := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: run.Name + ".", Namespace: run.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "CustomRun", Namespace: run.Namespace,
			Name: run.Name, UID: run.UID, APIVersion: "tekton.dev/v1beta1"},
		Reason: "Passed", Message: "PASS: benchmark", Type: corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: "scale-bench"},
		FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 1,
	}
	_, err := kube.CoreV1().Events(run.Namespace).Create(ctx, event, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating an Event for CustomRun %s/%s: %w", run.Namespace,
			run.Name, err)
	}
	return nil
}
