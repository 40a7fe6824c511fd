// Command build-image writes a ko-style image of a Go binary into an OCI
// image layout directory. The demo uses it to build a real image without
// a Docker engine:
//
//	go run ./hack/build-image -binary bin/harbor-gate -out /tmp/layout [-label k=v]...
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/druppie/harbor-gate/internal/koimage"
)

type labelFlag map[string]string

func (l labelFlag) String() string { return fmt.Sprint(map[string]string(l)) }

func (l labelFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("invalid label %q: use KEY=VALUE", s)
	}
	l[k] = v
	return nil
}

func main() {
	binary := flag.String("binary", "", "Go binary to put into the image")
	out := flag.String("out", "", "OCI image layout directory to create")
	labels := labelFlag{}
	flag.Var(labels, "label", "image label KEY=VALUE; repeatable")
	flag.Parse()
	if *binary == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "build-image: -binary and -out are required")
		os.Exit(2)
	}
	img, err := koimage.Build(*binary, labels)
	if err == nil {
		err = koimage.WriteLayout(*out, img)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "build-image: %v\n", err)
		os.Exit(1)
	}
	digest, _ := img.Digest()
	fmt.Printf("%s %s\n", *out, digest)
}
