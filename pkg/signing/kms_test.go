package signing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/druppie/harbor-gate/pkg/signing/vaulttest"
)

const vaultToken = "vault-token-for-tests-Kp4"

// startVault starts a fake Vault transit engine with the key "harbor-gate", points the
// hashivault provider at it through the environment, and returns the key's public key PEM.
func startVault(t *testing.T) (*vaulttest.Server, []byte) {
	t.Helper()
	vault := vaulttest.New(vaultToken)
	t.Cleanup(vault.Close)
	publicPEM, err := vault.AddKey("harbor-gate")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("VAULT_ADDR", vault.URL())
	t.Setenv("VAULT_TOKEN", vaultToken)
	return vault, publicPEM
}

func TestLoadKMSKeySignVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	vault, publicPEM := startVault(t)
	reg := newTestRegistry(t)
	digest := reg.pushImage(t, "project/app")

	key, err := LoadKMSKey(ctx, "hashivault://harbor-gate")
	if err != nil {
		t.Fatalf("LoadKMSKey: %v", err)
	}
	if diff := cmp.Diff(string(publicPEM), string(key.PublicKeyPEM())); diff != "" {
		t.Errorf("public key (-want +got):\n%s", diff)
	}
	if _, err := Sign(ctx, digest, key, reg.options()...); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if got := vault.Signatures(); got != 1 {
		t.Errorf("signatures made by Vault = %d, want 1", got)
	}

	local, err := LoadPublicKey(publicPEM)
	if err != nil {
		t.Fatal(err)
	}
	verifiers := []struct {
		name     string
		verifier signature.Verifier
	}{{"local public key", local}, {"Vault's verify endpoint", key.Verifier()}}
	for _, v := range verifiers {
		count, err := Verify(ctx, digest, v.verifier, reg.options()...)
		if err != nil || count != 1 {
			t.Errorf("Verify with the %s = %d, %v; want 1 signature", v.name, count, err)
		}
	}
}

func TestLoadKMSKeyErrors(t *testing.T) {
	tests := []struct {
		name        string
		ref         string
		env         map[string]string
		wantInvalid bool
		wantMessage string
	}{{
		name:        "scheme not linked in",
		ref:         "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
		wantInvalid: true,
		wantMessage: "unsupported KMS scheme; use a reference starting with awskms://, " +
			"azurekms://, hashivault://",
	}, {
		name:        "unknown scheme",
		ref:         "vault://harbor-gate",
		wantInvalid: true,
		wantMessage: "unsupported KMS scheme",
	}, {
		name:        "invalid hashivault key path",
		ref:         "hashivault://team/harbor-gate",
		wantInvalid: true,
		wantMessage: "hashivault://<key>",
	}, {
		name:        "key not in Vault",
		ref:         "hashivault://no-such-key",
		wantMessage: "could not read data from transit key path",
	}, {
		name:        "wrong Vault token",
		ref:         "hashivault://harbor-gate",
		env:         map[string]string{"VAULT_TOKEN": "wrong-token-Zr8"},
		wantMessage: "permission denied",
	}, {
		name:        "Vault address not set",
		ref:         "hashivault://harbor-gate",
		env:         map[string]string{"VAULT_ADDR": ""},
		wantMessage: "VAULT_ADDR is not set",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vault, _ := startVault(t)
			for name, value := range tc.env {
				t.Setenv(name, value)
			}
			key, err := LoadKMSKey(context.Background(), tc.ref)
			if err == nil {
				t.Fatalf("LoadKMSKey(%q) = %v, want an error", tc.ref, key)
			}
			if got := errors.Is(err, ErrInvalidKey); got != tc.wantInvalid {
				t.Errorf("errors.Is(%v, ErrInvalidKey) = %t, want %t", err, got, tc.wantInvalid)
			}
			if !strings.Contains(err.Error(), tc.wantMessage) {
				t.Errorf("error = %q, want it to contain %q", err, tc.wantMessage)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("loading KMS key %q", tc.ref)) {
				t.Errorf("error = %q, want it to name the reference", err)
			}
			for _, secret := range []string{vaultToken, "wrong-token-Zr8"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains the Vault token", err)
				}
			}
			if got := vault.Signatures(); got != 0 {
				t.Errorf("signatures made by Vault = %d, want 0", got)
			}
		})
	}
}

func TestIsKMSReference(t *testing.T) {
	tests := []struct {
		ref  string
		want bool
	}{
		{"hashivault://harbor-gate", true},
		{"awskms:///alias/harbor-gate", true},
		{"azurekms://vault.vault.azure.net/key", true},
		{"gcpkms://projects/p", false},
		{"cosign.key", false},
		{"/var/run/secrets/cosign/cosign.key", false},
	}
	for _, tc := range tests {
		if got := IsKMSReference(tc.ref); got != tc.want {
			t.Errorf("IsKMSReference(%q) = %t, want %t", tc.ref, got, tc.want)
		}
	}
}
