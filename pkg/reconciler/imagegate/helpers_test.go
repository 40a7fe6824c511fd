package imagegate

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	fakepipelineclient "github.com/tektoncd/pipeline/pkg/client/injection/client/fake"
	fakecustomruninformer "github.com/tektoncd/pipeline/pkg/client/injection/informers/pipeline/v1beta1/customrun/fake"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	fakekubeclient "knative.dev/pkg/client/injection/kube/client/fake"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	fakedynamicclient "knative.dev/pkg/injection/clients/dynamicclient/fake"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/reconciler"
	rtesting "knative.dev/pkg/reconciler/testing"

	"github.com/druppie/harbor-gate/internal/koimage"
	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

const (
	namespace      = "builds"
	project        = "team"
	robotName      = "ci"
	robotSecret    = "s3cr3t-robot-Zq81"
	keyPassword    = "s3cr3t-key-Pw77"
	credentialsRef = "harbor-robot"
	keyRef         = "cosign-key"
	gateName       = "platform-gate"
	runName        = "gate-run"
	// privateProject holds sources that only sourceUser may pull.
	privateProject = "private"
	sourceUser     = "builder"
	sourcePassword = "s3cr3t-builder-Hn52"
)

// testKeys is one cosign key pair for the whole test binary, because generating and
// decrypting keys is slow.
var testKeys *cosign.KeysBytes

func TestMain(m *testing.M) {
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) {
		return []byte(keyPassword), nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "generating a cosign key pair:", err)
		os.Exit(1)
	}
	testKeys = keys
	os.Exit(m.Run())
}

// testFixture makes scans finish within 150ms of the fake clock. Repositories named
// *vulnerable* get a Critical and a Low finding, *medium* one Medium finding, *stuck*
// never leave Running, and *slow* stay Running for 20s.
const testFixture = `
pending: 50ms
running: 100ms
rules:
  - repository: "*/*vulnerable*"
    vulnerabilities:
      - {id: CVE-2024-0001, package: openssl, version: 3.0.0, fix_version: 3.0.1, severity: Critical}
      - {id: CVE-2024-0002, package: zlib, version: 1.2.0, severity: Low}
  - repository: "*/*medium*"
    vulnerabilities:
      - {id: CVE-2024-0003, package: curl, version: 8.0.0, severity: Medium}
  - repository: "*/*stuck*"
    status: Running
  - repository: "*/*slow*"
    running: 20s
`

// env is one test's Harbor double, source image, fake clients and controller.
type env struct {
	t        *testing.T
	ctx      context.Context
	clock    *clocktesting.FakeClock
	srv      *harbortest.Server
	impl     *controller.Impl
	r        *Reconciler
	defaults map[string]string
	// logs contains every entry that the controller logged through the context's logger.
	logs *observer.ObservedLogs
	// webhookSecret is the receiver's secret, or "" when the env has no webhook Secret.
	webhookSecret string
	// webhookURL is where the controller's receiver listens, or "" without webhooks.
	webhookURL string
	// webhookListener makes newImpl serve the receiver on a new loopback port.
	webhookListener bool
	// source is the source image reference in the double's public "staging" project.
	source string
	digest string
}

// envOption changes an env before its controller is built.
type envOption func(*envConfig)

type envConfig struct {
	gates    []*v1alpha1.ImageGate
	secrets  []*corev1.Secret
	defaults map[string]string
	// webhookSecret, when set, is stored in the webhook Secret of the controller's
	// namespace, and the controller serves its receiver on a loopback port.
	webhookSecret string
	// webhookListener serves the receiver without a webhook Secret when set.
	webhookListener bool
	// harborOptions are added to the Harbor double's options.
	harborOptions []harbortest.Option
}

// withHarbor adds options to the Harbor double of the env.
func withHarbor(opts ...harbortest.Option) envOption {
	return func(c *envConfig) { c.harborOptions = append(c.harborOptions, opts...) }
}

func withImageGates(gates ...*v1alpha1.ImageGate) envOption {
	return func(c *envConfig) { c.gates = gates }
}

func withSecrets(secrets ...*corev1.Secret) envOption {
	return func(c *envConfig) { c.secrets = secrets }
}

func withDefaults(data map[string]string) envOption {
	return func(c *envConfig) { c.defaults = data }
}

// withWebhooks gives the controller a webhook Secret with the value secret and a
// receiver on a loopback port. An empty secret starts the listener without the Secret.
func withWebhooks(secret string) envOption {
	return func(c *envConfig) {
		c.webhookSecret = secret
		c.webhookListener = true
	}
}

// systemNamespace is the controller's namespace in tests.
const systemNamespace = "harbor-gate"

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	clock := clocktesting.NewFakeClock(time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC))
	fixture, err := harbortest.ParseFixture([]byte(testFixture))
	if err != nil {
		t.Fatalf("parsing the fixture: %v", err)
	}
	var harborCfg envConfig
	for _, opt := range opts {
		opt(&harborCfg)
	}
	srv, err := harbortest.New(append([]harbortest.Option{
		harbortest.WithClock(clock),
		harbortest.WithFixture(fixture),
		harbortest.WithProject(harbortest.Project{Name: project}),
		harbortest.WithProject(harbortest.Project{Name: "staging", Public: true}),
		harbortest.WithProject(harbortest.Project{Name: privateProject}),
		harbortest.WithRobot(project, robotName, robotSecret),
		harbortest.WithUser(sourceUser, sourcePassword, privateProject),
	}, harborCfg.harborOptions...)...)

	if err != nil {
		t.Fatalf("starting the Harbor double: %v", err)
	}
	t.Cleanup(func() { srv.Close() })

	e := &env{t: t, clock: clock, srv: srv}
	e.pushSource()

	cfg := envConfig{
		gates:   []*v1alpha1.ImageGate{e.imageGate(gateName, nil)},
		secrets: []*corev1.Secret{credentialsSecret(), keySecret(keyPassword)},
		defaults: map[string]string{
			"grace-period": "2s", "poll-interval": "1s", "max-poll-interval": "5s",
		},
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	e.defaults = cfg.defaults
	e.webhookSecret = cfg.webhookSecret
	e.startController(cfg)
	return e
}

// pushSource pushes a small ko-style image of random content to staging/app:v1.
func (e *env) pushSource() {
	e.t.Helper()
	bin := filepath.Join(e.t.TempDir(), "app")
	data := make([]byte, 32<<10)
	if _, err := rand.Read(data); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		e.t.Fatal(err)
	}
	img, err := koimage.Build(bin, map[string]string{"test": e.t.Name()})
	if err != nil {
		e.t.Fatalf("building the source image: %v", err)
	}
	e.source = e.srv.Host() + "/staging/app:v1"
	ref, err := name.ParseReference(e.source)
	if err != nil {
		e.t.Fatal(err)
	}
	admin := &authn.Basic{Username: harbortest.DefaultAdminUser,
		Password: harbortest.DefaultAdminPassword}
	if err := remote.Write(ref, img, remote.WithAuth(admin)); err != nil {
		e.t.Fatalf("pushing the source image: %v", err)
	}
	digest, err := img.Digest()
	if err != nil {
		e.t.Fatal(err)
	}
	e.digest = digest.String()
}

func (e *env) startController(cfg envConfig) {
	core, logs := observer.New(zapcore.DebugLevel)
	ctx, cancel, _ := rtesting.SetupFakeContextWithCancel(e.t,
		func(ctx context.Context) context.Context {
			tee := zapcore.NewTee(logging.FromContext(ctx).Desugar().Core(), core)
			return logging.WithLogger(ctx, zap.New(tee).Sugar())
		})
	e.t.Cleanup(cancel)
	e.logs = logs

	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		e.t.Fatal(err)
	}
	objects := make([]runtime.Object, 0, len(cfg.gates))
	for _, g := range cfg.gates {
		objects = append(objects, g)
	}
	ctx, _ = fakedynamicclient.With(ctx, scheme, objects...)
	for _, s := range cfg.secrets {
		e.createSecret(ctx, s)
	}
	if cfg.webhookSecret != "" {
		e.createSecret(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: DefaultWebhookSecretName,
				Namespace: systemNamespace},
			Data: map[string][]byte{WebhookSecretKey: []byte(cfg.webhookSecret + "\n")},
		})
	}
	e.ctx = ctx
	e.webhookListener = cfg.webhookListener
	e.impl = e.newImpl()
}

// newImpl builds a controller on the env's fake clients, as a restarted controller would.
func (e *env) newImpl() *controller.Impl {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.DefaultsConfigName,
			Namespace: systemNamespace},
		Data: e.defaults,
	}
	cfg := controllerConfig{clock: e.clock, namespace: systemNamespace}
	if e.webhookListener {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			e.t.Fatal(err)
		}
		cfg.webhooks.Listener = listener
		e.webhookURL = "http://" + listener.Addr().String() + "/"
	}
	impl, r := newController(e.ctx, configmap.NewStaticWatcher(cm), cfg)
	e.r = r
	// Without leader election the generated reconciler skips every key until it is
	// promoted, which sharedmain's leader elector would do.
	leader, ok := impl.Reconciler.(reconciler.LeaderAware)
	if !ok {
		e.t.Fatal("the generated reconciler is not LeaderAware")
	}
	err := leader.Promote(reconciler.UniversalBucket(),
		func(reconciler.Bucket, types.NamespacedName) {})
	if err != nil {
		e.t.Fatalf("promoting the reconciler: %v", err)
	}
	return impl
}

func (e *env) createSecret(ctx context.Context, s *corev1.Secret) {
	e.t.Helper()
	_, err := fakekubeclient.Get(ctx).CoreV1().Secrets(s.Namespace).
		Create(ctx, s, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating Secret %s: %v", s.Name, err)
	}
}

// imageGate returns an ImageGate that points at the double, with edit applied.
func (e *env) imageGate(name string, edit func(*v1alpha1.ImageGateSpec)) *v1alpha1.ImageGate {
	g := &v1alpha1.ImageGate{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(),
			Kind: v1alpha1.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       e.gateSpec(),
	}
	if edit != nil {
		edit(&g.Spec)
	}
	return g
}

func (e *env) gateSpec() v1alpha1.ImageGateSpec {
	return v1alpha1.ImageGateSpec{
		Harbor:  v1alpha1.HarborSpec{URL: e.srv.URL(), CredentialsSecret: credentialsRef},
		Signing: v1alpha1.SigningSpec{KeySecret: keyRef},
	}
}

// credentialsSecret returns the robot's Secret without the keys in omit.
func credentialsSecret(omit ...string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: credentialsRef, Namespace: namespace},
		Data: map[string][]byte{
			SecretKeyUsername: []byte(harbortest.RobotName(project, robotName)),
			SecretKeyPassword: []byte(robotSecret + "\n"),
		},
	}
	for _, key := range omit {
		delete(s.Data, key)
	}
	return s
}

// replaceSecret creates or replaces a Secret in the fake API server.
func (e *env) replaceSecret(s *corev1.Secret) {
	e.t.Helper()
	secrets := fakekubeclient.Get(e.ctx).CoreV1().Secrets(s.Namespace)
	if err := secrets.Delete(e.ctx, s.Name, metav1.DeleteOptions{}); err != nil &&
		!apierrors.IsNotFound(err) {
		e.t.Fatal(err)
	}
	e.createSecret(e.ctx, s)
}

func keySecret(password string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: keyRef, Namespace: namespace},
		Data: map[string][]byte{
			SecretKeyCosignKey:      testKeys.PrivateBytes,
			SecretKeyCosignPassword: []byte(password),
			"cosign.pub":            testKeys.PublicBytes,
		},
	}
}

// target returns the Harbor target for repository in the test project.
func (e *env) target(repository string) string {
	return e.srv.Host() + "/" + project + "/" + repository + ":build-1"
}

// refRun returns a CustomRun that names the ImageGate gateName, with the given params.
func refRun(params ...v1beta1.Param) *v1beta1.CustomRun {
	return &v1beta1.CustomRun{
		ObjectMeta: metav1.ObjectMeta{Name: runName, Namespace: namespace, Generation: 1},
		Spec: v1beta1.CustomRunSpec{
			CustomRef: &v1beta1.TaskRef{APIVersion: v1alpha1.SchemeGroupVersion.String(),
				Kind: v1alpha1.Kind, Name: gateName},
			Params:  params,
			Timeout: &metav1.Duration{Duration: time.Hour},
		},
	}
}

// specRun returns a CustomRun that embeds spec as its customSpec.
func specRun(t *testing.T, spec any, params ...v1beta1.Param) *v1beta1.CustomRun {
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	run := refRun(params...)
	run.Spec.CustomRef = nil
	run.Spec.CustomSpec = &v1beta1.EmbeddedCustomRunSpec{
		TypeMeta: runtime.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(),
			Kind: v1alpha1.Kind},
		Spec: runtime.RawExtension{Raw: raw},
	}
	return run
}

func param(name, value string) v1beta1.Param {
	return v1beta1.Param{Name: name, Value: *v1beta1.NewStructuredValues(value)}
}

// params returns the source and target params for repository, followed by extra.
func (e *env) params(repository string, extra ...v1beta1.Param) []v1beta1.Param {
	return append([]v1beta1.Param{param(ParamSource, e.source),
		param(ParamTarget, e.target(repository))}, extra...)
}

// create stores run in the fake clientset and the informer's cache.
func (e *env) create(run *v1beta1.CustomRun) {
	e.t.Helper()
	_, err := fakepipelineclient.Get(e.ctx).TektonV1beta1().CustomRuns(run.Namespace).
		Create(e.ctx, run, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("creating the CustomRun: %v", err)
	}
	e.syncInformer()
}

// get returns the run as the fake API server stores it.
func (e *env) get() *v1beta1.CustomRun {
	e.t.Helper()
	run, err := fakepipelineclient.Get(e.ctx).TektonV1beta1().CustomRuns(namespace).
		Get(e.ctx, runName, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("reading the CustomRun: %v", err)
	}
	return run
}

// update stores an edited run, as a user or Tekton's PipelineRun controller would.
func (e *env) update(edit func(*v1beta1.CustomRun)) {
	e.t.Helper()
	run := e.get()
	edit(run)
	run.Generation++
	_, err := fakepipelineclient.Get(e.ctx).TektonV1beta1().CustomRuns(namespace).
		Update(e.ctx, run, metav1.UpdateOptions{})
	if err != nil {
		e.t.Fatalf("updating the CustomRun: %v", err)
	}
	e.syncInformer()
}

// syncInformer copies the stored run into the informer's cache, which a running informer
// would do on its own.
func (e *env) syncInformer() {
	e.t.Helper()
	indexer := fakecustomruninformer.Get(e.ctx).Informer().GetIndexer()
	if err := indexer.Update(e.get()); err != nil {
		e.t.Fatal(err)
	}
}

// reconcile runs one reconcile of the run through the generated reconciler, after
// bringing the informer's cache up to date. It returns the requeue delay, if any.
func (e *env) reconcile() (time.Duration, error) {
	e.t.Helper()
	e.syncInformer()
	err := e.impl.Reconciler.Reconcile(e.ctx, namespace+"/"+runName)
	if requeue, delay := controller.IsRequeueKey(err); requeue {
		return delay, nil
	}
	return 0, err
}

// drive reconciles until the run is done or until stop returns true, stepping the fake
// clock by every requeue delay. It fails the test on a reconcile error.
func (e *env) drive(stop func(*v1beta1.CustomRun) bool) *v1beta1.CustomRun {
	e.t.Helper()
	for range 200 {
		run := e.get()
		if run.IsDone() || (stop != nil && stop(run)) {
			return run
		}
		delay, err := e.reconcile()
		if err != nil {
			e.t.Fatalf("reconcile failed: %v\ncondition: %+v", err,
				e.get().Status.GetCondition("Succeeded"))
		}
		e.clock.Step(delay)
	}
	e.t.Fatalf("the run did not finish in 200 reconciles; status: %+v", e.get().Status)
	return nil
}

// events returns the reasons of the Events recorded so far, in order.
func (e *env) events() []string {
	recorder := controller.GetEventRecorder(e.ctx).(*record.FakeRecorder)
	var reasons []string
	for {
		select {
		case event := <-recorder.Events:
			fields := strings.Fields(event)
			if len(fields) > 1 {
				reasons = append(reasons, fields[1])
			}
		default:
			return reasons
		}
	}
}

// extraFields decodes the run's status.extraFields.
func extraFields(t *testing.T, run *v1beta1.CustomRun) ExtraFields {
	t.Helper()
	var fields ExtraFields
	if err := run.Status.DecodeExtraFields(&fields); err != nil {
		t.Fatalf("decoding status.extraFields: %v", err)
	}
	return fields
}
