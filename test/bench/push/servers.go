package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// Projects of the Harbor double. Pushes go to benchProject, which does not scan on push so
// that scans take no CPU during the timed pushes. publishProject scans on push.
const (
	benchProject   = "bench"
	publishProject = "publish"
)

// environment is the set of servers a run uses.
type environment struct {
	dir     string
	source  string
	targets []*target
	harbor  *harbortest.Server
	closers []func()
}

// target is a registry that the tools push to.
type target struct {
	name string
	// host is the registry's host:port, and proxy the host:port of a counting proxy in
	// front of it.
	host  string
	proxy *countingProxy
	// prefix goes in front of every repository name, such as a Harbor project.
	prefix             string
	username, password string
	// dockerConfig is a DOCKER_CONFIG folder with the credentials for host and proxy.
	dockerConfig string
}

// repository returns the target's repository named name, without the host.
func (t *target) repository(name string) string { return t.prefix + name }

func (e *environment) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// startEnvironment starts the source registry, the target registry, the Harbor double and
// a counting proxy in front of each target.
func startEnvironment(ctx context.Context, cfg config) (_ *environment, err error) {
	dir, err := os.MkdirTemp("", "pushbench-")
	if err != nil {
		return nil, err
	}
	env := &environment{dir: dir}
	env.closers = append(env.closers, func() { os.RemoveAll(dir) })
	defer func() {
		if err != nil {
			env.close()
		}
	}()
	if env.source, err = env.startRegistry(ctx, cfg.registry, "source"); err != nil {
		return nil, err
	}
	plain, err := env.startRegistry(ctx, cfg.registry, "target")
	if err != nil {
		return nil, err
	}
	env.targets = append(env.targets, &target{name: "registry", host: plain})

	harbor, err := harbortest.New(
		harbortest.WithProject(harbortest.Project{Name: benchProject}),
		harbortest.WithProject(harbortest.Project{
			Name: publishProject, Metadata: map[string]string{"auto_scan": "true"},
		}),
		// Scans end at once, so that publish spends no time waiting for one.
		harbortest.WithFixture(&harbortest.Fixture{
			Pending: &harbortest.Duration{}, Running: &harbortest.Duration{},
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("starting the Harbor double: %w", err)
	}
	env.harbor = harbor
	env.closers = append(env.closers, func() { harbor.Close() })
	env.targets = append(env.targets, &target{
		name: "harbor", host: harbor.Host(), prefix: benchProject + "/",
		username: harbortest.DefaultAdminUser, password: harbortest.DefaultAdminPassword,
	})

	for _, t := range env.targets {
		if err := env.startProxy(t); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// startProxy starts t's counting proxy and writes t's Docker config folder.
func (e *environment) startProxy(t *target) error {
	proxy, err := startCountingProxy(t.host)
	if err != nil {
		return err
	}
	t.proxy = proxy
	e.closers = append(e.closers, proxy.close)
	t.dockerConfig = filepath.Join(e.dir, "docker-"+t.name)
	auths := map[string]any{}
	if t.username != "" {
		entry := map[string]string{
			"auth": base64.StdEncoding.EncodeToString([]byte(t.username + ":" + t.password)),
		}
		auths[t.host] = entry
		auths[proxy.host] = entry
	}
	data, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(t.dockerConfig, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(t.dockerConfig, "config.json"), data, 0o600)
}

// startRegistry runs a Distribution registry process on a free loopback port with its
// storage in a folder of its own, and returns its host:port once it serves /v2/.
func (e *environment) startRegistry(ctx context.Context, binary, name string) (string, error) {
	host, err := freeLoopbackAddress()
	if err != nil {
		return "", err
	}
	storage := filepath.Join(e.dir, name)
	configFile := filepath.Join(e.dir, name+".yml")
	config := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  cache:
    blobdescriptor: inmemory
http:
  addr: %s
`, storage, host)
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		return "", err
	}
	logFile, err := os.Create(filepath.Join(e.dir, name+".log"))
	if err != nil {
		return "", err
	}
	e.closers = append(e.closers, func() { logFile.Close() })
	cmd := exec.Command(binary, "serve", configFile)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting %s: %w; install Debian's docker-registry package "+
			"or pass -registry", binary, err)
	}
	e.closers = append(e.closers, func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	if err := waitForRegistry(ctx, host); err != nil {
		return "", fmt.Errorf("starting the %s registry: %w", name, err)
	}
	return host, nil
}

// freeLoopbackAddress returns 127.0.0.1 with a port that was free a moment ago.
func freeLoopbackAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitForRegistry polls GET /v2/ on host until it returns 200, for up to 10 seconds.
func waitForRegistry(ctx context.Context, host string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("no answer on %s", host), err)
		case <-tick.C:
		}
	}
}
