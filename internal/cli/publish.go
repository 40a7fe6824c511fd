package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/druppie/harbor-gate/pkg/events"
	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/policy"
	"github.com/druppie/harbor-gate/pkg/registry"
	"github.com/druppie/harbor-gate/pkg/signing"
)

const publishLong = `Push an image to a Harbor project, sign the pushed digest with cosign,
wait until Harbor's vulnerability scan of that digest is final, and report
PASS or FAIL.

The source is a registry reference (HOST/REPO:TAG or HOST/REPO@sha256:...),
an OCI image layout directory (oci:DIR), a "docker save" tarball
(docker-archive:FILE) or an OCI archive (oci-archive:FILE). Every step after
the push addresses the image by the digest the registry returned.

Passwords are read from files or environment variables, never from flags.
--key takes a cosign key file or a KMS key reference (hashivault://KEY,
awskms://..., azurekms://...); a KMS provider reads its address and
credentials from its usual environment variables, such as VAULT_ADDR and
VAULT_TOKEN.

A registry source is pulled with --source-username and its password when
given, else with the Docker config file ($DOCKER_CONFIG/config.json) and,
for Harbor's own registry, the Harbor credentials.

The policy counts every finding at or above --severity. --fixable-only
counts only findings with a fixed version, and --allow or --allowlist
exempt vulnerability ids until they expire; both read the artifact's
vulnerability list from Harbor and name what they ignored in the verdict.

Exit codes:
  0  PASS: the scan finished and the image meets the policy
  1  FAIL: the scan finished and the image breaks the policy
  2  usage error: an invalid flag, reference or input file
  3  FAIL without a usable scan: the scan failed, was stopped, covered only
     part of an index, timed out, or Harbor will never scan the image
  4  error before a verdict: Harbor or the registry unreachable or refusing,
     or signing failed`

// publishFlags are the flags of "harbor-gate publish".
type publishFlags struct {
	source, target, harborURL             string
	username, passwordFile                string
	sourceUsername, sourcePasswordFile    string
	caBundle                              string
	insecureSkipVerify                    bool
	key, keyPasswordFile                  string
	skipSign                              bool
	tlogURL                               string
	severity                              string
	fixableOnly                           bool
	signatureFormat                       string
	notifyURL                             string
	allow                                 []string
	allowlistFile                         string
	grace, pollInterval, maxPoll, timeout time.Duration
	resultsDir, output                    string
}

var publishEnv = map[string]string{
	"source":               "HARBOR_GATE_SOURCE",
	"target":               "HARBOR_GATE_TARGET",
	"harbor-url":           "HARBOR_URL",
	"username":             "HARBOR_USERNAME",
	"password-file":        "HARBOR_PASSWORD_FILE",
	"ca-bundle":            "HARBOR_CA_BUNDLE",
	"key":                  "COSIGN_KEY",
	"key-password-file":    "COSIGN_PASSWORD_FILE",
	"tlog-url":             "HARBOR_GATE_TLOG_URL",
	"severity":             "HARBOR_GATE_SEVERITY",
	"fixable-only":         "HARBOR_GATE_FIXABLE_ONLY",
	"signature-format":     "HARBOR_GATE_SIGNATURE_FORMAT",
	"notify":               "HARBOR_GATE_NOTIFY",
	"allow":                "HARBOR_GATE_ALLOW",
	"allowlist":            "HARBOR_GATE_ALLOWLIST",
	"source-username":      "SOURCE_USERNAME",
	"source-password-file": "SOURCE_PASSWORD_FILE",
	"timeout":              "HARBOR_GATE_TIMEOUT",
	"results-dir":          "HARBOR_GATE_RESULTS_DIR",
}

func newPublishCommand() *cobra.Command {
	f := &publishFlags{}
	cmd := &cobra.Command{
		Use:   "publish --source IMAGE --target HOST/PROJECT/REPOSITORY[:TAG] --key cosign.key",
		Short: "Push, sign and scan an image, then report PASS or FAIL",
		Long:  publishLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := envFallbacks(cmd.Flags(), publishEnvFor(f)); err != nil {
				return err
			}
			return runPublish(cmd, f)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.source, "source", "", envHelp("image to publish", "HARBOR_GATE_SOURCE"))
	fs.StringVar(&f.target, "target", "",
		envHelp("Harbor repository, HOST/PROJECT/REPOSITORY[:TAG]", "HARBOR_GATE_TARGET"))
	fs.StringVar(&f.harborURL, "harbor-url", "",
		envHelp("Harbor base URL (default https://HOST of --target)", "HARBOR_URL"))
	fs.StringVar(&f.username, "username", "",
		envHelp("Harbor user or robot account, e.g. robot$project+ci", "HARBOR_USERNAME"))
	fs.StringVar(&f.passwordFile, "password-file", "", envHelp(
		"file with the Harbor password (default: env HARBOR_PASSWORD)", "HARBOR_PASSWORD_FILE"))
	fs.StringVar(&f.sourceUsername, "source-username", "",
		envHelp("user for pulling a registry source", "SOURCE_USERNAME"))
	fs.StringVar(&f.sourcePasswordFile, "source-password-file", "", envHelp(
		"file with the source user's password (default: env SOURCE_PASSWORD)",
		"SOURCE_PASSWORD_FILE"))
	fs.StringVar(&f.caBundle, "ca-bundle", "",
		envHelp("PEM file of CAs to trust besides the system roots", "HARBOR_CA_BUNDLE"))
	fs.BoolVar(&f.insecureSkipVerify, "insecure-skip-tls-verify", false,
		"do not verify TLS certificates (test instances only)")
	fs.StringVar(&f.key, "key", "", envHelp(
		"cosign private key file, or a KMS key reference such as hashivault://KEY", "COSIGN_KEY"))
	fs.StringVar(&f.keyPasswordFile, "key-password-file", "", envHelp(
		"file with the key's password (default: env COSIGN_PASSWORD)", "COSIGN_PASSWORD_FILE"))
	fs.BoolVar(&f.skipSign, "skip-sign", false, "publish without a cosign signature")
	fs.StringVar(&f.signatureFormat, "signature-format", "", envHelp("where signatures are "+
		"stored: tag (cosign's sha256-<hex>.sig tag) or referrers (OCI 1.1 referrers); "+
		"default: chosen by the Harbor version", "HARBOR_GATE_SIGNATURE_FORMAT"))
	fs.StringVar(&f.tlogURL, "tlog-url", "",
		envHelp("Rekor URL to upload the signature to (default: no upload)",
			"HARBOR_GATE_TLOG_URL"))
	fs.StringVar(&f.severity, "severity", "critical", envHelp(
		"lowest severity that fails the image: none, low, medium, high, critical",
		"HARBOR_GATE_SEVERITY"))
	fs.BoolVar(&f.fixableOnly, "fixable-only", false, envHelp(
		"count only findings that have a fixed version", "HARBOR_GATE_FIXABLE_ONLY"))
	fs.StringSliceVar(&f.allow, "allow", nil, envHelp("vulnerability id to ignore, "+
		"CVE-ID[=YYYY-MM-DD] with the last day it is ignored (UTC); repeatable or "+
		"comma-separated", "HARBOR_GATE_ALLOW"))
	fs.StringVar(&f.allowlistFile, "allowlist", "", envHelp("YAML or JSON file listing "+
		"vulnerabilities to ignore: id, expires (YYYY-MM-DD or RFC 3339), reason",
		"HARBOR_GATE_ALLOWLIST"))
	fs.DurationVar(&f.grace, "scan-grace", 10*time.Second,
		"time to wait for scan-on-push before requesting a scan")
	fs.DurationVar(&f.pollInterval, "poll-interval", 2*time.Second,
		"first interval between scan status reads; it grows with backoff")
	fs.DurationVar(&f.maxPoll, "max-poll-interval", 30*time.Second,
		"longest interval between scan status reads")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Minute,
		envHelp("time to wait for a final scan status", "HARBOR_GATE_TIMEOUT"))
	fs.StringVar(&f.resultsDir, "results-dir", "", envHelp(
		"directory to write Tekton results into, one file per result", "HARBOR_GATE_RESULTS_DIR"))
	fs.StringVarP(&f.output, "output", "o", "text", "stdout format: text or json")
	fs.StringVar(&f.notifyURL, "notify", "", envHelp("URL to send the verdict to as a "+
		"CloudEvent of type "+events.EventTypeScanCompleted, "HARBOR_GATE_NOTIFY"))
	return cmd
}

func runPublish(cmd *cobra.Command, f *publishFlags) error {
	if err := f.checkWait(); err != nil {
		return err
	}
	if err := prepareResultsDir(f.resultsDir); err != nil {
		return err
	}
	notifier, err := newNotifier(f.notifyURL)
	if err != nil {
		return err
	}
	if notifier != nil {
		defer notifier.Close(context.WithoutCancel(cmd.Context()))
	}
	opts, err := f.options(cmd.Context())
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	opts.Progress = stderr
	opts.OnEvent = func(e gate.Event) {
		fmt.Fprintf(stderr, "%-7s %s\n", e.Phase, e.Message)
	}
	res, err := gate.Run(cmd.Context(), opts)
	if isInputError(err) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	if f.resultsDir != "" {
		if err := writeResults(f.resultsDir, res); err != nil {
			return err
		}
	}
	writeSummary(stderr, res)
	notify(cmd.Context(), notifier, stderr, opts.Target, res)
	if err := writeOutput(cmd.OutOrStdout(), f.output, res); err != nil {
		return err
	}
	return exitError{exitCode(res.Verdict)}
}

// isInputError reports whether err comes from the user's input rather
// than from Harbor or the network.
func isInputError(err error) bool {
	return errors.Is(err, gate.ErrInvalidOptions) ||
		errors.Is(err, registry.ErrInvalidSource) ||
		errors.Is(err, registry.ErrSourceNotFound) ||
		errors.Is(err, registry.ErrAmbiguousSource)
}

// exitCode maps a verdict to the documented exit codes.
func exitCode(v policy.Verdict) int {
	switch v.Reason {
	case policy.ReasonPassed:
		return ExitPass
	case policy.ReasonPolicyViolation:
		return ExitFail
	default:
		return ExitScan
	}
}

// options validates the flags and turns them into gate options. A KMS key is loaded here,
// which contacts the KMS.
func (f *publishFlags) options(ctx context.Context) (gate.Options, error) {
	var opts gate.Options
	if err := f.checkRequired(); err != nil {
		return opts, err
	}
	target, err := gate.ParseTarget(f.target)
	if err != nil {
		return opts, usageError{err}
	}
	p, err := f.policy()
	if err != nil {
		return opts, err
	}
	harborURL, err := resolveHarborURL(f.harborURL, target)
	if err != nil {
		return opts, err
	}
	password, err := readSecret(f.passwordFile, "HARBOR_PASSWORD")
	if err != nil {
		return opts, err
	}
	opts = gate.Options{
		Source:             f.source,
		Target:             target,
		HarborURL:          harborURL,
		Username:           f.username,
		Password:           password,
		InsecureSkipVerify: f.insecureSkipVerify,
		SkipSign:           f.skipSign,
		TransparencyLogURL: f.tlogURL,
		SignatureFormat:    f.signatureFormat,
		Policy:             p,
		Wait: harbor.WaitOptions{
			Grace:        f.grace,
			PollInterval: f.pollInterval,
			MaxInterval:  f.maxPoll,
			Timeout:      f.timeout,
		},
	}
	if opts.CABundle, err = readCABundle(f.caBundle, f.insecureSkipVerify); err != nil {
		return opts, err
	}
	if opts.SourceKeychain, err = f.sourceKeychain(target, f.username, password); err != nil {
		return opts, err
	}
	opts.Key, err = f.signingKey(ctx)
	return opts, err
}

// checkRequired checks --output and that --source and --target are given.
func (f *publishFlags) checkRequired() error {
	if f.output != "text" && f.output != "json" {
		return usagef("invalid --output %q: use text or json", f.output)
	}
	switch f.signatureFormat {
	case gate.SignatureFormatAuto, gate.SignatureFormatTag, gate.SignatureFormatReferrers:
	default:
		return usagef("invalid --signature-format %q: use tag or referrers, or leave it "+
			"empty to choose by the Harbor version", f.signatureFormat)
	}
	if f.source == "" {
		return usagef("missing --source: name the image to publish " +
			"(a registry reference, oci:DIR, docker-archive:FILE or oci-archive:FILE)")
	}
	if f.target == "" {
		return usagef("missing --target: name the Harbor repository as " +
			"HOST/PROJECT/REPOSITORY[:TAG]")
	}
	return nil
}

// policy builds the policy from --severity, --fixable-only, --allowlist and --allow.
func (f *publishFlags) policy() (policy.Policy, error) {
	threshold, err := policy.ParseSeverity(f.severity)
	if err != nil {
		return policy.Policy{}, usagef("--severity: %v", err)
	}
	entries, err := allowlist(f.allowlistFile, f.allow)
	if err != nil {
		return policy.Policy{}, err
	}
	return policy.Policy{Threshold: threshold, FixableOnly: f.fixableOnly, Allowlist: entries},
		nil
}

func (f *publishFlags) signingKey(ctx context.Context) (*signing.Key, error) {
	switch {
	case f.skipSign && f.key != "":
		return nil, usagef("--skip-sign and --key exclude each other; drop one")
	case f.skipSign:
		return nil, nil
	case f.key == "":
		return nil, usagef("missing --key: name a cosign private key file (as cosign " +
			"generate-key-pair writes it) or a KMS key reference, or pass --skip-sign")
	case strings.Contains(f.key, "://"):
		return loadKMSKey(ctx, f.key)
	}
	keyPEM, err := readFile("key", f.key)
	if err != nil {
		return nil, err
	}
	password, err := readSecret(f.keyPasswordFile, "COSIGN_PASSWORD")
	if err != nil {
		return nil, err
	}
	key, err := signing.LoadKey(keyPEM, []byte(password))
	if errors.Is(err, signing.ErrWrongPassword) {
		return nil, usagef("cannot decrypt the cosign key %s with the given password; check "+
			"--key-password-file or COSIGN_PASSWORD", f.key)
	}
	if err != nil {
		return nil, usagef("loading the cosign key %s: %v", f.key, err)
	}
	return key, nil
}

// loadKMSKey loads the KMS key of --key. A reference no provider accepts is a usage error;
// a KMS that cannot be reached or rejects the credentials is an error before the verdict.
func loadKMSKey(ctx context.Context, ref string) (*signing.Key, error) {
	key, err := signing.LoadKMSKey(ctx, ref)
	if errors.Is(err, signing.ErrInvalidKey) {
		return nil, usagef("--key: %v", err)
	}
	if err != nil {
		return nil, fmt.Errorf("--key: %w; check the KMS address and credentials in the "+
			"environment", err)
	}
	return key, nil
}

// resolveHarborURL checks --harbor-url, or derives it from the target's
// registry host when it is empty.
func resolveHarborURL(raw string, target gate.Target) (string, error) {
	if raw == "" {
		return "https://" + target.Repo.RegistryStr(), nil
	}
	if err := checkHarborURL(raw); err != nil {
		return "", err
	}
	return raw, nil
}

// checkHarborURL rejects a --harbor-url that is not an absolute http or https URL, or that
// carries credentials, a query or a fragment. No message repeats a password or query.
func checkHarborURL(raw string) error {
	u, err := url.Parse(raw)
	if err == nil && u.User != nil {
		return usagef("invalid --harbor-url: it contains credentials; pass them with " +
			"--username and --password-file instead")
	}
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return usagef("invalid --harbor-url %q: use an absolute http or https URL "+
			"such as https://harbor.example", harbor.RedactURL(raw))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		// The query is left out of the message because it may carry a token.
		return usagef("invalid --harbor-url %q: remove the query and fragment, and "+
			"pass credentials with --username and --password-file", u.Scheme+"://"+u.Host+u.Path)
	}
	return nil
}

// readCABundle reads the --ca-bundle file, if one is named, and rejects it together with
// --insecure-skip-tls-verify, which would ignore it.
func readCABundle(path string, insecureSkipVerify bool) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	if insecureSkipVerify {
		return nil, usagef("--ca-bundle and --insecure-skip-tls-verify exclude each other, " +
			"because skipping verification ignores the CA bundle; drop one")
	}
	return readFile("ca-bundle", path)
}
