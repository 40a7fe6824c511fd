package cli

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/spf13/cobra"

	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// sandboxFlags are the flags of "harbor-gate sandbox".
type sandboxFlags struct {
	addr, fixture, storageDir, project string
	dir                                string
	tls                                bool
}

// sandboxRobot is the robot account the sandbox creates in its project.
const sandboxRobot = "ci"

func newSandboxCommand() *cobra.Command {
	f := &sandboxFlags{}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a local Harbor double to try harbor-gate without a Harbor",
		Long: `Start the Harbor double on loopback: a real Distribution registry behind
Harbor's token service and the part of Harbor's v2.0 API that harbor-gate
uses, with a scanner whose findings come from a fixture file.

The sandbox creates a private project with scan on push, a robot account
and a cosign key pair, prints how to use them, and writes them as files
into --dir (shell variables in sandbox.env). It runs until interrupted.

The system administrator is "admin" with a random password, which
sandbox.env names as HARBOR_ADMIN_USERNAME and HARBOR_ADMIN_PASSWORD_FILE
(the file admin.password, readable by its owner only). Use them for
"harbor-gate project apply", which creates projects and robots, as
hack/policy-demo.sh does.

With the default fixture, repositories whose name contains "vulnerable"
get a Critical finding and all others one Low finding.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSandbox(cmd, f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.addr, "addr", "127.0.0.1:0", "loopback address to listen on")
	fs.StringVar(&f.fixture, "fixture", "",
		"scanner fixture file, YAML or JSON (default: the built-in fixture)")
	fs.StringVar(&f.storageDir, "storage-dir", "",
		"directory for registry data (default: a temporary directory removed on exit)")
	fs.StringVar(&f.project, "project", "demo", "name of the project to create")
	fs.StringVar(&f.dir, "dir", "", "directory for sandbox.env and the cosign key pair "+
		"(default: a temporary directory removed on exit)")
	fs.BoolVar(&f.tls, "tls", false, "serve HTTPS with a generated CA, written to --dir as ca.pem")
	return cmd
}

func runSandbox(cmd *cobra.Command, f *sandboxFlags) error {
	if err := checkLoopback(f.addr); err != nil {
		return err
	}
	if err := checkStorageDir(f.storageDir); err != nil {
		return err
	}
	fixture := harbortest.DefaultFixture()
	if f.fixture != "" {
		var err error
		if fixture, err = harbortest.LoadFixture(f.fixture); err != nil {
			return usagef("--fixture: %v", err)
		}
	}
	dir, cleanup, err := sandboxDir(f.dir)
	if err != nil {
		return err
	}
	defer cleanup()
	secret, err := randomSecret()
	if err != nil {
		return err
	}
	adminPassword, err := randomSecret()
	if err != nil {
		return err
	}
	opts := []harbortest.Option{
		harbortest.WithAdmin(harbortest.DefaultAdminUser, adminPassword),
		harbortest.WithAddr(f.addr),
		harbortest.WithFixture(fixture),
		harbortest.WithProject(harbortest.Project{
			Name:     f.project,
			Metadata: map[string]string{"auto_scan": "true"},
		}),
		harbortest.WithRobot(f.project, sandboxRobot, secret),
	}
	if f.storageDir != "" {
		opts = append(opts, harbortest.WithStorageDir(f.storageDir))
	}
	if f.tls {
		opts = append(opts, harbortest.WithTLS())
	}
	srv, err := harbortest.New(opts...)
	if errors.Is(err, harbortest.ErrInvalid) {
		return usagef("starting the Harbor double: %v", err)
	}
	if err != nil {
		return fmt.Errorf("starting the Harbor double: %w", err)
	}
	defer srv.Close()
	env, err := writeSandboxFiles(dir, srv, f.project, sandboxSecrets{
		robot: secret, admin: adminPassword})
	if err != nil {
		return err
	}
	printSandbox(cmd.ErrOrStderr(), srv, f.project, dir)
	fmt.Fprint(cmd.OutOrStdout(), env)
	<-cmd.Context().Done()
	fmt.Fprintln(cmd.ErrOrStderr(), "sandbox stopped")
	return nil
}

// checkLoopback rejects listen addresses other than loopback ones: the
// sandbox has well-known credentials and must not be reachable from other
// machines.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("invalid --addr %q: use HOST:PORT, such as 127.0.0.1:8080", addr)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return usagef("invalid --addr %q: the sandbox listens only on loopback addresses, "+
		"such as 127.0.0.1:8080 or [::1]:8080", addr)
}

// checkStorageDir rejects a --storage-dir that exists but is no directory.
func checkStorageDir(dir string) error {
	if dir == "" {
		return nil
	}
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return usagef("--storage-dir: %v", err)
	case !info.IsDir():
		return usagef("invalid --storage-dir %q: it is a file, not a directory", dir)
	}
	return nil
}

func sandboxDir(dir string) (string, func(), error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", nil, usagef("--dir: %v", err)
		}
		return dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "harbor-gate-sandbox-")
	if err != nil {
		return "", nil, fmt.Errorf("creating a temporary directory: %w", err)
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

func randomSecret() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// sandboxSecrets are the passwords that the sandbox generated.
type sandboxSecrets struct {
	robot, admin string
}

// writeSandboxFiles writes the robot and administrator passwords, a cosign
// key pair and sandbox.env into dir, each readable by its owner only, and
// returns the contents of sandbox.env.
func writeSandboxFiles(dir string, srv *harbortest.Server, project string,
	secrets sandboxSecrets) (string, error) {
	keyPassword, err := randomSecret()
	if err != nil {
		return "", err
	}
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) {
		return []byte(keyPassword), nil
	})
	if err != nil {
		return "", fmt.Errorf("generating a cosign key pair: %w", err)
	}
	files := map[string][]byte{
		"harbor.password": []byte(secrets.robot),
		"admin.password":  []byte(secrets.admin),
		"cosign.key":      keys.PrivateBytes,
		"cosign.pub":      keys.PublicBytes,
		"cosign.password": []byte(keyPassword),
	}
	if ca := srv.CACertPEM(); ca != nil {
		files["ca.pem"] = ca
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return "", fmt.Errorf("writing %s: %w", name, err)
		}
	}
	vars := [][2]string{
		{"HARBOR_URL", srv.URL()},
		{"HARBOR_REGISTRY", srv.Host()},
		{"HARBOR_PROJECT", project},
		{"HARBOR_USERNAME", harbortest.RobotName(project, sandboxRobot)},
		{"HARBOR_PASSWORD_FILE", filepath.Join(dir, "harbor.password")},
		{"COSIGN_KEY", filepath.Join(dir, "cosign.key")},
		{"COSIGN_PASSWORD_FILE", filepath.Join(dir, "cosign.password")},
		{"HARBOR_ADMIN_USERNAME", harbortest.DefaultAdminUser},
		{"HARBOR_ADMIN_PASSWORD_FILE", filepath.Join(dir, "admin.password")},
	}
	if srv.CACertPEM() != nil {
		vars = append(vars, [2]string{"HARBOR_CA_BUNDLE", filepath.Join(dir, "ca.pem")})
	}
	var env strings.Builder
	for _, v := range vars {
		fmt.Fprintf(&env, "%s=%s\n", v[0], shellQuote(v[1]))
	}
	if err := os.WriteFile(filepath.Join(dir, "sandbox.env"), []byte(env.String()), 0o600); err != nil {
		return "", fmt.Errorf("writing sandbox.env: %w", err)
	}
	return env.String(), nil
}

// shellQuote quotes s for a POSIX shell, so that sourcing sandbox.env
// assigns the value literally whatever characters a path contains.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func printSandbox(w io.Writer, srv *harbortest.Server, project, dir string) {
	fmt.Fprintf(w, "Harbor double listening at %s\n", srv.URL())
	fmt.Fprintf(w, "  registry:  %s\n", srv.Host())
	fmt.Fprintf(w, "  project:   %s (private, scan on push)\n", project)
	fmt.Fprintf(w, "  robot:     robot$%s+%s, password in %s\n", project, sandboxRobot,
		filepath.Join(dir, "harbor.password"))
	fmt.Fprintf(w, "  cosign:    %s (password in %s)\n", filepath.Join(dir, "cosign.key"),
		filepath.Join(dir, "cosign.password"))
	fmt.Fprintf(w, "  admin:     %s, password in %s\n", harbortest.DefaultAdminUser,
		filepath.Join(dir, "admin.password"))
	fmt.Fprintf(w, "\nIn another shell:\n  set -a; . %s; set +a\n",
		shellQuote(filepath.Join(dir, "sandbox.env")))
	fmt.Fprintf(w, "  harbor-gate publish --source oci:DIR "+
		"--target \"$HARBOR_REGISTRY/%s/app:v1\"\n", project)
	fmt.Fprintf(w, "  harbor-gate project diff -f POLICY --secrets-dir DIR "+
		"--username \"$HARBOR_ADMIN_USERNAME\" "+
		"--password-file \"$HARBOR_ADMIN_PASSWORD_FILE\"\n")
	fmt.Fprintf(w, "\nPress Ctrl-C to stop.\n")
}
