// Command controller runs the Tekton custom-task controller for ImageGate CustomRuns.
//
// It runs on knative's sharedmain, which brings leader election and the ConfigMaps
// config-logging, config-observability and config-leader-election from the namespace in
// the SYSTEM_NAMESPACE environment variable. The ConfigMap config-harbor-gate in the same
// namespace holds the cluster-wide ImageGate defaults and the core sink URL.
//
// The controller also serves Harbor webhooks over plain HTTP on the port in WEBHOOK_PORT,
// 8090 by default, when the Secret harbor-gate-webhook exists in its namespace. TLS, if
// Harbor needs it, ends at an ingress or a service mesh in front of the Service
// harbor-gate-webhook.
package main

import (
	"fmt"
	"log"
	"net"
	"os"
	"strconv"

	"knative.dev/pkg/injection/sharedmain"
	"knative.dev/pkg/signals"

	"github.com/druppie/harbor-gate/pkg/reconciler/imagegate"
)

// webhookPortEnv names the environment variable with the webhook receiver's port.
const webhookPortEnv = "WEBHOOK_PORT"

func main() {
	addr, err := webhookAddr(os.Getenv(webhookPortEnv))
	if err != nil {
		log.Fatal(err)
	}
	sharedmain.MainWithContext(signals.NewContext(), imagegate.ControllerName,
		imagegate.NewControllerWithWebhooks(imagegate.WebhookOptions{Addr: addr}))
}

// webhookAddr returns the listen address for a port number, or for the default port when
// value is empty.
func webhookAddr(value string) (string, error) {
	if value == "" {
		return net.JoinHostPort("", strconv.Itoa(imagegate.DefaultWebhookPort)), nil
	}
	port, err := strconv.Atoi(value)
	if err != nil || port < 1 || port > 65535 {
		return "", fmt.Errorf("invalid %s %q: use a port number from 1 to 65535",
			webhookPortEnv, value)
	}
	return net.JoinHostPort("", strconv.Itoa(port)), nil
}
