package cli

import (
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/druppie/harbor-gate/pkg/gate"
)

// sourceKeychain returns the credentials for pulling a registry source. With
// --source-username they are that user and the password from --source-password-file or
// SOURCE_PASSWORD. Otherwise they come from the Docker config file and, for Harbor's own
// registry, from the Harbor credentials.
func (f *publishFlags) sourceKeychain(target gate.Target, username, password string) (
	authn.Keychain, error) {
	sourcePassword, err := readSecret(f.sourcePasswordFile, "SOURCE_PASSWORD")
	if err != nil {
		return nil, err
	}
	if f.sourceUsername != "" {
		basic := &authn.Basic{Username: f.sourceUsername, Password: sourcePassword}
		return fixedKeychain{auth: basic}, nil
	}
	if f.sourcePasswordFile != "" {
		return nil, usagef("--source-password-file needs --source-username; " +
			"name the user the password belongs to")
	}
	if username == "" && password == "" {
		return authn.DefaultKeychain, nil
	}
	harbor := hostKeychain{host: target.Repo.RegistryStr(),
		auth: &authn.Basic{Username: username, Password: password}}
	return authn.NewMultiKeychain(authn.DefaultKeychain, harbor), nil
}

// fixedKeychain returns the same credentials for every registry. Only the source is pulled
// through it.
type fixedKeychain struct{ auth authn.Authenticator }

// Resolve implements authn.Keychain.
func (k fixedKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return k.auth, nil
}

// hostKeychain returns credentials for one registry host and anonymous access elsewhere.
type hostKeychain struct {
	host string
	auth authn.Authenticator
}

// Resolve implements authn.Keychain.
func (k hostKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	if target.RegistryStr() == k.host {
		return k.auth, nil
	}
	return authn.Anonymous, nil
}
