package imagegate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/druppie/harbor-gate/pkg/events"
	"github.com/druppie/harbor-gate/pkg/harbor"
)

// Settings of the Harbor webhook receiver.
const (
	// DefaultWebhookSecretName is the Secret in the controller's namespace whose key
	// WebhookSecretKey holds the value that Harbor sends as the Authorization header.
	DefaultWebhookSecretName = "harbor-gate-webhook"
	// WebhookSecretKey is the key of that Secret. Harbor copies a policy target's
	// auth_header verbatim, so the value includes any scheme, such as "Bearer ...".
	WebhookSecretKey = "authorization"
	// DefaultWebhookPort is the port of the receiver in config/500-controller.yaml.
	DefaultWebhookPort = 8090
)

// Timeouts of the receiver's HTTP server. Harbor v2.13 gives up on a delivery after 3
// seconds, so a request that takes longer has already failed for Harbor.
const (
	webhookReadTimeout  = 5 * time.Second
	webhookWriteTimeout = 5 * time.Second
	webhookIdleTimeout  = time.Minute
	webhookShutdownWait = 5 * time.Second
)

// Keys of the webhook log fields.
const (
	logKeyEventType = "eventType"
	logKeyRuns      = "runs"
	logKeyAddr      = "addr"
)

// WebhookOptions configures the Harbor webhook receiver that the controller serves. The
// receiver runs only when it has somewhere to listen and the Secret exists, and without it
// runs wait by polling alone.
type WebhookOptions struct {
	// Addr is the TCP address of the receiver, such as ":8090". The default, empty, serves
	// no receiver unless Listener is set.
	Addr string
	// Listener, when set, serves the receiver on an open listener in place of Addr, for
	// example a free loopback port in a test. The controller closes it at shutdown.
	Listener net.Listener
	// SecretName names the Secret in the controller's namespace whose key
	// WebhookSecretKey Harbor must send as the Authorization header. The controller reads
	// it once at start. The default, empty, is DefaultWebhookSecretName.
	SecretName string
}

// serves reports whether the options name a place to listen.
func (o WebhookOptions) serves() bool {
	return o.Addr != "" || o.Listener != nil
}

func (o WebhookOptions) secretName() string {
	if o.SecretName == "" {
		return DefaultWebhookSecretName
	}
	return o.SecretName
}

// webhookWaker wakes the runs that wait for a scan when Harbor announces that the scan
// ended. A delivery is only a hint: the woken run reads Harbor again before it decides.
// The verdict never comes from the delivery's own scan overview. One Authorization value
// authenticates deliveries for every namespace, while the read uses the run's
// credentials. The overview also lacks the vulnerability list that allowlists and
// fixable-only policies need.
type webhookWaker struct {
	// enabled is set when the receiver serves deliveries. It never changes after start.
	enabled  bool
	receiver *events.Receiver
	waiters  events.Waiters
	enqueue  func(types.NamespacedName)
	logger   *zap.SugaredLogger

	mu sync.Mutex
	// woken contains the keys of runs that a delivery woke since their last scan poll.
	woken map[string]struct{}
}

func newWebhookWaker(logger *zap.SugaredLogger) *webhookWaker {
	return &webhookWaker{logger: logger, woken: map[string]struct{}{}}
}

// deliver records a wake-up for each run that waits for the delivery's digest and puts
// the run into the work queue. It returns without waiting for the reconcile, because
// Harbor waits for the response.
//
// NOTE: only the leader registers waiting runs. With more than one replica, a delivery
// that the Service routes to another replica wakes nothing, and the run waits for its
// fallback poll.
func (w *webhookWaker) deliver(_ context.Context, d events.Delivery) {
	keys := w.waiters.Lookup(d.Digest)
	w.logger.Debugw("Received a Harbor scan event", zap.String(logKeyEventType, d.EventType),
		zap.String(logKeyDigest, d.Digest), zap.Strings(logKeyRuns, keys))
	for _, key := range keys {
		namespace, name, err := cache.SplitMetaNamespaceKey(key)
		if err != nil {
			continue
		}
		w.mu.Lock()
		w.woken[key] = struct{}{}
		w.mu.Unlock()
		w.enqueue(types.NamespacedName{Namespace: namespace, Name: name})
	}
}

// register records that the run key waits for the scans of digests. It does nothing while
// webhooks are disabled.
func (w *webhookWaker) register(key string, digests []string) {
	if !w.enabled || len(digests) == 0 {
		return
	}
	w.waiters.Register(key, digests[0], digests[1:]...)
}

// unregister removes the registration of the run key and its pending wake-up.
func (w *webhookWaker) unregister(key string) {
	w.waiters.Unregister(key)
	w.mu.Lock()
	delete(w.woken, key)
	w.mu.Unlock()
}

// takeWake reports whether a delivery woke the run key since the last call, and clears
// the wake-up.
func (w *webhookWaker) takeWake(key string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.woken[key]
	delete(w.woken, key)
	return ok
}

// startWebhooks reads the webhook Secret and, when it holds a value, serves the receiver
// until ctx ends. Without the Secret, or when the receiver cannot listen, it logs why and
// leaves webhooks disabled, so runs wait by polling alone.
func startWebhooks(ctx context.Context, w *webhookWaker, kube kubernetes.Interface,
	namespace string, opts WebhookOptions) {
	if !opts.serves() {
		return
	}
	logger := w.logger
	secret, err := readWebhookSecret(ctx, kube, namespace, opts.secretName())
	if err != nil {
		logger.Warnw("Harbor webhooks are disabled; runs wait by polling alone", zap.Error(err))
		closeListener(opts.Listener)
		return
	}
	listener := opts.Listener
	if listener == nil {
		if listener, err = net.Listen("tcp", opts.Addr); err != nil {
			logger.Errorw("Harbor webhooks are disabled because the receiver cannot listen; "+
				"runs wait by polling alone", zap.String(logKeyAddr, opts.Addr), zap.Error(err))
			return
		}
	}
	w.receiver = events.NewReceiver(events.WithSecret(secret), events.WithCallback(w.deliver))
	w.enabled = true
	server := &http.Server{
		Handler:           w.receiver,
		ReadHeaderTimeout: webhookReadTimeout,
		ReadTimeout:       webhookReadTimeout,
		WriteTimeout:      webhookWriteTimeout,
		IdleTimeout:       webhookIdleTimeout,
		ErrorLog:          zap.NewStdLog(logger.Desugar()),
	}
	go serveWebhooks(ctx, server, listener, logger)
}

// serveWebhooks serves the receiver until ctx ends and then shuts the server down,
// letting requests in progress finish for up to webhookShutdownWait.
func serveWebhooks(ctx context.Context, server *http.Server, listener net.Listener,
	logger *zap.SugaredLogger) {
	addr := listener.Addr().String()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), webhookShutdownWait)
		defer cancel()
		if err := server.Shutdown(shutdownCtx); err != nil {
			logger.Warnw("Stopping the Harbor webhook receiver", zap.Error(err))
		}
	}()
	logger.Infow("Serving Harbor webhooks", zap.String(logKeyAddr, addr))
	if err := server.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
		logger.Errorw("The Harbor webhook receiver stopped; runs wait by polling alone",
			zap.String(logKeyAddr, addr), zap.Error(err))
		return
	}
	<-stopped
	logger.Infow("Stopped serving Harbor webhooks", zap.String(logKeyAddr, addr))
}

// readWebhookSecret gets the Secret by name, once. Only GET is used, as for every Secret.
// The error names the Secret and the key, never the value.
func readWebhookSecret(ctx context.Context, kube kubernetes.Interface, namespace,
	name string) (string, error) {
	secret, err := kube.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("Secret %s/%s not found: create it with the key %q to "+
			"receive Harbor webhooks", namespace, name, WebhookSecretKey)
	}
	if err != nil {
		return "", fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	}
	// Go's HTTP server drops spaces around a header value, so spaces around
	// the stored value could never match; they are dropped here too.
	value := strings.TrimSpace(string(secret.Data[WebhookSecretKey]))
	if value == "" {
		return "", fmt.Errorf("Secret %s/%s has no value under the key %q: store the "+
			"Authorization header that the Harbor webhook policy sends", namespace, name,
			WebhookSecretKey)
	}
	return value, nil
}

func closeListener(listener net.Listener) {
	if listener != nil {
		listener.Close()
	}
}

// scanDigests returns the digests whose scan events wake a run that waits for digest: the
// digest itself and, for an image index, the child digests, for which Harbor sends the
// events. It reads the artifact from Harbor once.
func scanDigests(ctx context.Context, client *harbor.Client, ref harbor.ArtifactRef) (
	[]string, error) {
	artifact, err := client.Artifact(ctx, ref)
	if err != nil {
		return nil, err
	}
	digests := []string{ref.Digest}
	for _, child := range artifact.References {
		if child != nil && child.ChildDigest != "" {
			digests = append(digests, child.ChildDigest)
		}
	}
	return digests, nil
}
