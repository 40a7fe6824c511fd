// Package faults runs "harbor-gate publish" in process against the Harbor double while the
// double injects faults: 5xx bursts, 429 with Retry-After, connection resets, slow
// responses, stuck or failing scans, a vanished scanner, a failing token service and
// broken blob uploads. Each case checks the verdict or error, the number of times the
// fault fired, that nothing was pushed or signed twice, and the run's duration.
package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"

	"github.com/druppie/harbor-gate/internal/cli"
	"github.com/druppie/harbor-gate/internal/koimage"
	"github.com/druppie/harbor-gate/pkg/harbortest"
	"github.com/druppie/harbor-gate/pkg/signing"
)

const (
	project     = "team"
	repository  = "app"
	robotName   = "ci"
	robotSecret = "s3cr3t-robot-Fa17"
	keyPassword = "s3cr3t-key-Fa29"
)

// env is one case's Harbor double with its faults, an image and key files.
type env struct {
	srv    *harbortest.Server
	faults *harbortest.Faults
	dir    string
	layout string
	key    string
	keyPwd string
	pub    []byte
	robot  string
}

// newEnv starts a double with a scan of 50ms Pending and 100ms Running. autoScan sets the
// project's scan on push.
func newEnv(t *testing.T, autoScan bool) *env {
	t.Helper()
	fixture, err := harbortest.ParseFixture([]byte("pending: 50ms\nrunning: 100ms\n"))
	if err != nil {
		t.Fatalf("parsing the fixture: %v", err)
	}
	e := &env{faults: harbortest.NewFaults(), dir: t.TempDir()}
	e.srv, err = harbortest.New(
		harbortest.WithFixture(fixture),
		harbortest.WithFaults(e.faults),
		harbortest.WithProject(harbortest.Project{
			Name: project, Metadata: map[string]string{"auto_scan": strconv.FormatBool(autoScan)},
		}),
		harbortest.WithRobot(project, robotName, robotSecret),
	)
	if err != nil {
		t.Fatalf("starting the Harbor double: %v", err)
	}
	t.Cleanup(func() { e.srv.Close() })
	e.layout = writeImage(t, e.dir)
	e.key, e.keyPwd, e.pub = writeKey(t, e.dir)
	e.robot = filepath.Join(e.dir, "robot.password")
	if err := os.WriteFile(e.robot, []byte(robotSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// writeImage builds a ko-style image of random content as an OCI layout.
func writeImage(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "app-bin")
	data := make([]byte, 64<<10)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := koimage.Build(bin, map[string]string{"test": t.Name()})
	if err != nil {
		t.Fatalf("building the test image: %v", err)
	}
	layout := filepath.Join(dir, "layout")
	if err := koimage.WriteLayout(layout, img); err != nil {
		t.Fatal(err)
	}
	return layout
}

// writeKey writes a cosign key pair's private key and its password file, and returns the
// paths and the public key.
func writeKey(t *testing.T, dir string) (key, passwordFile string, pub []byte) {
	t.Helper()
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) {
		return []byte(keyPassword), nil
	})
	if err != nil {
		t.Fatalf("generating a cosign key pair: %v", err)
	}
	key = filepath.Join(dir, "cosign.key")
	passwordFile = filepath.Join(dir, "cosign.password")
	for path, data := range map[string][]byte{key: keys.PrivateBytes,
		passwordFile: []byte(keyPassword)} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return key, passwordFile, keys.PublicBytes
}

// signatures returns the number of valid signatures of the pushed image, read from the
// double by digest.
func (e *env) signatures(t *testing.T) int {
	t.Helper()
	auth := &authn.Basic{Username: harbortest.RobotName(project, robotName), Password: robotSecret}
	tag, err := name.NewTag(e.srv.Host()+"/"+project+"/"+repository+":build-1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(tag, remote.WithAuth(auth))
	if err != nil {
		t.Fatalf("reading the pushed image's digest: %v", err)
	}
	ref := tag.Context().Digest(desc.Digest.String())
	verifier, err := signing.LoadPublicKey(e.pub)
	if err != nil {
		t.Fatal(err)
	}
	n, err := signing.Verify(context.Background(), ref, verifier, signing.WithAuth(auth))
	if err != nil {
		t.Errorf("verifying the signatures of %s: %v", ref, err)
	}
	return n
}

// args returns publish's arguments with a short grace period and polls, and a scan
// timeout of scanTimeout.
func (e *env) args(scanTimeout time.Duration) []string {
	return []string{"publish",
		"--source", "oci:" + e.layout,
		"--target", e.srv.Host() + "/" + project + "/" + repository + ":build-1",
		"--harbor-url", e.srv.URL(),
		"--username", harbortest.RobotName(project, robotName),
		"--password-file", e.robot,
		"--key", e.key,
		"--key-password-file", e.keyPwd,
		"--scan-grace", "300ms",
		"--poll-interval", "20ms",
		"--max-poll-interval", "100ms",
		"--timeout", scanTimeout.String(),
	}
}

// outcome is what one publish run produced.
type outcome struct {
	exit     int
	stdout   string
	stderr   string
	duration time.Duration
}

// publish runs harbor-gate with args under a deadline and checks that no secret leaked.
func publish(t *testing.T, deadline time.Duration, args []string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	exit := cli.Main(ctx, args, &stdout, &stderr)
	out := outcome{exit: exit, stdout: stdout.String(), stderr: stderr.String(),
		duration: time.Since(start)}
	for _, secret := range []string{robotSecret, keyPassword} {
		if strings.Contains(out.stdout+out.stderr, secret) {
			t.Errorf("output contains the secret %q", secret)
		}
	}
	return out
}

// signaturePuts counts successful manifest PUTs of cosign signature tags.
func signaturePuts(srv *harbortest.Server) int {
	n := 0
	for _, r := range srv.RegistryRequests() {
		if r.Kind == "manifests" && r.Method == "PUT" && r.Status == 201 &&
			strings.HasSuffix(r.Reference, ".sig") {
			n++
		}
	}
	return n
}

// imagePuts counts successful manifest PUTs of the image under its tag.
func imagePuts(srv *harbortest.Server) int {
	n := 0
	for _, r := range srv.RegistryRequests() {
		if r.Kind == "manifests" && r.Method == "PUT" && r.Status == 201 &&
			r.Reference == "build-1" {
			n++
		}
	}
	return n
}

// rejectedImagePuts counts manifest PUTs of the image's tag that the double rejected with 412.
func rejectedImagePuts(srv *harbortest.Server) int {
	n := 0
	for _, r := range srv.RegistryRequests() {
		if r.Kind == "manifests" && r.Method == "PUT" && r.Status == 412 &&
			r.Reference == "build-1" {
			n++
		}
	}
	return n
}
