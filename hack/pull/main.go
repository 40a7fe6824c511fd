// Command pull fetches an image manifest from a registry with HTTP Basic
// credentials and prints its digest, or the registry's error. The policy
// demo uses it to show a pull that Harbor's project policy blocks, without
// a Docker engine:
//
//	go run ./hack/pull -username NAME -password-file FILE REFERENCE
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func main() {
	username := flag.String("username", "", "registry user name (default: anonymous)")
	passwordFile := flag.String("password-file", "", "file with the password or robot secret")
	insecure := flag.Bool("insecure", false, "use plain HTTP for the registry")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "pull: give exactly one image reference, e.g. host/project/app:v1")
		os.Exit(2)
	}
	if err := pull(flag.Arg(0), *username, *passwordFile, *insecure); err != nil {
		fmt.Fprintf(os.Stderr, "pull: %v\n", err)
		os.Exit(1)
	}
}

func pull(reference, username, passwordFile string, insecure bool) error {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(reference, opts...)
	if err != nil {
		return fmt.Errorf("invalid image reference %q: %w", reference, err)
	}
	auth := authn.Anonymous
	if username != "" {
		password, err := os.ReadFile(passwordFile)
		if err != nil {
			return fmt.Errorf("reading -password-file: %w", err)
		}
		auth = &authn.Basic{Username: username, Password: strings.TrimSpace(string(password))}
	}
	desc, err := remote.Get(ref, remote.WithAuth(auth))
	var terr *transport.Error
	if errors.As(err, &terr) {
		return fmt.Errorf("pulling %s: HTTP %d: %w", ref, terr.StatusCode, err)
	}
	if err != nil {
		return fmt.Errorf("pulling %s: %w", ref, err)
	}
	fmt.Printf("pulled %s@%s\n", ref.Context(), desc.Digest)
	return nil
}
