package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client"
	"github.com/spf13/cobra"

	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/projectpolicy"
)

// Exit codes of "harbor-gate project diff".
const (
	// ExitInSync means Harbor matches the policy file.
	ExitInSync = 0
	// ExitDrift means Harbor differs from the policy file; the plan lists how.
	ExitDrift = 1
)

const projectLong = `Keep Harbor project settings as code. A policy file holds HarborProject
documents (project metadata, CVE allowlist, immutable tag rules, tag
retention, webhook policies, the harbor-gate robot account, replication
rules and proxy-cache settings) and at most one
HarborInstance document (OIDC login, system CVE allowlist); see
config/harbor/project.yaml.

"diff" prints the plan, one line per change, and exits 0 when Harbor is in
sync, 1 on drift, 2 on an invalid flag or policy file and 4 when Harbor
fails. "apply" prints the same plan and makes it; --dry-run only prints it.

Secrets in the file are read from files or Kubernetes Secrets (through the
current kubeconfig) and never printed. With --secrets-dir DIR, a secretRef
{namespace, name, key} is read from the file DIR/<namespace>/<name>/<key>,
the layout of a Secret mounted as a volume, and Kubernetes is never
contacted; this suits a sandbox without a cluster and a pod that mounts the
Secrets. Each part must be a valid Kubernetes namespace, Secret name or key,
so no "/" and no "..".`

// projectFlags are the flags of "harbor-gate project diff" and "project apply".
type projectFlags struct {
	file, harborURL, username, passwordFile, caBundle string
	insecureSkipVerify                                bool
	dryRun, rotateSecret, showSecret                  bool
	pullSecretOut, gateSecretOut, registry            string
	pullSecretName, gateSecretName, secretNamespace   string
	secretsDir                                        string
}

var projectEnv = map[string]string{
	"harbor-url":    "HARBOR_URL",
	"username":      "HARBOR_USERNAME",
	"password-file": "HARBOR_PASSWORD_FILE",
	"ca-bundle":     "HARBOR_CA_BUNDLE",
}

func newProjectCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "project",
		Short: "Compare or apply Harbor project policy files",
		Long:  projectLong,
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newProjectDiffCommand(), newProjectApplyCommand())
	return cmd
}

func newProjectDiffCommand() *cobra.Command {
	f := &projectFlags{}
	cmd := &cobra.Command{
		Use:   "diff -f FILE",
		Short: "Print how Harbor differs from a policy file; exit 1 on drift",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envFallbacks(cmd.Flags(), projectEnv); err != nil {
				return err
			}
			return runProject(cmd, f, false)
		},
	}
	addProjectFlags(cmd, f)
	return cmd
}

func newProjectApplyCommand() *cobra.Command {
	f := &projectFlags{}
	cmd := &cobra.Command{
		Use:   "apply -f FILE [--dry-run]",
		Short: "Change Harbor to match a policy file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envFallbacks(cmd.Flags(), projectEnv); err != nil {
				return err
			}
			return runProject(cmd, f, true)
		},
	}
	addProjectFlags(cmd, f)
	fs := cmd.Flags()
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the plan without changing Harbor")
	fs.BoolVar(&f.rotateSecret, "rotate-robot-secret", false,
		"refresh the secret of an existing robot, so that its credentials can be written")
	fs.StringVar(&f.pullSecretOut, "pull-secret-out", "", "file to write a "+
		"kubernetes.io/dockerconfigjson Secret (ImagePullSecret) with the robot's "+
		"credentials to, when the robot is created or its secret refreshed")
	fs.StringVar(&f.gateSecretOut, "gate-secret-out", "", "file to write the "+
		"kubernetes.io/basic-auth Secret that an ImageGate's credentialsSecret names")
	fs.StringVar(&f.pullSecretName, "pull-secret-name", "harbor-pull",
		"name of the ImagePullSecret")
	fs.StringVar(&f.gateSecretName, "gate-secret-name", "harbor-robot",
		"name of the gate's credentials Secret")
	fs.StringVar(&f.secretNamespace, "secret-namespace", "",
		"namespace of both Secrets (default: none, set by kubectl apply -n)")
	fs.StringVar(&f.registry, "registry", "", "registry host of the ImagePullSecret "+
		"(default: the host of --harbor-url)")
	fs.BoolVar(&f.showSecret, "show-secret", false,
		"print the robot's new secret on stdout")
	return cmd
}

func addProjectFlags(cmd *cobra.Command, f *projectFlags) {
	fs := cmd.Flags()
	fs.StringVarP(&f.file, "file", "f", "", "policy file (YAML)")
	fs.StringVar(&f.harborURL, "harbor-url", "",
		envHelp("Harbor base URL, such as https://harbor.example", "HARBOR_URL"))
	fs.StringVar(&f.username, "username", "",
		envHelp("Harbor user with project or system administrator rights",
			"HARBOR_USERNAME"))
	fs.StringVar(&f.passwordFile, "password-file", "", envHelp(
		"file with the Harbor password (default: env HARBOR_PASSWORD)",
		"HARBOR_PASSWORD_FILE"))
	fs.StringVar(&f.caBundle, "ca-bundle", "",
		envHelp("PEM file of CAs to trust besides the system roots", "HARBOR_CA_BUNDLE"))
	fs.BoolVar(&f.insecureSkipVerify, "insecure-skip-tls-verify", false,
		"do not verify TLS certificates (test instances only)")
	fs.StringVar(&f.secretsDir, "secrets-dir", "", "read each secretRef from the file "+
		"DIR/<namespace>/<name>/<key> instead of from Kubernetes "+
		"(default: Kubernetes through the current kubeconfig)")
}

// runProject plans every document of the file and, for apply, makes the plans.
func runProject(cmd *cobra.Command, f *projectFlags, applying bool) error {
	doc, err := f.load()
	if err != nil {
		return err
	}
	api, err := f.api()
	if err != nil {
		return err
	}
	plans, err := planDocument(cmd.Context(), api, doc, f)
	if err != nil {
		return err
	}
	stdout := cmd.OutOrStdout()
	drift := false
	for _, plan := range plans {
		fmt.Fprint(stdout, plan)
		drift = drift || !plan.Empty()
	}
	if !applying {
		if drift {
			return exitError{ExitDrift}
		}
		return nil
	}
	if f.dryRun {
		fmt.Fprintln(cmd.ErrOrStderr(), "dry run: Harbor was not changed")
		return nil
	}
	return applyPlans(cmd, api, plans, f)
}

// load reads and validates the policy file; every problem is a usage error.
func (f *projectFlags) load() (*projectpolicy.Document, error) {
	if f.file == "" {
		return nil, usagef("missing -f: name the policy file, such as " +
			"config/harbor/project.yaml")
	}
	file, err := os.Open(f.file)
	if err != nil {
		return nil, usagef("-f: %v", err)
	}
	defer file.Close()
	doc, err := projectpolicy.Load(file)
	if err == nil {
		err = doc.Validate()
	}
	if err != nil {
		return nil, usagef("%s: %v", f.file, err)
	}
	robots := 0
	for _, p := range doc.Projects {
		if p.Spec.Robot != nil {
			robots++
		}
	}
	if err := checkSecretsDir(f.secretsDir); err != nil {
		return nil, err
	}
	if robots > 1 && (f.pullSecretOut != "" || f.gateSecretOut != "" || f.rotateSecret) {
		return nil, usagef("%s defines %d robots, but --pull-secret-out, --gate-secret-out "+
			"and --rotate-robot-secret handle one: apply one project file at a time",
			f.file, robots)
	}
	return doc, nil
}

// checkSecretsDir rejects a --secrets-dir that is not a directory, before any request to
// Harbor.
func checkSecretsDir(dir string) error {
	if dir == "" {
		return nil
	}
	info, err := os.Stat(dir)
	if err != nil {
		return usagef("--secrets-dir: %v", err)
	}
	if !info.IsDir() {
		return usagef("invalid --secrets-dir %q: it is a file, not a directory", dir)
	}
	return nil
}

// api builds the go-client from the Harbor flags.
func (f *projectFlags) api() (*client.HarborAPI, error) {
	if f.harborURL == "" {
		return nil, usagef("missing --harbor-url: set it or HARBOR_URL to Harbor's base " +
			"URL, such as https://harbor.example")
	}
	if err := checkHarborURL(f.harborURL); err != nil {
		return nil, err
	}
	password, err := readSecret(f.passwordFile, "HARBOR_PASSWORD")
	if err != nil {
		return nil, err
	}
	cfg := harbor.Config{URL: f.harborURL, Username: f.username, Password: password,
		InsecureSkipVerify: f.insecureSkipVerify}
	if cfg.CABundle, err = readCABundle(f.caBundle, f.insecureSkipVerify); err != nil {
		return nil, err
	}
	api, err := projectpolicy.NewAPI(cfg)
	if err != nil {
		return nil, usageError{err}
	}
	return api, nil
}

// planDocument plans the instance first, then each project in file order.
func planDocument(ctx context.Context, api *client.HarborAPI, doc *projectpolicy.Document,
	f *projectFlags) ([]*projectpolicy.Plan, error) {
	opts := []projectpolicy.Option{projectpolicy.WithRotateRobotSecret(f.rotateSecret)}
	if f.secretsDir != "" {
		opts = append(opts, projectpolicy.WithSecretReader(
			projectpolicy.NewDirSecretReader(f.secretsDir)))
	}
	var plans []*projectpolicy.Plan
	for _, in := range doc.Instances {
		plan, err := projectpolicy.PlanInstance(ctx, api, in, opts...)
		if err != nil {
			return nil, policyError(err)
		}
		plans = append(plans, plan)
	}
	for _, p := range doc.Projects {
		plan, err := projectpolicy.PlanProject(ctx, api, p, opts...)
		if err != nil {
			return nil, policyError(err)
		}
		plans = append(plans, plan)
	}
	return plans, nil
}

// policyError makes an unreadable secret a usage error; Harbor's errors stay errors. A
// refused login or a missing permission gets a hint about the account to use.
func policyError(err error) error {
	if errors.Is(err, projectpolicy.ErrSecret) {
		return usageError{err}
	}
	var harborErr *projectpolicy.HarborError
	if !errors.As(err, &harborErr) {
		return err
	}
	switch harborErr.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: Harbor rejected the login: check --username and "+
			"--password-file", err)
	case http.StatusForbidden:
		return fmt.Errorf("%w: the user lacks a permission that project diff and apply "+
			"need: use a Harbor system administrator or an administrator of every project "+
			"in the file (the sandbox writes one to sandbox.env as HARBOR_ADMIN_USERNAME "+
			"and HARBOR_ADMIN_PASSWORD_FILE)", err)
	}
	return err
}

// applyPlans makes the plans in order and writes the robot's credentials.
func applyPlans(cmd *cobra.Command, api *client.HarborAPI, plans []*projectpolicy.Plan,
	f *projectFlags) error {
	stderr := cmd.ErrOrStderr()
	var creds *projectpolicy.RobotCredentials
	for _, plan := range plans {
		result, err := plan.Apply(cmd.Context(), api)
		if err != nil {
			return policyError(fmt.Errorf("applying %s after %d changes: %w", plan.Target,
				result.Steps, err))
		}
		if !plan.Empty() {
			fmt.Fprintf(stderr, "applied %s: %d requests\n", plan.Target, result.Steps)
		}
		if result.Robot != nil {
			creds = result.Robot
		}
	}
	return writeCredentials(cmd.OutOrStdout(), stderr, creds, f)
}
