// Command controller runs the Tekton custom-task controller for ImageGate CustomRuns.
//
// It runs on knative's sharedmain, which brings leader election and the ConfigMaps
// config-logging, config-observability and config-leader-election from the namespace in
// the SYSTEM_NAMESPACE environment variable. The ConfigMap config-harbor-gate in the same
// namespace holds the cluster-wide ImageGate defaults.
package main

import (
	"knative.dev/pkg/injection/sharedmain"
	"knative.dev/pkg/signals"

	"github.com/druppie/harbor-gate/pkg/reconciler/imagegate"
)

func main() {
	sharedmain.MainWithContext(signals.NewContext(), imagegate.ControllerName,
		imagegate.NewController)
}
