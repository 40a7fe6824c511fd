package signing

import (
	"context"
	"crypto"
	"fmt"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/kms/aws"
	"github.com/sigstore/sigstore/pkg/signature/kms/azure"
	"github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// NOTE: Google Cloud KMS (gcpkms://) is not linked in. Its provider module
// github.com/sigstore/sigstore/pkg/signature/kms/gcp v1.10.4 requires newer
// cloud.google.com/go modules than this module pins, so LoadKMSKey rejects gcpkms://.

// kmsProviders maps each supported key reference scheme to the check of its provider. The
// imports above also register the providers with kms.Get.
var kmsProviders = []struct {
	scheme   string
	validate func(ref string) error
}{
	{aws.ReferenceScheme, aws.ValidReference},
	{azure.ReferenceScheme, azure.ValidReference},
	{hashivault.ReferenceScheme, hashivault.ValidReference},
}

// KMSSchemes returns the key reference schemes that LoadKMSKey accepts, such as
// "hashivault://".
func KMSSchemes() []string {
	schemes := make([]string, len(kmsProviders))
	for i, p := range kmsProviders {
		schemes[i] = p.scheme
	}
	return schemes
}

// IsKMSReference reports whether ref starts with a scheme of KMSSchemes, so that a caller
// can tell a KMS reference from a key file path.
func IsKMSReference(ref string) bool {
	for _, p := range kmsProviders {
		if strings.HasPrefix(ref, p.scheme) {
			return true
		}
	}
	return false
}

// LoadKMSKey returns a key that signs through a key management service, named by a cosign
// key reference such as "hashivault://harbor-gate", "awskms:///alias/harbor-gate" or
// "azurekms://vault.vault.azure.net/harbor-gate". Signatures hash with SHA-256.
//
// Each provider reads its endpoint and credentials from the environment, as cosign does:
// hashivault reads VAULT_ADDR, VAULT_TOKEN and TRANSIT_SECRET_ENGINE_PATH, aws the AWS SDK's
// variables and shared files, azure the Azure SDK's. LoadKMSKey reads the public key from
// the service, so it fails when the service is unreachable or rejects the credentials. A
// reference with another scheme or an invalid form fails with ErrInvalidKey before anything
// is contacted.
//
// NOTE: the hashivault provider logs through the standard library's log package when
// VAULT_TOKEN is unset, and then reads a token from Vault's token helper or ~/.vault-token.
func LoadKMSKey(ctx context.Context, ref string) (*Key, error) {
	if err := validateKMSReference(ref); err != nil {
		return nil, fmt.Errorf("loading KMS key %q: %w", ref, err)
	}
	signer, err := kms.Get(ctx, ref, crypto.SHA256, options.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("loading KMS key %q: %w", ref, err)
	}
	key, err := NewKey(signer)
	if err != nil {
		return nil, fmt.Errorf("loading KMS key %q: %w", ref, err)
	}
	return key, nil
}

// validateKMSReference rejects a reference that no linked provider accepts. It also keeps
// kms.Get from its fallback, which runs a plugin program named after an unknown scheme.
func validateKMSReference(ref string) error {
	for _, p := range kmsProviders {
		if !strings.HasPrefix(ref, p.scheme) {
			continue
		}
		if err := p.validate(ref); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidKey, err)
		}
		return nil
	}
	return fmt.Errorf("%w: unsupported KMS scheme; use a reference starting with %s",
		ErrInvalidKey, strings.Join(KMSSchemes(), ", "))
}
