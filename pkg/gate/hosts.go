package gate

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/druppie/harbor-gate/pkg/harbor"
)

// checkTargetHost rejects a target whose registry host is not Harbor's.
// The gate sends Harbor's credentials to the target registry, so a
// mismatch would hand them to another server.
func checkTargetHost(harborURL string, target Target) error {
	u, err := url.Parse(harborURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("invalid Harbor URL %s: use an absolute http or https URL",
			harbor.RedactURL(harborURL))
	}
	registry := target.Repo.RegistryStr()
	if normalHost(u.Host, u.Scheme) != normalHost(registry, "https") {
		return fmt.Errorf("the target's registry %s is not the Harbor at %s; name the "+
			"target as %s/PROJECT/REPOSITORY[:TAG] or point the Harbor URL at %s",
			registry, u.Host, u.Host, registry)
	}
	return nil
}

// normalHost lower-cases host and drops the scheme's default port, so
// "harbor.example:443" and "harbor.example" compare equal over https.
func normalHost(host, scheme string) string {
	host = strings.ToLower(host)
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		return host
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		return h
	}
	return host
}

// harborKeychain resolves Harbor's credentials for Harbor's registry host
// and anonymous access for every other registry.
type harborKeychain struct {
	host string
	auth authn.Authenticator
}

// Resolve implements authn.Keychain.
func (k harborKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if normalHost(r.RegistryStr(), "https") == normalHost(k.host, "https") {
		return k.auth, nil
	}
	return authn.Anonymous, nil
}
