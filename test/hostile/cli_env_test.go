package hostile

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"

	"github.com/druppie/harbor-gate/internal/cli"
	"github.com/druppie/harbor-gate/internal/koimage"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// Secret values of the command line runs. Each is distinct, so that a leak names its
// source.
const (
	project        = "team"
	robotName      = "ci"
	robotSecret    = "s3cr3t-robot-Zq81"
	keyPassword    = "s3cr3t-key-Pw77"
	privateProject = "private"
	sourceUser     = "builder"
	sourcePassword = "s3cr3t-builder-Hn52"
)

// cliFixture makes scans finish quickly. Repositories named *vulnerable* get a Critical
// finding.
const cliFixture = `
pending: 20ms
running: 50ms
rules:
  - repository: "*/*vulnerable*"
    vulnerabilities:
      - {id: CVE-2024-0001, package: openssl, version: 3.0.0, fix_version: 3.0.1, severity: Critical}
`

// cliEnv is one test's Harbor double, image, key and password files.
type cliEnv struct {
	srv                      *harbortest.Server
	dir, layout              string
	key, keyPass, robotPwd   string
	sourcePwd, privateSource string
}

func newCLIEnv(t *testing.T, opts ...harbortest.Option) *cliEnv {
	t.Helper()
	fixture, err := harbortest.ParseFixture([]byte(cliFixture))
	if err != nil {
		t.Fatalf("parsing the fixture: %v", err)
	}
	srv, err := harbortest.New(append([]harbortest.Option{
		harbortest.WithFixture(fixture),
		harbortest.WithProject(harbortest.Project{Name: project,
			Metadata: map[string]string{"auto_scan": "true"}}),
		harbortest.WithProject(harbortest.Project{Name: privateProject}),
		harbortest.WithRobot(project, robotName, robotSecret),
		harbortest.WithUser(sourceUser, sourcePassword, privateProject),
	}, opts...)...)
	if err != nil {
		t.Fatalf("starting the Harbor double: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	e := &cliEnv{srv: srv, dir: t.TempDir()}
	e.layout = filepath.Join(e.dir, "image")
	if err := koimage.WriteLayout(e.layout, e.image(t)); err != nil {
		t.Fatal(err)
	}
	e.key, e.keyPass = e.writeKeyPair(t)
	e.robotPwd = e.writeFile(t, "robot.password", robotSecret+"\n")
	e.sourcePwd = e.writeFile(t, "source.password", sourcePassword)
	return e
}

// image builds a small ko-style image of random content.
func (e *cliEnv) image(t *testing.T) v1.Image {
	t.Helper()
	data := make([]byte, 16<<10)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	bin := e.writeFile(t, "app-bin", string(data))
	img, err := koimage.Build(bin, map[string]string{"test": t.Name()})
	if err != nil {
		t.Fatalf("building the test image: %v", err)
	}
	return img
}

// pushPrivateSource pushes an image to the private project, which only sourceUser and
// the administrator may pull, and returns its reference.
func (e *cliEnv) pushPrivateSource(t *testing.T) string {
	t.Helper()
	ref, err := name.ParseReference(e.srv.Host() + "/" + privateProject + "/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	admin := &authn.Basic{Username: harbortest.DefaultAdminUser,
		Password: harbortest.DefaultAdminPassword}
	if err := remote.Write(ref, e.image(t), remote.WithAuth(admin)); err != nil {
		t.Fatalf("pushing the source image: %v", err)
	}
	return ref.String()
}

func (e *cliEnv) writeKeyPair(t *testing.T) (key, passFile string) {
	t.Helper()
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) {
		return []byte(keyPassword), nil
	})
	if err != nil {
		t.Fatalf("generating a cosign key pair: %v", err)
	}
	return e.writeFile(t, "cosign.key", string(keys.PrivateBytes)),
		e.writeFile(t, "cosign.password", keyPassword)
}

// writeFile writes data to a file of the env's directory and returns its path.
func (e *cliEnv) writeFile(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(e.dir, name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// target returns the Harbor target for repository in the test project.
func (e *cliEnv) target(repository string) string {
	return e.srv.Host() + "/" + project + "/" + repository + ":build-1"
}

// args returns publish's arguments for repository, followed by extra.
func (e *cliEnv) args(repository string, extra ...string) []string {
	args := []string{"publish",
		"--source", "oci:" + e.layout,
		"--target", e.target(repository),
		"--harbor-url", e.srv.URL(),
		"--username", harbortest.RobotName(project, robotName),
		"--password-file", e.robotPwd,
		"--key", e.key,
		"--key-password-file", e.keyPass,
		"--scan-grace", "1s",
		"--poll-interval", "10ms",
		"--max-poll-interval", "50ms",
		"--timeout", "30s",
	}
	return append(args, extra...)
}

// runCLI runs harbor-gate with args and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	callSafely(t, func() { code = cli.Main(ctx, args, &out, &errOut) })
	return code, out.String(), errOut.String()
}
