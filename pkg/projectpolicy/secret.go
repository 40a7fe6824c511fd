package projectpolicy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
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

// NewDirSecretReader returns a SecretReader that reads files itself and each secretRef
// {namespace, name, key} from the file dir/<namespace>/<name>/<key>, the layout in which
// Kubernetes mounts Secrets as volumes. It never contacts Kubernetes. It rejects a
// namespace that is no DNS-1123 label, a name that is no DNS-1123 subdomain and a key
// that is no valid Secret key before it builds a path, and it opens the file through an
// os.Root, so neither the names nor a symbolic link lead outside dir.
func NewDirSecretReader(dir string) SecretReader {
	return &secretReader{dir: dir}
}

type secretReader struct {
	kube func() (kubernetes.Interface, error) // used when dir is empty
	dir  string
}

func (r *secretReader) ReadSecret(ctx context.Context, src *SecretSource) (string, error) {
	switch {
	case src.SecretRef == nil:
		return readSecretFile(src.File)
	case r.dir != "":
		return r.readMountedSecret(src)
	default:
		return r.readKubernetesSecret(ctx, src)
	}
}

// secretText returns a secret value without the trailing line breaks that an editor or
// `echo` leaves in a file, so every source yields the same value.
func secretText(data []byte) string {
	return strings.TrimRight(string(data), "\r\n")
}

func readSecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrSecret, err)
	}
	return secretText(data), nil
}

// readMountedSecret reads r.dir/<namespace>/<name>/<key>.
func (r *secretReader) readMountedSecret(src *SecretSource) (string, error) {
	ref := src.SecretRef
	if err := validateSecretRef(ref); err != nil {
		return "", fmt.Errorf("%w: %w", ErrSecret, err)
	}
	root, err := os.OpenRoot(r.dir)
	if err != nil {
		return "", fmt.Errorf("%w: opening the secrets directory for %s: %w", ErrSecret,
			src, err)
	}
	defer root.Close()
	rel := filepath.Join(ref.Namespace, ref.Name, ref.Key)
	data, err := root.ReadFile(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: %s: %s does not exist in %s: write the value there",
			ErrSecret, src, rel, r.dir)
	}
	if err != nil {
		return "", fmt.Errorf("%w: reading %s: %w", ErrSecret, src, err)
	}
	return secretText(data), nil
}

// validateSecretRef checks the names as the Kubernetes API server does: a namespace is a
// DNS-1123 label, a Secret name a DNS-1123 subdomain and a key a ConfigMap key, none of
// which may contain "/" or be "..".
func validateSecretRef(ref *SecretRef) error {
	checks := []struct {
		field, value string
		problems     []string
	}{
		{"namespace", ref.Namespace, validation.IsDNS1123Label(ref.Namespace)},
		{"name", ref.Name, validation.IsDNS1123Subdomain(ref.Name)},
		{"key", ref.Key, validation.IsConfigMapKey(ref.Key)},
	}
	var errs []error
	for _, c := range checks {
		if len(c.problems) > 0 {
			errs = append(errs, fmt.Errorf("invalid secretRef.%s %q: %s", c.field, c.value,
				strings.Join(c.problems, "; ")))
		}
	}
	return errors.Join(errs...)
}

func (r *secretReader) readKubernetesSecret(ctx context.Context, src *SecretSource) (string,
	error) {
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
	return secretText(value), nil
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
