//go:build integration

package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
)

// Bounds of the waits for the processes of the tier to become ready. Measured on 2 cores:
// etcd is ready in about 0.3 s and kube-apiserver in 2 to 3.5 s.
const (
	etcdReadyTimeout      = 30 * time.Second
	apiserverReadyTimeout = 90 * time.Second
	readyPollInterval     = 100 * time.Millisecond
)

// startEtcd starts a single-member etcd with a fresh data directory under dir and returns
// it with its client URL once it reports healthy.
func startEtcd(ctx context.Context, binary, dir, logDir string) (*process, string, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, "", err
	}
	clientURL := "http://" + loopback(ports[0])
	peerURL := "http://" + loopback(ports[1])
	p, err := startProcess("etcd", logDir, baseEnv(), binary,
		"--name=itest",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=itest="+peerURL,
		// The data is thrown away after the run, so durability buys nothing.
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return nil, "", err
	}
	err = waitHTTP(ctx, p, clientURL+"/health", http.DefaultClient, "", etcdReadyTimeout)
	return p, clientURL, err
}

// startAPIServer starts kube-apiserver on a free loopback port with token authentication
// and RBAC, and returns it with the administrator's rest.Config once /readyz succeeds.
func startAPIServer(ctx context.Context, binary, etcdURL, dir, logDir string,
	creds *credentials) (*process, *rest.Config, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, nil, err
	}
	p, err := startProcess("kube-apiserver", logDir, baseEnv(), binary,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[0]),
		"--cert-dir="+filepath.Join(dir, "apiserver-certs"),
		"--tls-cert-file="+creds.certFile,
		"--tls-private-key-file="+creds.keyFile,
		"--anonymous-auth=false",
		"--token-auth-file="+creds.tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+creds.serviceAccountKeyFile,
		"--service-account-signing-key-file="+creds.serviceAccountKeyFile,
		"--service-cluster-ip-range=10.96.0.0/16",
		// No kube-controller-manager runs to maintain the Endpoints of the kubernetes
		// Service.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	)
	if err != nil {
		return nil, nil, err
	}
	cfg := &rest.Config{
		Host:            "https://" + loopback(ports[0]),
		BearerToken:     creds.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: creds.caPEM},
		QPS:             50,
		Burst:           100,
	}
	client, err := httpClient(creds.caPEM)
	if err != nil {
		return p, nil, err
	}
	err = waitHTTP(ctx, p, cfg.Host+"/readyz", client, creds.adminToken, apiserverReadyTimeout)
	return p, cfg, err
}

// baseEnv is the environment of every child process: the path and home directory only,
// so that no KUBECONFIG or proxy setting of the caller leaks in.
func baseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
}

func httpClient(caPEM []byte) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("invalid CA certificate: no PEM block found")
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}, nil
}

// waitHTTP polls url until it returns 200, p exits or timeout passes.
func waitHTTP(ctx context.Context, p *process, url string, client *http.Client, token string,
	timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, readyPollInterval, timeout, true,
		func(ctx context.Context) (bool, error) {
			if err := p.running(); err != nil {
				return false, err
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return false, err
			}
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := client.Do(req)
			if err != nil {
				last = err.Error()
				return false, nil
			}
			resp.Body.Close()
			last = resp.Status
			return resp.StatusCode == http.StatusOK, nil
		})
	if err != nil {
		return fmt.Errorf("waiting for %s to become ready at %s (last result: %s): %w",
			p.name, url, last, err)
	}
	return nil
}
