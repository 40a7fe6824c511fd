//go:build integration && scale

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	pipelineclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	customrunlisters "github.com/tektoncd/pipeline/pkg/client/listers/pipeline/v1beta1"
	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
	"github.com/druppie/harbor-gate/pkg/harbortest"
	"github.com/druppie/harbor-gate/pkg/reconciler/imagegate"
)

// Modes of TestScale.
const (
	// scaleModeWebhooks serves the webhook receiver, and the double sends
	// SCANNING_COMPLETED to it.
	scaleModeWebhooks = "webhooks"
	// scaleModePolling leaves the webhook Secret out, so runs learn of a scan's end from
	// their polls alone.
	scaleModePolling = "polling"
)

// Names in the scale test's Harbor double.
const (
	scaleTargetProject = "scale"
	scaleSourceProject = "source"
	scaleRobot         = "ci"
)

// scanRunning is how long each scan stays Running on the double's fake clock. The test
// ends every scan at once by stepping the clock past it.
const scanRunning = time.Hour

// scaleFixture keeps every scan Running from the moment it starts until the fake clock
// passes scanRunning, and then reports no findings.
var scaleFixture = fmt.Sprintf("pending: 0s\nrunning: %s\n", scanRunning)

// scaleClientQPS is the rate limit of the test's own API client, which creates the runs
// and watches them. It is far above the controller's, so that the test's own requests
// wait less in a rate limiter than the controller's.
const scaleClientQPS = 500

// scaleEnv is one mode of TestScale: its namespace, Harbor double, controller process
// and measurements.
type scaleEnv struct {
	t         *testing.T
	ctx       context.Context
	mode      string
	ns        string
	clock     *clocktesting.FakeClock
	harbor    *harbortest.Server
	robot     string
	pipeline  pipelineclient.Interface
	runLister customrunlisters.CustomRunLister
	tracker   *runTracker
	proc      *process
	memory    *memorySampler
	ports     scalePorts
	// qps and burst are the controller's client rate limits, as the table shows them.
	qps, burst string
	// workers is the controller's number of workers, as the table shows it.
	workers string
}

// scalePorts are the controller's loopback ports.
type scalePorts struct {
	webhook, metrics, pprof int
}

// scaleSource is one run's source image and the name of the run that publishes it.
type scaleSource struct {
	run    string
	ref    string
	digest string
}

// buildScaleController builds test/integration/scalecontroller into a temporary folder.
func buildScaleController(t *testing.T) string {
	t.Helper()
	binary := filepath.Join(t.TempDir(), "scalecontroller")
	cmd := exec.Command("go", "build", "-tags", "integration scale", "-o", binary,
		"./test/integration/scalecontroller")
	cmd.Dir = tier.root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the scale controller: %v\n%s", err, out)
	}
	return binary
}

// newScaleEnv starts the double, the namespace and the controller process for one mode.
// Everything stops when the subtest ends.
func newScaleEnv(t *testing.T, binary, mode string) *scaleEnv {
	t.Helper()
	s := &scaleEnv{t: t, ctx: t.Context(), mode: mode, ns: namespaceName(t),
		clock: clocktesting.NewFakeClock(time.Now())}
	marks := tier.logMarks()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("end of the controller log:\n%s", logTail(s.logPath(), 0, 16<<10))
			var logs strings.Builder
			tier.dumpLogs(&logs, marks)
			t.Logf("logs of the tier written during the test:\n%s", logs.String())
		}
	})
	s.startHarbor()
	s.createNamespace()
	ports, err := freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	s.ports = scalePorts{webhook: ports[0], metrics: ports[1], pprof: ports[2]}
	if mode == scaleModeWebhooks {
		s.enableWebhooks()
	}
	s.startController(binary)
	s.startTracker()
	return s
}

func (s *scaleEnv) startHarbor() {
	s.t.Helper()
	fixture, err := harbortest.ParseFixture([]byte(scaleFixture))
	if err != nil {
		s.t.Fatal(err)
	}
	if s.robot, err = randomHex(16); err != nil {
		s.t.Fatal(err)
	}
	s.harbor, err = harbortest.New(
		harbortest.WithClock(s.clock),
		harbortest.WithFixture(fixture),
		harbortest.WithProject(harbortest.Project{Name: scaleTargetProject,
			Metadata: map[string]string{"auto_scan": "true"}}),
		harbortest.WithProject(harbortest.Project{Name: scaleSourceProject, Public: true}),
		harbortest.WithRobot(scaleTargetProject, scaleRobot, s.robot),
	)
	if err != nil {
		s.t.Fatalf("starting the Harbor double: %v", err)
	}
	s.t.Cleanup(func() {
		if err := s.harbor.Close(); err != nil {
			s.t.Errorf("stopping the Harbor double: %v", err)
		}
	})
}

// createNamespace creates the runs' namespace and the robot's credentials in it.
func (s *scaleEnv) createNamespace() {
	s.t.Helper()
	kube := tier.kube
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.ns}}
	if _, err := kube.CoreV1().Namespaces().Create(s.ctx, ns, metav1.CreateOptions{}); err != nil {
		s.t.Fatalf("creating namespace %s: %v", s.ns, err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: credentialsName},
		Type:       corev1.SecretTypeBasicAuth,
		Data: map[string][]byte{
			imagegate.SecretKeyUsername: []byte(harbortest.RobotName(scaleTargetProject,
				scaleRobot)),
			imagegate.SecretKeyPassword: []byte(s.robot),
		},
	}
	if _, err := kube.CoreV1().Secrets(s.ns).Create(s.ctx, secret,
		metav1.CreateOptions{}); err != nil {
		s.t.Fatalf("creating Secret %s/%s: %v", s.ns, secret.Name, err)
	}
	config := rest.CopyConfig(tier.admin)
	config.QPS, config.Burst = scaleClientQPS, 2*scaleClientQPS
	var err error
	if s.pipeline, err = pipelineclient.NewForConfig(config); err != nil {
		s.t.Fatal(err)
	}
}

// enableWebhooks creates the controller's webhook Secret and subscribes the controller's
// receiver to the target project's scan events.
func (s *scaleEnv) enableWebhooks() {
	s.t.Helper()
	authorization, err := randomHex(16)
	if err != nil {
		s.t.Fatal(err)
	}
	secrets := tier.kube.CoreV1().Secrets(gateNamespace)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: imagegate.DefaultWebhookSecretName},
		Data:       map[string][]byte{imagegate.WebhookSecretKey: []byte(authorization)},
	}
	if _, err := secrets.Create(s.ctx, secret, metav1.CreateOptions{}); err != nil {
		s.t.Fatalf("creating Secret %s/%s: %v", gateNamespace, secret.Name, err)
	}
	s.t.Cleanup(func() {
		err := secrets.Delete(context.Background(), secret.Name, metav1.DeleteOptions{})
		if err != nil {
			s.t.Errorf("deleting Secret %s/%s: %v", gateNamespace, secret.Name, err)
		}
	})
	_, err = s.harbor.AddWebhookPolicy(scaleTargetProject, models.WebhookPolicy{
		Name:    "harbor-gate",
		Enabled: true,
		EventTypes: []string{harbortest.EventScanningCompleted,
			harbortest.EventScanningFailed, harbortest.EventScanningStopped},
		Targets: []*models.WebhookTargetObject{{
			Type: "http", Address: "http://" + loopback(s.ports.webhook) + "/",
			AuthHeader: authorization, PayloadFormat: harbortest.PayloadFormatDefault,
		}},
	})
	if err != nil {
		s.t.Fatalf("adding the webhook policy: %v", err)
	}
}

// Environment variables of the controller that knative.dev/pkg's sharedmain reads.
const (
	envWorkers   = "K_THREADS_PER_CONTROLLER"
	envKubeQPS   = "KUBE_API_QPS"
	envKubeBurst = "KUBE_API_BURST"
)

// shippedControllerEnv returns the workers and client rate limits that
// config/500-controller.yaml sets, so the scale controller runs with the shipped values
// unless an environment variable of the test overrides them.
func shippedControllerEnv(t *testing.T) map[string]string {
	t.Helper()
	file := filepath.Join(tier.root, "config", "500-controller.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var deployment appsv1.Deployment
		if err := decoder.Decode(&deployment); err != nil {
			t.Fatalf("no Deployment with the variables %s, %s and %s in %s: %v", envWorkers,
				envKubeQPS, envKubeBurst, file, err)
		}
		if deployment.Kind != "Deployment" || len(deployment.Spec.Template.Spec.Containers) == 0 {
			continue
		}
		env := map[string]string{}
		for _, e := range deployment.Spec.Template.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		if env[envWorkers] != "" && env[envKubeQPS] != "" && env[envKubeBurst] != "" {
			return env
		}
	}
}

// startController starts the controller process as the controller's ServiceAccount.
func (s *scaleEnv) startController(binary string) {
	s.t.Helper()
	dir := s.t.TempDir()
	kubeconfig := filepath.Join(dir, "controller.kubeconfig")
	if err := writeKubeconfig(kubeconfig, tier.gateConfig); err != nil {
		s.t.Fatal(err)
	}
	env := append(baseEnv(), "SYSTEM_NAMESPACE="+gateNamespace)
	shipped := shippedControllerEnv(s.t)
	s.qps = envString(scaleQPSEnv, shipped[envKubeQPS])
	s.burst = envString(scaleBurstEnv, shipped[envKubeBurst])
	s.workers = envString(scaleWorkersEnv, shipped[envWorkers])
	env = append(env, envKubeQPS+"="+s.qps, envKubeBurst+"="+s.burst,
		envWorkers+"="+s.workers)
	proc, err := startProcess(s.logName(), tier.logDir, env, binary,
		"-kubeconfig="+kubeconfig,
		"-webhook-addr="+loopback(s.ports.webhook),
		"-metrics-addr="+loopback(s.ports.metrics),
		"-pprof-addr="+loopback(s.ports.pprof))
	if err != nil {
		s.t.Fatal(err)
	}
	s.proc = proc
	s.t.Cleanup(proc.stop)
	s.memory = startMemorySampler(proc.cmd.Process.Pid)
	s.t.Cleanup(func() { s.memory.stop() })
}

func (s *scaleEnv) logName() string { return "scale-controller-" + s.mode }

func (s *scaleEnv) logPath() string { return filepath.Join(tier.logDir, s.logName()+".log") }

// pushSources pushes n distinct small images to the public source project, eight at a
// time. Harbor keys scan reports by digest, so each run needs an image of its own.
func (s *scaleEnv) pushSources(n int) []scaleSource {
	s.t.Helper()
	admin := &authn.Basic{Username: harbortest.DefaultAdminUser,
		Password: harbortest.DefaultAdminPassword}
	sources := make([]scaleSource, n)
	group, ctx := errgroup.WithContext(s.ctx)
	group.SetLimit(8)
	for i := range sources {
		group.Go(func() error {
			img, err := random.Image(512, 1)
			if err != nil {
				return err
			}
			digest, err := img.Digest()
			if err != nil {
				return err
			}
			ref, err := name.ParseReference(fmt.Sprintf("%s/%s/src-%04d:v1", s.harbor.Host(),
				scaleSourceProject, i))
			if err != nil {
				return err
			}
			if err := remote.Write(ref, img, remote.WithAuth(admin),
				remote.WithContext(ctx)); err != nil {
				return fmt.Errorf("pushing source %s: %w", ref, err)
			}
			sources[i] = scaleSource{run: fmt.Sprintf("app-%04d", i),
				ref: ref.Context().Digest(digest.String()).String(), digest: digest.String()}
			return nil
		})
	}
	if err := group.Wait(); err != nil {
		s.t.Fatal(err)
	}
	return sources
}

// createRuns creates one CustomRun per source, without signing, each publishing to a
// repository of its own in the target project.
func (s *scaleEnv) createRuns(sources []scaleSource) {
	s.t.Helper()
	spec, err := json.Marshal(v1alpha1.ImageGateSpec{
		Harbor:  v1alpha1.HarborSpec{URL: s.harbor.URL(), CredentialsSecret: credentialsName},
		Signing: v1alpha1.SigningSpec{Skip: true},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	group, ctx := errgroup.WithContext(s.ctx)
	group.SetLimit(16)
	for _, src := range sources {
		group.Go(func() error {
			return s.createRun(ctx, src, spec)
		})
	}
	if err := group.Wait(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *scaleEnv) createRun(ctx context.Context, src scaleSource, spec []byte) error {
	target := fmt.Sprintf("%s/%s/%s:build-1", s.harbor.Host(), scaleTargetProject, src.run)
	run := &v1beta1.CustomRun{
		ObjectMeta: metav1.ObjectMeta{Name: src.run, Namespace: s.ns},
		Spec: v1beta1.CustomRunSpec{
			CustomSpec: &v1beta1.EmbeddedCustomRunSpec{
				TypeMeta: runtime.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(),
					Kind: v1alpha1.Kind},
				Spec: runtime.RawExtension{Raw: spec},
			},
			Params: v1beta1.Params{
				{Name: imagegate.ParamSource, Value: *v1beta1.NewStructuredValues(src.ref)},
				{Name: imagegate.ParamTarget, Value: *v1beta1.NewStructuredValues(target)},
			},
			Timeout: &metav1.Duration{Duration: 30 * time.Minute},
		},
	}
	_, err := s.pipeline.TektonV1beta1().CustomRuns(s.ns).Create(ctx, run,
		metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating CustomRun %s/%s: %w", s.ns, src.run, err)
	}
	return nil
}

// cpuProfileDuration is how long the CPU profile of the verdict phase runs.
const cpuProfileDuration = 30 * time.Second

// saveCPUProfile starts a CPU profile of the controller that runs for duration and stores
// it like saveHeapProfile. The returned channel is closed once the profile is stored.
func (s *scaleEnv) saveCPUProfile(duration time.Duration) <-chan struct{} {
	done := make(chan struct{})
	path := fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(duration.Seconds()))
	go func() {
		defer close(done)
		data, err := s.get(s.ports.pprof, path)
		if err != nil {
			s.t.Logf("reading the CPU profile: %v", err)
			return
		}
		s.saveProfile("cpu", data)
	}()
	return done
}

// saveHeapProfile stores the controller's heap profile with saveProfile, for
// "go tool pprof".
func (s *scaleEnv) saveHeapProfile() {
	s.t.Helper()
	data, err := s.get(s.ports.pprof, "/debug/pprof/heap")
	if err != nil {
		s.t.Logf("reading the heap profile: %v", err)
		return
	}
	s.saveProfile("heap", data)
}

// saveProfile writes a pprof profile to the system's temporary folder, where it outlives
// the test, and names the file in the test log.
func (s *scaleEnv) saveProfile(kind string, data []byte) {
	file := filepath.Join(os.TempDir(), fmt.Sprintf("harbor-gate-scale-%s-%s-%s.pb.gz",
		s.mode, kind, time.Now().UTC().Format("20060102T150405")))
	if err := os.WriteFile(file, data, 0o644); err != nil {
		s.t.Logf("writing the %s profile: %v", kind, err)
		return
	}
	s.t.Logf("%s profile of the %s controller: %s", kind, s.mode, file)
}
