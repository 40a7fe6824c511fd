package projectpolicy

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Keys of the Secret that the harbor-gate controller reads its Harbor credentials from,
// the keys of a Secret of type kubernetes.io/basic-auth.
const (
	GateSecretKeyUsername = corev1.BasicAuthUsernameKey
	GateSecretKeyPassword = corev1.BasicAuthPasswordKey
)

// PullSecretYAML returns a Kubernetes Secret of type kubernetes.io/dockerconfigjson, an
// ImagePullSecret, that logs in to registryHost (such as "registry.example:443") with the
// robot's credentials. namespace may be empty.
func PullSecretYAML(name, namespace, registryHost string, c RobotCredentials) ([]byte,
	error) {
	type auth struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Auth     string `json:"auth"`
	}
	config := map[string]map[string]auth{"auths": {registryHost: {
		Username: c.Username, Password: c.Secret,
		Auth: base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Secret)),
	}}}
	data, err := json.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("encoding the Docker config: %w", err)
	}
	return secretYAML(name, namespace, corev1.SecretTypeDockerConfigJson,
		map[string][]byte{corev1.DockerConfigJsonKey: data})
}

// GateSecretYAML returns a Kubernetes Secret of type kubernetes.io/basic-auth with the
// username and password keys that an ImageGate's harbor.credentialsSecret names.
// namespace may be empty.
func GateSecretYAML(name, namespace string, c RobotCredentials) ([]byte, error) {
	return secretYAML(name, namespace, corev1.SecretTypeBasicAuth, map[string][]byte{
		GateSecretKeyUsername: []byte(c.Username),
		GateSecretKeyPassword: []byte(c.Secret),
	})
}

func secretYAML(name, namespace string, kind corev1.SecretType,
	data map[string][]byte) ([]byte, error) {
	secret := corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Type:       kind,
		Data:       data,
	}
	out, err := yaml.Marshal(secret)
	if err != nil {
		return nil, fmt.Errorf("encoding Secret %s: %w", name, err)
	}
	return out, nil
}
