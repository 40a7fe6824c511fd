package projectpolicy

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// SecretReader reads secret values named by a SecretSource.
type SecretReader interface {
	// ReadSecret returns the secret with trailing newlines removed. Its errors wrap
	// ErrSecret and never contain the value.
	ReadSecret(ctx context.Context, src *SecretSource) (string, error)
}

// KubernetesFunc returns a Kubernetes client. The reader of NewSecretReader calls it at
// most once, when it reads the first secretRef.
type KubernetesFunc func() (kubernetes.Interface, error)

// NewSecretReader returns a SecretReader that reads files itself and Secrets through the
// client that kube returns. A nil kube uses the current context of the default kubeconfig
// ($KUBECONFIG or ~/.kube/config).
func NewSecretReader(kube KubernetesFunc) SecretReader {
	if kube == nil {
		kube = kubeconfigClient
	}
	return &secretReader{kube: sync.OnceValues(kube)}
}

type secretReader struct {
	kube func() (kubernetes.Interface, error)
}

func (r *secretReader) ReadSecret(ctx context.Context, src *SecretSource) (string, error) {
	if src.SecretRef == nil {
		data, err := os.ReadFile(src.File)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrSecret, err)
		}
		return strings.TrimRight(string(data), "\r\n"), nil
	}
	ref := src.SecretRef
	client, err := r.kube()
	if err != nil {
		return "", fmt.Errorf("%w: connecting to Kubernetes for %s: %w", ErrSecret, src, err)
	}
	secret, err := client.CoreV1().Secrets(ref.Namespace).Get(ctx, ref.Name,
		metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("%w: getting %s: %w", ErrSecret, src, err)
	}
	value, ok := secret.Data[ref.Key]
	if !ok {
		return "", fmt.Errorf("%w: Secret %s/%s has no key %q: add it or fix secretRef.key",
			ErrSecret, ref.Namespace, ref.Name, ref.Key)
	}
	return strings.TrimRight(string(value), "\r\n"), nil
}

// kubeconfigClient builds a client from the default kubeconfig loading rules.
func kubeconfigClient() (kubernetes.Interface, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	return kubernetes.NewForConfig(cfg)
}
