//go:build integration && scale

// Command scalecontroller runs the harbor-gate controller as its own process for the
// scale test. The test then samples the memory of the controller alone from /proc, while
// the Harbor double and the test's clients stay in the test process.
//
// It builds the controller the way cmd/controller does through knative's sharedmain, with
// the same constructor, informers, work queue and client rate limits, but every server it
// starts listens on the loopback address that a flag names. sharedmain binds its health
// probes to :8080, where the Tekton controller of the integration tier already listens,
// and its profiling server to all interfaces. Leader election is off, so the controller
// reconciles every key, as sharedmain's -disable-ha does.
//
// Flags:
//
//	-kubeconfig   kubeconfig of the controller's ServiceAccount
//	-webhook-addr address of the Harbor webhook receiver, such as 127.0.0.1:8090
//	-metrics-addr address of the Prometheus metrics endpoint (/metrics)
//	-pprof-addr   address of net/http/pprof (/debug/pprof/)
//
// SYSTEM_NAMESPACE names the controller's namespace, as in config/500-controller.yaml.
// KUBE_API_QPS and KUBE_API_BURST set the client's rate limits; when unset they are 5 and
// 10, what sharedmain gives one controller. K_THREADS_PER_CONTROLLER sets the number of
// workers, 2 when unset, as in sharedmain. TestScale sets all three to the values of
// config/500-controller.yaml unless its own environment variables override them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientmetrics "k8s.io/client-go/tools/metrics"
	"k8s.io/client-go/util/workqueue"
	kubeclient "knative.dev/pkg/client/injection/kube/client"
	cminformer "knative.dev/pkg/configmap/informer"
	"knative.dev/pkg/controller"
	"knative.dev/pkg/injection"
	"knative.dev/pkg/logging"
	"knative.dev/pkg/observability/metrics"
	k8smetrics "knative.dev/pkg/observability/metrics/k8s"
	"knative.dev/pkg/signals"
	"knative.dev/pkg/system"

	"github.com/druppie/harbor-gate/pkg/reconciler/imagegate"
)

// serverReadTimeout bounds how long the pprof server waits for request headers.
const serverReadTimeout = 15 * time.Second

type flags struct {
	kubeconfig  string
	webhookAddr string
	metricsAddr string
	pprofAddr   string
}

func main() {
	var f flags
	flag.StringVar(&f.kubeconfig, "kubeconfig", "", "path of the controller's kubeconfig")
	flag.StringVar(&f.webhookAddr, "webhook-addr", "127.0.0.1:8090",
		"loopback host:port of the Harbor webhook receiver")
	flag.StringVar(&f.metricsAddr, "metrics-addr", "127.0.0.1:9090",
		"loopback host:port of the Prometheus metrics endpoint")
	flag.StringVar(&f.pprofAddr, "pprof-addr", "127.0.0.1:8008",
		"loopback host:port of net/http/pprof")
	flag.Parse()
	if err := run(signals.NewContext(), f); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, f flags) error {
	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	if value := os.Getenv("K_THREADS_PER_CONTROLLER"); value != "" {
		threads, err := strconv.Atoi(value)
		if err != nil || threads < 1 {
			return fmt.Errorf("invalid K_THREADS_PER_CONTROLLER %q: use a positive whole "+
				"number", value)
		}
		controller.DefaultThreadsPerController = threads
	}
	logger, err := zap.NewProduction()
	if err != nil {
		return fmt.Errorf("creating the logger: %w", err)
	}
	defer logger.Sync()
	ctx = logging.WithLogger(ctx, logger.Sugar().Named(imagegate.ControllerName))

	provider, err := metrics.NewMeterProvider(ctx, metrics.Config{
		Protocol: metrics.ProtocolPrometheus, Endpoint: f.metricsAddr})
	if err != nil {
		return fmt.Errorf("starting the metrics endpoint on %s: %w", f.metricsAddr, err)
	}
	defer provider.Shutdown(context.Background())
	queueMetrics, err := k8smetrics.NewWorkqueueMetricsProvider(
		k8smetrics.WithMeterProvider(provider))
	if err != nil {
		return fmt.Errorf("creating the work queue metrics: %w", err)
	}
	workqueue.SetProvider(queueMetrics)
	controller.SetMetricsProvider(queueMetrics)
	if err := registerClientMetrics(provider); err != nil {
		return err
	}
	go servePprof(ctx, f.pprofAddr, logger.Sugar())

	ctx = injection.WithConfig(ctx, cfg)
	ctx, informers := injection.Default.SetupInformers(ctx, cfg)
	cmw := cminformer.NewInformedWatcher(kubeclient.Get(ctx), system.Namespace())
	impl := imagegate.NewControllerWithWebhooks(imagegate.WebhookOptions{Addr: f.webhookAddr})(
		ctx, cmw)
	if err := cmw.Start(ctx.Done()); err != nil {
		return fmt.Errorf("starting the ConfigMap watcher: %w", err)
	}
	if err := controller.StartInformers(ctx.Done(), informers...); err != nil {
		return fmt.Errorf("starting the informers: %w", err)
	}
	logger.Info("harbor-gate controller started")
	return controller.StartAll(ctx, impl)
}

// registerClientMetrics records client-go's request results and latencies, as sharedmain
// does, plus the time each request waited in the client-side rate limiter as
// scale_client_rate_limiter_duration_seconds, which sharedmain leaves out.
func registerClientMetrics(provider metric.MeterProvider) error {
	clientMetrics, err := k8smetrics.NewClientMetricProvider(
		k8smetrics.WithMeterProvider(provider))
	if err != nil {
		return fmt.Errorf("creating the client metrics: %w", err)
	}
	wait, err := provider.Meter(meterName).Float64Histogram("scale.client.rate_limiter.duration",
		metric.WithDescription("Time a request waited in the client-side rate limiter"),
		metric.WithUnit("s"))
	if err != nil {
		return fmt.Errorf("creating the rate limiter metric: %w", err)
	}
	clientmetrics.Register(clientmetrics.RegisterOpts{
		RequestLatency:     clientMetrics.RequestLatencyMetric(),
		RequestResult:      clientMetrics.RequestResultMetric(),
		RateLimiterLatency: rateLimiterWait{histogram: wait},
	})
	return nil
}

// meterName is the instrumentation scope of the metrics this command adds.
const meterName = "github.com/druppie/harbor-gate/test/integration/scalecontroller"

// rateLimiterWait records client-go's rate limiter latency by HTTP verb.
type rateLimiterWait struct {
	histogram metric.Float64Histogram
}

// Observe records one request's wait.
func (w rateLimiterWait) Observe(ctx context.Context, verb string, _ url.URL,
	latency time.Duration) {
	w.histogram.Record(ctx, latency.Seconds(),
		metric.WithAttributes(attribute.String("verb", verb)))
}

// restConfig loads the kubeconfig and applies the rate limits that sharedmain would.
func restConfig(kubeconfig string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %q: %w", kubeconfig, err)
	}
	qps, err := envFloat("KUBE_API_QPS", float64(rest.DefaultQPS))
	if err != nil {
		return nil, err
	}
	burst, err := envFloat("KUBE_API_BURST", float64(rest.DefaultBurst))
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = float32(qps), int(burst)
	return cfg, nil
}

func envFloat(name string, fallback float64) (float64, error) {
	value := os.Getenv(name)
	if value == "" {
		return fallback, nil
	}
	parsed, err := strconv.ParseFloat(value, 64)
	if err != nil || parsed <= 0 {
		return 0, fmt.Errorf("invalid %s %q: use a positive number", name, value)
	}
	return parsed, nil
}

// servePprof serves net/http/pprof on addr until ctx ends.
func servePprof(ctx context.Context, addr string, logger *zap.SugaredLogger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		logger.Errorw("Profiling is disabled because its server cannot listen",
			zap.String("addr", addr), zap.Error(err))
		return
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: serverReadTimeout}
	go func() {
		<-ctx.Done()
		server.Close()
	}()
	if err := server.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
		logger.Errorw("The profiling server stopped", zap.String("addr", addr), zap.Error(err))
	}
}
