//go:build integration

package integration

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	pipelineclient "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"go.uber.org/zap"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// gateLogName is the log of the in-process harbor-gate controller, beside the logs of the
// child processes.
const gateLogName = "harbor-gate-controller"

// logDumpLimit caps what a failed test prints of each log.
const logDumpLimit = 64 << 10

// cluster is the running tier: etcd, kube-apiserver and the Tekton controller as child
// processes, the Harbor double, and the harbor-gate controller in this process.
type cluster struct {
	root   string
	binDir string
	dir    string
	logDir string

	admin    *rest.Config
	kube     kubernetes.Interface
	dynamic  dynamic.Interface
	pipeline pipelineclient.Interface
	// gateConfig authenticates as the harbor-gate controller's ServiceAccount.
	gateConfig *rest.Config
	harbor     *harborEnv
	gateLogger *zap.SugaredLogger

	mu       sync.Mutex
	procs    []*process
	gate     *gateController
	stopOnce sync.Once
}

func newCluster(root, binDir string) *cluster {
	return &cluster{root: root, binDir: binDir}
}

// start brings up the tier in order and returns at the first error. stop cleans up
// whatever started.
func (c *cluster) start(ctx context.Context) error {
	var err error
	if c.dir, err = os.MkdirTemp("", "harbor-gate-itest-"); err != nil {
		return fmt.Errorf("creating the work folder: %w", err)
	}
	c.logDir = filepath.Join(c.dir, "logs")
	if err := os.Mkdir(c.logDir, 0o755); err != nil {
		return fmt.Errorf("creating the log folder: %w", err)
	}
	if err := c.startControlPlane(ctx); err != nil {
		return err
	}
	if err := c.install(ctx); err != nil {
		return err
	}
	proc, err := startTekton(ctx, c.bin("tekton-controller"), c.dir, c.logDir, c.admin)
	c.track(proc)
	if err != nil {
		return err
	}
	if c.harbor, err = startHarbor(); err != nil {
		return err
	}
	if c.gateConfig, err = serviceAccountConfig(ctx, c.admin); err != nil {
		return err
	}
	if c.gateLogger, err = newFileLogger(filepath.Join(c.logDir, gateLogName+".log")); err != nil {
		return err
	}
	return c.startGate()
}

func (c *cluster) startControlPlane(ctx context.Context) error {
	creds, err := writeCredentials(c.dir)
	if err != nil {
		return err
	}
	etcd, etcdURL, err := startEtcd(ctx, c.bin("etcd"), c.dir, c.logDir)
	c.track(etcd)
	if err != nil {
		return err
	}
	apiserver, admin, err := startAPIServer(ctx, c.bin("kube-apiserver"), etcdURL, c.dir,
		c.logDir, creds)
	c.track(apiserver)
	if err != nil {
		return err
	}
	c.admin = admin
	if c.kube, err = kubernetes.NewForConfig(admin); err != nil {
		return fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	if c.dynamic, err = dynamic.NewForConfig(admin); err != nil {
		return fmt.Errorf("creating the dynamic client: %w", err)
	}
	if c.pipeline, err = pipelineclient.NewForConfig(admin); err != nil {
		return fmt.Errorf("creating the Tekton client: %w", err)
	}
	return nil
}

// install applies Tekton's manifests and this project's CRD, RBAC, namespace and
// ConfigMaps. config/500-controller.yaml is left out, because the controller runs in
// this process.
func (c *cluster) install(ctx context.Context) error {
	a, err := newApplier(c.admin)
	if err != nil {
		return err
	}
	tektonDir, err := tektonModuleDir(c.root)
	if err != nil {
		return err
	}
	if err := installTekton(ctx, a, tektonDir); err != nil {
		return err
	}
	config := filepath.Join(c.root, "config")
	files, err := globFiles(filepath.Join(config, "1*.yaml"), filepath.Join(config, "2*.yaml"),
		filepath.Join(config, "3*.yaml"), filepath.Join(config, "config-*.yaml"))
	if err != nil {
		return fmt.Errorf("finding harbor-gate's manifests: %w", err)
	}
	return a.applyFiles(ctx, files...)
}

// startGate starts a new harbor-gate controller as its ServiceAccount.
func (c *cluster) startGate() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gate != nil {
		return fmt.Errorf("the harbor-gate controller is already running")
	}
	gate, err := startGateController(context.Background(), c.gateConfig, c.gateLogger)
	if err != nil {
		return err
	}
	c.gate = gate
	return nil
}

// gateRunning reports whether a harbor-gate controller runs.
func (c *cluster) gateRunning() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gate != nil
}

// stopGate stops the harbor-gate controller and waits for its workers to finish.
func (c *cluster) stopGate() error {
	c.mu.Lock()
	gate := c.gate
	c.gate = nil
	c.mu.Unlock()
	if gate == nil {
		return nil
	}
	err := gate.stop()
	c.gateLogger.Info("harbor-gate controller stopped")
	return err
}

func (c *cluster) bin(name string) string {
	return filepath.Join(c.binDir, name)
}

func (c *cluster) track(p *process) {
	if p == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.procs = append(c.procs, p)
}

// stop stops everything that started, in reverse order, and removes the work folder.
// It is safe to call more than once and from several goroutines.
func (c *cluster) stop() {
	c.stopOnce.Do(func() {
		if err := c.stopGate(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the harbor-gate controller:", err)
		}
		c.mu.Lock()
		procs := c.procs
		c.mu.Unlock()
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop()
		}
		if c.harbor != nil {
			c.harbor.close()
		}
		if c.dir != "" {
			os.RemoveAll(c.dir)
		}
	})
}

// logMarks returns the current size of each log, for dumpLogs to print only what a test
// added.
func (c *cluster) logMarks() map[string]int64 {
	marks := map[string]int64{}
	for _, name := range c.logNames() {
		marks[name] = fileSize(c.logPath(name))
	}
	return marks
}

// dumpLogs writes each log from its mark on, or from its start for a log without one.
func (c *cluster) dumpLogs(w io.Writer, marks map[string]int64) {
	if c.logDir == "" {
		return
	}
	for _, name := range c.logNames() {
		fmt.Fprintf(w, "===== %s log =====\n%s\n", name,
			logTail(c.logPath(name), marks[name], logDumpLimit))
	}
}

func (c *cluster) logNames() []string {
	return []string{"etcd", "kube-apiserver", "tekton-controller", gateLogName}
}

func (c *cluster) logPath(name string) string {
	return filepath.Join(c.logDir, name+".log")
}

// newFileLogger returns a development logger, debug level included, that writes to file.
func newFileLogger(file string) (*zap.SugaredLogger, error) {
	cfg := zap.NewDevelopmentConfig()
	cfg.OutputPaths = []string{file}
	cfg.ErrorOutputPaths = []string{file}
	logger, err := cfg.Build()
	if err != nil {
		return nil, fmt.Errorf("creating the controller's logger: %w", err)
	}
	return logger.Sugar(), nil
}

// harborEnv is the Harbor double that every test publishes to.
type harborEnv struct {
	srv *harbortest.Server
	// robotSecret is the secret of the robot account the ImageGates use.
	robotSecret string
	// keys is the cosign key pair, its private key encrypted with keyPassword.
	keys        *cosign.KeysBytes
	keyPassword string
}

func (h *harborEnv) close() {
	if err := h.srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the Harbor double:", err)
	}
}
