package imagegate

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// dockerConfigKeychain resolves registry credentials from the "auths" of a Docker config
// file, the content of a kubernetes.io/dockerconfigjson Secret. A registry it has no entry
// for gets anonymous access. Its String method names the registries, never a credential.
type dockerConfigKeychain struct {
	// auths maps a registry host, as name.Registry.RegistryStr returns it, to credentials.
	auths map[string]authn.AuthConfig
}

var _ authn.Keychain = dockerConfigKeychain{}

// Resolve implements authn.Keychain.
func (k dockerConfigKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	cfg, ok := k.auths[target.RegistryStr()]
	if !ok {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(cfg), nil
}

// String returns the registries the keychain has credentials for.
func (k dockerConfigKeychain) String() string {
	hosts := make([]string, 0, len(k.auths))
	for host := range k.auths {
		hosts = append(hosts, host)
	}
	slices.Sort(hosts)
	return fmt.Sprintf("dockerConfigKeychain%v", hosts)
}

// GoString returns the same text as String, so that %#v prints no credential either.
func (k dockerConfigKeychain) GoString() string { return k.String() }

// dockerConfigEntry is one registry's entry in a Docker config file. Auth is the base64
// encoding of "username:password", which docker login writes in place of the two fields.
type dockerConfigEntry struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Auth     string `json:"auth"`
}

// parseDockerConfig reads {"auths": {REGISTRY: {"username", "password", "auth"}}}. Its errors
// describe where the data is malformed and never quote it, because it holds credentials.
func parseDockerConfig(data []byte) (dockerConfigKeychain, error) {
	var file struct {
		Auths map[string]dockerConfigEntry `json:"auths"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return dockerConfigKeychain{}, describeJSONError(err)
	}
	if file.Auths == nil {
		return dockerConfigKeychain{}, errors.New(`it has no "auths" object; ` +
			`write it as {"auths": {"REGISTRY": {"username": ..., "password": ...}}}`)
	}
	k := dockerConfigKeychain{auths: make(map[string]authn.AuthConfig, len(file.Auths))}
	for registry, entry := range file.Auths {
		host, err := registryHost(registry)
		if err != nil {
			return dockerConfigKeychain{}, err
		}
		cfg, err := entry.authConfig()
		if err != nil {
			return dockerConfigKeychain{}, fmt.Errorf("the entry for %q: %w", registry, err)
		}
		k.auths[host] = cfg
	}
	return k, nil
}

// authConfig returns the entry's credentials, decoding auth when username and password
// are absent.
func (e dockerConfigEntry) authConfig() (authn.AuthConfig, error) {
	if e.Username != "" || e.Password != "" || e.Auth == "" {
		return authn.AuthConfig{Username: e.Username, Password: e.Password}, nil
	}
	decoded, err := base64.StdEncoding.DecodeString(e.Auth)
	if err != nil {
		return authn.AuthConfig{}, errors.New(`"auth" is not valid base64`)
	}
	username, password, ok := strings.Cut(string(decoded), ":")
	if !ok {
		return authn.AuthConfig{}, errors.New(`"auth" does not decode to username:password`)
	}
	return authn.AuthConfig{Username: username, Password: password}, nil
}

// registryHost turns a key of "auths", such as "harbor.example", "https://harbor.example/v2/"
// or Docker Hub's "https://index.docker.io/v1/", into the host go-containerregistry
// resolves credentials for.
func registryHost(key string) (string, error) {
	host := key
	if u, err := url.Parse(key); err == nil && u.Host != "" {
		host = u.Host
	} else {
		host, _, _ = strings.Cut(key, "/")
	}
	registry, err := name.NewRegistry(host)
	if err != nil || host == "" {
		return "", fmt.Errorf("invalid registry %q in \"auths\"; use a host such as "+
			"harbor.example or harbor.example:8443", key)
	}
	return registry.RegistryStr(), nil
}

// describeJSONError explains a JSON error by position and type only.
func describeJSONError(err error) error {
	var (
		syntax   *json.SyntaxError
		mismatch *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("it is not valid JSON (error at byte %d)", syntax.Offset)
	case errors.As(err, &mismatch):
		return fmt.Errorf("the field %q has the wrong type: expected %s", mismatch.Field,
			mismatch.Type)
	}
	return errors.New("it is not valid JSON")
}
