package imagegate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/druppie/harbor-gate/pkg/apis/harbor/v1alpha1"
	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/policy"
	"github.com/druppie/harbor-gate/pkg/signing"
)

// Keys of the Secrets an ImageGate names.
const (
	// SecretKeyUsername and SecretKeyPassword are the keys of the Harbor credentials
	// Secret, as in a Secret of type kubernetes.io/basic-auth.
	SecretKeyUsername = "username"
	SecretKeyPassword = "password"
	// SecretKeyCosignKey is the private key that cosign generate-key-pair writes.
	SecretKeyCosignKey = "cosign.key"
	// SecretKeyCosignPassword is the key's password. A missing key means an empty password.
	SecretKeyCosignPassword = "cosign.password"
	// SecretKeyDockerConfig is the Docker config file of a Secret of type
	// kubernetes.io/dockerconfigjson, which holds the source registry's credentials.
	SecretKeyDockerConfig = corev1.DockerConfigJsonKey
)

// gateOptions builds the options of one gate step from the resolved spec and the Secrets
// it names. Every phase but Scan reads its Secrets by GET. A scan poll reuses Harbor
// credentials read less than secretCacheTTL ago, and cached reports whether it did.
func (r *Reconciler) gateOptions(ctx context.Context, namespace string, run *RunSpec,
	phase gate.Phase) (opts gate.Options, cached bool, err error) {
	target, err := gate.ParseTarget(run.Target)
	if err != nil {
		return gate.Options{}, false, invalidSpec("spec.params[%s]: %v", ParamTarget, err)
	}
	spec := &run.Spec
	opts = gate.Options{
		// The docker:// prefix makes the source a registry reference even
		// when a file of that name exists in the controller's working
		// directory, so a run can never publish the controller's files.
		Source:             "docker://" + strings.TrimPrefix(run.Source, "docker://"),
		Target:             target,
		HarborURL:          strings.TrimRight(spec.Harbor.URL, "/"),
		CABundle:           []byte(spec.Harbor.CABundle),
		InsecureSkipVerify: spec.Harbor.InsecureSkipVerify,
		TransparencyLogURL: spec.Signing.TransparencyLogURL,
		Wait:               r.waitOptions(spec.Scan),
	}
	if opts.Policy, err = gatePolicy(spec.Policy); err != nil {
		return gate.Options{}, false, err
	}
	if name := spec.Harbor.CredentialsSecret; name != "" {
		var data map[string][]byte
		if data, cached, err = r.harborCredentials(ctx, namespace, name, phase); err != nil {
			return gate.Options{}, false, err
		}
		opts.Username = trimNewline(data[SecretKeyUsername])
		opts.Password = trimNewline(data[SecretKeyPassword])
	}
	// The source credentials are read in Resolve too, so that a malformed Secret fails
	// the run before anything is pushed.
	if name := spec.Harbor.SourceCredentialsSecret; name != "" && !pastPush(phase) {
		if opts.SourceKeychain, err = r.sourceKeychain(ctx, namespace, name); err != nil {
			return gate.Options{}, false, err
		}
	}
	// The key is loaded only in Resolve and in Sign. Resolve fails the run on a wrong
	// password or an unusable KMS key before anything is pushed, and Sign is the one
	// phase that uses the key. Decrypting a key from a Secret runs scrypt (about 150 ms
	// of CPU, an estimate) and a KMS key costs a request to the KMS, which Push and every
	// scan poll need not pay.
	opts.SkipSign = spec.Signing.Skip || !needsKey(phase)
	if opts.SkipSign {
		return opts, cached, nil
	}
	if spec.Signing.KMS != "" {
		opts.Key, err = kmsKey(ctx, spec.Signing.KMS)
		return opts, cached, err
	}
	opts.Key, err = r.signingKey(ctx, namespace, spec.Signing.KeySecret)
	return opts, cached, err
}

// harborCredentials returns the data of the Harbor credentials Secret. In the scan phase
// it returns the data of a GET less than secretCacheTTL old if there is one, and cached
// reports that. Every GET refreshes the cache.
func (r *Reconciler) harborCredentials(ctx context.Context, namespace, name string,
	phase gate.Phase) (data map[string][]byte, cached bool, err error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	if phase == gate.PhaseScan {
		if data, ok := r.secrets.get(key); ok {
			return data, true, nil
		}
	}
	data, err = r.readSecret(ctx, namespace, name, SecretKeyUsername, SecretKeyPassword)
	if err != nil {
		return nil, false, err
	}
	r.secrets.put(key, data)
	return data, false, nil
}

func needsKey(phase gate.Phase) bool {
	return phase == "" || phase == gate.PhaseResolve || phase == gate.PhaseSign
}

// pastPush reports whether the phase comes after the push, so the source is not read again.
func pastPush(phase gate.Phase) bool {
	return phase == gate.PhaseSign || phase == gate.PhaseScan
}

func (r *Reconciler) waitOptions(scan v1alpha1.ScanSpec) harbor.WaitOptions {
	opts := harbor.WaitOptions{Clock: r.clock}
	for _, d := range []struct {
		field  *metav1.Duration
		target *time.Duration
	}{
		{scan.GracePeriod, &opts.Grace},
		{scan.PollInterval, &opts.PollInterval},
		{scan.MaxPollInterval, &opts.MaxInterval},
		{scan.Timeout, &opts.Timeout},
	} {
		if d.field != nil {
			*d.target = d.field.Duration
		}
	}
	return opts
}

// gatePolicy converts the validated policy of a spec.
func gatePolicy(spec v1alpha1.PolicySpec) (policy.Policy, error) {
	threshold, err := policy.ParseSeverity(spec.Severity)
	if err != nil {
		return policy.Policy{}, invalidSpec("spec.policy.severity: %v", err)
	}
	p := policy.Policy{Threshold: threshold, FixableOnly: spec.FixableOnly}
	for _, entry := range spec.Allowlist {
		converted := policy.AllowlistEntry{ID: entry.ID, Reason: entry.Reason}
		if entry.Expires != nil {
			converted.Expires = entry.Expires.Time
		}
		p.Allowlist = append(p.Allowlist, converted)
	}
	for name, count := range spec.MaxCounts {
		severity, err := policy.ParseSeverity(name)
		if err != nil {
			return policy.Policy{}, invalidSpec("spec.policy.maxCounts[%s]: %v", name, err)
		}
		if p.MaxCounts == nil {
			p.MaxCounts = map[policy.Severity]int64{}
		}
		p.MaxCounts[severity] = count
	}
	return p, nil
}

// signingKey reads and decrypts the cosign key of a Secret. A key that cannot be
// decrypted ends the run; the message names the Secret, never the password.
func (r *Reconciler) signingKey(ctx context.Context, namespace, name string) (
	*signing.Key, error) {
	data, err := r.readSecret(ctx, namespace, name, SecretKeyCosignKey)
	if err != nil {
		return nil, err
	}
	password := trimNewline(data[SecretKeyCosignPassword])
	key, err := signing.LoadKey(data[SecretKeyCosignKey], []byte(password))
	if errors.Is(err, signing.ErrWrongPassword) {
		return nil, invalidSpec("cannot decrypt %q of Secret %s/%s with its %q; "+
			"store the password the key was generated with", SecretKeyCosignKey, namespace,
			name, SecretKeyCosignPassword)
	}
	if err != nil {
		return nil, invalidSpec("Secret %s/%s: %v", namespace, name, err)
	}
	return key, nil
}

// kmsKey loads a KMS key with the controller's own credentials for the KMS, which each
// provider reads from the controller's environment (for example VAULT_ADDR and VAULT_TOKEN).
// An invalid reference ends the run, and the work queue retries a network failure.
func kmsKey(ctx context.Context, ref string) (*signing.Key, error) {
	key, err := signing.LoadKMSKey(ctx, ref)
	switch {
	case err == nil:
		return key, nil
	case errors.Is(err, signing.ErrInvalidKey):
		return nil, invalidSpec("spec.signing.kms: %v", err)
	case isTransient(err):
		return nil, err
	}
	return nil, &runFailure{reason: ReasonSignFailed, retryable: true, message: fmt.Sprintf(
		"%v; check the controller's KMS settings and its access to the key", err)}
}

// sourceKeychain reads the Docker config of a Secret as the credentials for the source. A
// malformed config ends the run with a message that names the Secret, never its content.
func (r *Reconciler) sourceKeychain(ctx context.Context, namespace, name string) (
	authn.Keychain, error) {
	data, err := r.readSecret(ctx, namespace, name, SecretKeyDockerConfig)
	if err != nil {
		return nil, err
	}
	keychain, err := parseDockerConfig(data[SecretKeyDockerConfig])
	if err != nil {
		return nil, invalidSpec("spec.harbor.sourceCredentialsSecret: the key %q of Secret "+
			"%s/%s is not a Docker config: %v", SecretKeyDockerConfig, namespace, name, err)
	}
	return keychain, nil
}

// readSecret gets one Secret by name. Only GET is used: the controller never lists or
// watches Secrets.
func (r *Reconciler) readSecret(ctx context.Context, namespace, name string,
	requiredKeys ...string) (map[string][]byte, error) {
	secret, err := r.kubeClient.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, &secretMissingError{namespace: namespace, name: name}
	}
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	}
	for _, key := range requiredKeys {
		if _, ok := secret.Data[key]; !ok {
			return nil, &secretMissingError{namespace: namespace, name: name, key: key}
		}
	}
	return secret.Data, nil
}

// trimNewline removes one trailing newline, which "kubectl create secret --from-file"
// keeps from files that editors end with one.
func trimNewline(b []byte) string {
	s := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(s, "\r")
}
