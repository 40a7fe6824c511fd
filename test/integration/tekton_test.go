//go:build integration

package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	tektonModule    = "github.com/tektoncd/pipeline"
	tektonNamespace = "tekton-pipelines"
	// sharedmainProbePort is where knative's sharedmain serves health probes in the
	// Tekton controller. knative.dev/pkg fixes it (injection.HealthCheckDefaultPort) and
	// listens on all interfaces.
	sharedmainProbePort = 8080
	// tektonReadyTimeout bounds the Tekton controller's start-up, about 1.3 s on 2 cores.
	tektonReadyTimeout = 60 * time.Second
)

// tektonModuleDir returns the directory of the Tekton module that go.mod requires, from
// the module cache.
func tektonModuleDir(repoRoot string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", tektonModule)
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating module %s: %w; run \"go mod download\"", tektonModule,
			err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("module %s is not in the module cache; run \"go mod download\"",
			tektonModule)
	}
	return dir, nil
}

// installTekton applies the namespace, CRDs and ConfigMaps of the Tekton release in
// moduleDir. Its webhook, Deployments and RBAC are left out: no pod runs, and the
// controller runs with the administrator's token.
func installTekton(ctx context.Context, a *applier, moduleDir string) error {
	files, err := globFiles(
		filepath.Join(moduleDir, "config", "100-namespace", "*.yaml"),
		filepath.Join(moduleDir, "config", "300-crds", "*.yaml"),
		filepath.Join(moduleDir, "config", "config-*.yaml"),
	)
	if err != nil {
		return fmt.Errorf("finding Tekton's manifests: %w", err)
	}
	return a.applyFiles(ctx, files...)
}

// startTekton starts the Tekton Pipelines controller binary against the API server as
// the administrator and waits until its controllers have started.
func startTekton(ctx context.Context, binary, dir, logDir string, admin *rest.Config) (
	*process, error) {
	if err := checkPortFree(sharedmainProbePort); err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "tekton.kubeconfig")
	if err := writeKubeconfig(kubeconfig, admin); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	env := append(baseEnv(),
		"SYSTEM_NAMESPACE="+tektonNamespace,
		"KUBERNETES_MIN_VERSION=v1.28.0",
		"CONFIG_DEFAULTS_NAME=config-defaults",
		"CONFIG_LOGGING_NAME=config-logging",
		"CONFIG_OBSERVABILITY_NAME=config-observability",
		"CONFIG_FEATURE_FLAGS_NAME=feature-flags",
		"CONFIG_LEADERELECTION_NAME=config-leader-election-controller",
		"CONFIG_SPIRE=config-spire",
		"METRICS_DOMAIN=tekton.dev/pipeline",
		// NOTE: Tekton v1.11.0's cmd/controller and knative's profiling server listen on
		// ":"+port, all interfaces, and take no host. Only the metrics server takes one.
		"PROBES_PORT="+strconv.Itoa(ports[0]),
		"PROFILING_PORT="+strconv.Itoa(ports[1]),
		"METRICS_PROMETHEUS_PORT="+strconv.Itoa(ports[2]),
		"METRICS_PROMETHEUS_HOST=127.0.0.1",
	)
	// No pod ever runs, so the images are placeholders under the reserved .invalid domain.
	image := func(name string) string { return "tekton.invalid/" + name + ":itest" }
	p, err := startProcess("tekton-controller", logDir, env, binary,
		"-kubeconfig="+kubeconfig,
		"-disable-ha",
		"-entrypoint-image="+image("entrypoint"),
		"-nop-image="+image("nop"),
		"-sidecarlogresults-image="+image("sidecarlogresults"),
		"-workingdirinit-image="+image("workingdirinit"),
		"-shell-image="+image("busybox"),
		"-shell-image-win="+image("powershell"),
	)
	if err != nil {
		return nil, err
	}
	// sharedmain serves its probes only after the informers have synced and the
	// controllers have started, so this readiness means Tekton reconciles.
	url := fmt.Sprintf("http://%s/readiness", loopback(sharedmainProbePort))
	return p, waitHTTP(ctx, p, url, http.DefaultClient, "", tektonReadyTimeout)
}

// checkPortFree fails when port is taken on 127.0.0.1, as the Tekton controller would then
// exit at start-up.
func checkPortFree(port int) error {
	l, err := net.Listen("tcp", loopback(port))
	if err != nil {
		return fmt.Errorf("port %d is in use, but the Tekton controller serves its health "+
			"probes there (fixed in knative.dev/pkg); stop the program that uses it: %w",
			port, err)
	}
	return l.Close()
}

// writeKubeconfig writes a kubeconfig for cfg's server, CA and bearer token.
func writeKubeconfig(file string, cfg *rest.Config) error {
	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.Clusters["itest"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
	}
	kubeconfig.AuthInfos["itest"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kubeconfig.Contexts["itest"] = &clientcmdapi.Context{Cluster: "itest", AuthInfo: "itest"}
	kubeconfig.CurrentContext = "itest"
	if err := clientcmd.WriteToFile(*kubeconfig, file); err != nil {
		return fmt.Errorf("writing the Tekton controller's kubeconfig: %w", err)
	}
	return nil
}
