package imagegate

import (
	"context"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	pipelineclient "github.com/tektoncd/pipeline/pkg/client/injection/client"
	customruninformer "github.com/tektoncd/pipeline/pkg/client/injection/informers/pipeline/v1beta1/customrun"
	customrunreconciler "github.com/tektoncd/pipeline/pkg/client/injection/reconciler/pipeline/v1beta1/customrun"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	kubeclient "knative.dev/pkg/client/injection/kube/client"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/injection"
	"knative.dev/pkg/injection/clients/dynamicclient"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/system"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
	"github.com/druppie/harbor-gate/pkg/reconciler/imagegate/config"
)

// ControllerName names the controller in logs, leader election and the source of its
// Events.
const ControllerName = "harbor-gate-controller"

// NewController returns the controller for ImageGate CustomRuns without a Harbor webhook
// receiver, so runs wait for scans by polling alone. It watches CustomRuns and the
// ConfigMap config-harbor-gate through cmw, reads ImageGates by name through the dynamic
// client, and reads Secrets by name only, never listing or watching them. When
// config-harbor-gate sets core-sink-url, it sends a CloudEvent for each verdict.
func NewController(ctx context.Context, cmw configmap.Watcher) *controller.Impl {
	return NewControllerWithWebhooks(WebhookOptions{})(ctx, cmw)
}

// NewControllerWithWebhooks returns a constructor, for knative's sharedmain, of the
// controller that NewController returns plus a Harbor webhook receiver configured by
// opts. The constructor reads the webhook Secret from the namespace in SYSTEM_NAMESPACE
// once, and serves the receiver until ctx ends. A delivery wakes the runs that wait for
// its digest, and their polls fall back to webhook-fallback-poll-interval.
func NewControllerWithWebhooks(opts WebhookOptions) injection.ControllerConstructor {
	return func(ctx context.Context, cmw configmap.Watcher) *controller.Impl {
		cfg := controllerConfig{clock: clock.RealClock{}, webhooks: opts}
		if opts.serves() {
			cfg.namespace = system.Namespace()
		}
		impl, _ := newController(ctx, cmw, cfg)
		return impl
	}
}

// controllerConfig contains the settings of newController besides the injected clients.
type controllerConfig struct {
	clock    clock.Clock
	webhooks WebhookOptions
	// namespace is the controller's namespace, which holds the webhook Secret.
	namespace string
}

func newController(ctx context.Context, cmw configmap.Watcher, cfg controllerConfig) (
	*controller.Impl, *Reconciler) {
	logger := logging.FromContext(ctx)
	runInformer := customruninformer.Get(ctx)
	r := &Reconciler{
		kubeClient:     kubeclient.Get(ctx),
		dynamicClient:  dynamicclient.Get(ctx),
		pipelineClient: pipelineclient.Get(ctx),
		runLister:      runInformer.Lister(),
		clock:          cfg.clock,
		webhooks:       newWebhookWaker(logger.Named("webhooks")),
		relay:          newVerdictRelay(logger.Named("relay")),
		secrets:        newSecretCache(cfg.clock, secretCacheTTL),
	}
	impl := customrunreconciler.NewImpl(ctx, r, func(*controller.Impl) controller.Options {
		store := config.NewStore(logger.Named("config-store"), func(_ string, value any) {
			if defaults, ok := value.(*v1alpha1.Defaults); ok {
				r.relay.configure(defaults.CoreSinkURL)
			}
		})
		store.WatchConfigs(cmw)
		return controller.Options{
			AgentName:         ControllerName,
			ConfigStore:       store,
			PromoteFilterFunc: IsImageGateRun,
		}
	})
	r.webhooks.enqueue = impl.EnqueueKey
	startWebhooks(ctx, r.webhooks, r.kubeClient, cfg.namespace, cfg.webhooks)
	go func() {
		<-ctx.Done()
		r.relay.stop()
	}()
	runInformer.Informer().AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: IsImageGateRun,
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    impl.Enqueue,
			UpdateFunc: controller.PassNew(impl.Enqueue),
			DeleteFunc: func(obj any) {
				r.forget(obj)
				impl.Enqueue(obj)
			},
		},
	})
	return impl, r
}

// forget drops the webhook registration of a deleted run, whose last reconcile may never
// have seen it finish.
func (r *Reconciler) forget(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		r.webhooks.unregister(key)
	}
}

// IsImageGateRun reports whether obj is a CustomRun for this controller: its customRef,
// or else its customSpec, names apiVersion harbor.druppie.dev/v1alpha1 and kind ImageGate.
func IsImageGateRun(obj any) bool {
	run, ok := obj.(*v1beta1.CustomRun)
	if !ok {
		return false
	}
	apiVersion := v1alpha1.SchemeGroupVersion.String()
	if ref := run.Spec.CustomRef; ref != nil {
		return ref.APIVersion == apiVersion && string(ref.Kind) == v1alpha1.Kind
	}
	if spec := run.Spec.CustomSpec; spec != nil {
		return spec.APIVersion == apiVersion && spec.Kind == v1alpha1.Kind
	}
	return false
}
