package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	fakepipelineclient "github.com/tektoncd/pipeline/pkg/client/injection/client/fake"
	fakecustomruninformer "github.com/tektoncd/pipeline/pkg/client/injection/informers/pipeline/v1beta1/customrun/fake"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	fakekubeclient "knative.dev/pkg/client/injection/kube/client/fake"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/injection"
	fakedynamicclient "knative.dev/pkg/injection/clients/dynamicclient/fake"
	"knative.dev/pkg/logging"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
	"github.com/druppie/harbor-gate/pkg/harbortest"
	"github.com/druppie/harbor-gate/pkg/reconciler/imagegate"
)

// benchController is the controller under measurement with its fake cluster.
type benchController struct {
	ctx        context.Context
	cancel     context.CancelFunc
	srv        *harbortest.Server
	tracker    *doneTracker
	webhookURL string
	stopped    sync.WaitGroup
}

// startController starts the controller with its informers and workers on knative's
// fake clients, as sharedmain would start it, with production defaults for the scan
// wait. With webhooks, it creates the webhook Secret and serves the receiver on a loopback
// port.
func startController(parent context.Context, srv *harbortest.Server, webhooks bool) (
	*benchController, error) {
	ctx, cancel := context.WithCancel(parent)
	ctx = logging.WithLogger(ctx, zap.NewNop().Sugar())
	// A recorder without a channel drops Events, so they cannot fill up and block.
	ctx = controller.WithEventRecorder(ctx, &record.FakeRecorder{})
	ctx = injection.WithConfig(ctx, &rest.Config{})
	ctx, informers := injection.Fake.SetupInformers(ctx, injection.GetConfig(ctx))
	ctx, _ = fakedynamicclient.With(ctx, runtime.NewScheme())
	c := &benchController{ctx: ctx, cancel: cancel, srv: srv, tracker: newDoneTracker()}

	if err := c.createSecrets(webhooks); err != nil {
		cancel()
		return nil, err
	}
	opts := imagegate.WebhookOptions{}
	if webhooks {
		listener, err := listenLoopback()
		if err != nil {
			cancel()
			return nil, err
		}
		opts.Listener = listener
		c.webhookURL = "http://" + listener.Addr().String() + "/"
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: v1alpha1.DefaultsConfigName, Namespace: systemNamespace}}
	impl := imagegate.NewControllerWithWebhooks(opts)(ctx, configmap.NewStaticWatcher(cm))
	fakecustomruninformer.Get(ctx).Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { c.tracker.observe(obj) },
	})
	if err := controller.StartInformers(ctx.Done(), informers...); err != nil {
		cancel()
		return nil, fmt.Errorf("starting the informers: %w", err)
	}
	c.stopped.Add(1)
	go func() {
		defer c.stopped.Done()
		_ = controller.StartAll(ctx, impl)
	}()
	return c, nil
}

// createSecrets stores the robot's credentials and, with webhooks, the webhook Secret.
func (c *benchController) createSecrets(webhooks bool) error {
	secrets := []*corev1.Secret{{
		ObjectMeta: metav1.ObjectMeta{Name: "harbor-robot", Namespace: runNamespace},
		Data: map[string][]byte{
			imagegate.SecretKeyUsername: []byte(harbortest.RobotName(benchProject, robotName)),
			imagegate.SecretKeyPassword: []byte(robotSecret),
		},
	}}
	if webhooks {
		secrets = append(secrets, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: imagegate.DefaultWebhookSecretName,
				Namespace: systemNamespace},
			Data: map[string][]byte{imagegate.WebhookSecretKey: []byte(webhookSecret)},
		})
	}
	kube := fakekubeclient.Get(c.ctx)
	for _, s := range secrets {
		if _, err := kube.CoreV1().Secrets(s.Namespace).Create(c.ctx, s,
			metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating Secret %s: %w", s.Name, err)
		}
	}
	return nil
}

// runAll creates one CustomRun per source, at most concurrency at a time, and waits until
// each is done.
func (c *benchController) runAll(ctx context.Context, sources []string, concurrency int) error {
	slots := make(chan struct{}, concurrency)
	errs := make(chan error, len(sources))
	var wg sync.WaitGroup
	for i, source := range sources {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("starting run %d: %w", i, ctx.Err())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			errs <- c.runOne(ctx, fmt.Sprintf("app-%d", i), source)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// runOne creates a CustomRun named name that publishes source without signing, and waits
// until the informer receives it as done.
func (c *benchController) runOne(ctx context.Context, name, source string) error {
	spec, err := json.Marshal(v1alpha1.ImageGateSpec{
		Harbor:  v1alpha1.HarborSpec{URL: c.srv.URL(), CredentialsSecret: "harbor-robot"},
		Signing: v1alpha1.SigningSpec{Skip: true},
	})
	if err != nil {
		return err
	}
	target := fmt.Sprintf("%s/%s/%s:build-1", c.srv.Host(), benchProject, name)
	run := &v1beta1.CustomRun{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: runNamespace},
		Spec: v1beta1.CustomRunSpec{
			CustomSpec: &v1beta1.EmbeddedCustomRunSpec{
				TypeMeta: runtime.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(),
					Kind: v1alpha1.Kind},
				Spec: runtime.RawExtension{Raw: spec},
			},
			Params: v1beta1.Params{
				{Name: imagegate.ParamSource, Value: *v1beta1.NewStructuredValues(source)},
				{Name: imagegate.ParamTarget, Value: *v1beta1.NewStructuredValues(target)},
			},
			Timeout: &metav1.Duration{Duration: 10 * time.Minute},
		},
	}

	done := c.tracker.expect(name)
	_, err = fakepipelineclient.Get(c.ctx).TektonV1beta1().CustomRuns(runNamespace).
		Create(ctx, run, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating CustomRun %s: %w", name, err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("waiting for CustomRun %s: %w", name, ctx.Err())
	}

	stored, err := fakepipelineclient.Get(c.ctx).TektonV1beta1().CustomRuns(runNamespace).
		Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if cond := stored.Status.GetCondition("Succeeded"); cond == nil || cond.Reason != "Passed" {
		return fmt.Errorf("CustomRun %s ended with %+v, want reason Passed", name, cond)
	}
	return nil
}

// finished returns the runs that the informer saw done.
func (c *benchController) finished() []finishedRun {
	c.tracker.mu.Lock()
	defer c.tracker.mu.Unlock()
	out := make([]finishedRun, 0, len(c.tracker.done))
	for _, run := range c.tracker.done {
		out = append(out, run)
	}
	return out
}

// stop ends the controller and waits for its workers.
func (c *benchController) stop() {
	c.cancel()
	c.stopped.Wait()
}
