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
	"knative.dev/pkg/injection/clients/dynamicclient"
	"knative.dev/pkg/logging"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
	"github.com/druppie/harbor-gate/pkg/reconciler/imagegate/config"
)

// ControllerName names the controller in logs, leader election and the source of its
// Events.
const ControllerName = "harbor-gate-controller"

// NewController returns the controller for ImageGate CustomRuns. It watches CustomRuns
// and the ConfigMap config-harbor-gate through cmw, reads ImageGates by name through the
// dynamic client, and reads Secrets by name only, never listing or watching them.
func NewController(ctx context.Context, cmw configmap.Watcher) *controller.Impl {
	return newController(ctx, cmw, clock.RealClock{})
}

func newController(ctx context.Context, cmw configmap.Watcher, clk clock.Clock) *controller.Impl {
	logger := logging.FromContext(ctx)
	runInformer := customruninformer.Get(ctx)
	r := &Reconciler{
		kubeClient:     kubeclient.Get(ctx),
		dynamicClient:  dynamicclient.Get(ctx),
		pipelineClient: pipelineclient.Get(ctx),
		runLister:      runInformer.Lister(),
		clock:          clk,
	}
	impl := customrunreconciler.NewImpl(ctx, r, func(*controller.Impl) controller.Options {
		store := config.NewStore(logger.Named("config-store"))
		store.WatchConfigs(cmw)
		return controller.Options{
			AgentName:         ControllerName,
			ConfigStore:       store,
			PromoteFilterFunc: IsImageGateRun,
		}
	})
	runInformer.Informer().AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: IsImageGateRun,
		Handler:    controller.HandleAll(impl.Enqueue),
	})
	return impl
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
