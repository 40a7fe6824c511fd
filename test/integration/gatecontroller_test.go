//go:build integration

package integration

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	kubeclient "knative.dev/pkg/client/injection/kube/client"
	cminformer "knative.dev/pkg/configmap/informer"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/injection"
	"knative.dev/pkg/logging"

	"github.com/druppie/harbor-gate/pkg/reconciler/imagegate"
)

// Identity of the harbor-gate controller, as config/ declares it.
const (
	gateNamespace      = "harbor-gate"
	gateServiceAccount = "harbor-gate-controller"
)

// gateTokenLifetime is the lifetime of the controller's ServiceAccount token. It outlasts
// any run of the tier.
const gateTokenLifetime = 6 * time.Hour

// gateController is one instance of the harbor-gate controller running in the test
// process, as a restarted Pod would run it: its own informers, work queue and clients.
type gateController struct {
	cancel context.CancelFunc
	// done receives the result of controller.StartAll once the workers have stopped.
	done chan error
}

// serviceAccountConfig returns a rest.Config for the server of admin that authenticates
// with a fresh token of the controller's ServiceAccount, so that requests are authorized
// by the RBAC in config/ only.
func serviceAccountConfig(ctx context.Context, admin *rest.Config) (*rest.Config, error) {
	kube, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	seconds := int64(gateTokenLifetime / time.Second)
	token, err := kube.CoreV1().ServiceAccounts(gateNamespace).CreateToken(ctx,
		gateServiceAccount, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds},
		}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("requesting a token for ServiceAccount %s/%s: %w", gateNamespace,
			gateServiceAccount, err)
	}
	cfg := rest.AnonymousClientConfig(admin)
	cfg.BearerToken = token.Status.Token
	cfg.QPS, cfg.Burst = admin.QPS, admin.Burst
	return cfg, nil
}

// startGateController builds the controller the way knative's sharedmain does, minus
// leader election, health probes and metrics, and starts it. Without a leader elector in
// the context the controller promotes itself for every key.
func startGateController(parent context.Context, cfg *rest.Config,
	logger *zap.SugaredLogger) (*gateController, error) {
	ctx, cancel := context.WithCancel(parent)
	ctx = logging.WithLogger(ctx, logger)
	ctx = injection.WithConfig(ctx, cfg)
	ctx, informers := injection.Default.SetupInformers(ctx, cfg)

	cmw := cminformer.NewInformedWatcher(kubeclient.Get(ctx), gateNamespace)
	impl := imagegate.NewController(ctx, cmw)
	if err := cmw.Start(ctx.Done()); err != nil {
		cancel()
		return nil, fmt.Errorf("starting the ConfigMap watcher in %s: %w", gateNamespace, err)
	}
	if err := controller.StartInformers(ctx.Done(), informers...); err != nil {
		cancel()
		return nil, fmt.Errorf("starting the informers: %w", err)
	}
	g := &gateController{cancel: cancel, done: make(chan error, 1)}
	go func() { g.done <- controller.StartAll(ctx, impl) }()
	logger.Info("harbor-gate controller started")
	return g, nil
}

// stop cancels the controller and returns once its workers have finished their current
// reconcile, so that nothing of it acts on the cluster afterwards.
func (g *gateController) stop() error {
	g.cancel()
	return <-g.done
}
