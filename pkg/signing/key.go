package signing

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// ErrWrongPassword is returned, wrapped, when a private key cannot be decrypted with the given
// password. The ciphertext is authenticated, so a corrupted key body fails the same way.
var ErrWrongPassword = errors.New(
	"decrypting cosign private key failed: the password is wrong or the key is corrupted, " +
		"so check the password source (e.g. COSIGN_PASSWORD or the Secret's cosign.password)")

// ErrInvalidKey is returned, wrapped, when key material is not a cosign key in PEM form.
var ErrInvalidKey = errors.New("invalid cosign key")

// Key is a loaded signing key: a signer and the public key that verifies its signatures.
// Its String method prints the key type and the public key fingerprint, never secret material.
type Key struct {
	signer    signature.SignerVerifier
	publicKey crypto.PublicKey
	publicPEM []byte
}

// LoadKey decrypts a private key in the format of cosign generate-key-pair (a PEM block of type
// "ENCRYPTED SIGSTORE PRIVATE KEY" or "ENCRYPTED COSIGN PRIVATE KEY") with password. An empty
// password is valid for keys generated with one. The decryption runs scrypt, which is slow by
// design (roughly 150 ms on two cores, an estimate), so load a key once and reuse it.
func LoadKey(privatePEM, password []byte) (*Key, error) {
	if err := checkPrivateKeyPEM(privatePEM); err != nil {
		return nil, err
	}
	signer, err := cosign.LoadPrivateKey(privatePEM, password, nil)
	if err != nil {
		// go-securesystemslib v0.9.1 encrypted.Decrypt reports a failed secretbox open with an
		// unexported errors.New("encrypted: decryption failed"), so only its text identifies it.
		if strings.Contains(err.Error(), "decryption failed") {
			return nil, fmt.Errorf("loading private key: %w", ErrWrongPassword)
		}
		return nil, fmt.Errorf("loading private key: %w: %w", ErrInvalidKey, err)
	}
	return NewKey(signer)
}

// LoadKeyFiles reads a private key from keyPath and its password from passwordPath, then calls
// LoadKey. An empty passwordPath means an empty password. One trailing newline is removed from
// the password file, because Kubernetes Secrets and editors often add one.
func LoadKeyFiles(keyPath, passwordPath string) (*Key, error) {
	privatePEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("reading private key: %w", err)
	}
	var password []byte
	if passwordPath != "" {
		password, err = os.ReadFile(passwordPath)
		if err != nil {
			return nil, fmt.Errorf("reading key password: %w", err)
		}
		password = trimOneNewline(password)
	}
	key, err := LoadKey(privatePEM, password)
	if err != nil {
		return nil, fmt.Errorf("loading key %s: %w", keyPath, err)
	}
	return key, nil
}

// NewKey wraps a signer that is already loaded, for example one from
// github.com/sigstore/sigstore/pkg/signature/kms.
func NewKey(signer signature.SignerVerifier) (*Key, error) {
	if signer == nil {
		return nil, fmt.Errorf("creating key: %w: the signer is nil", ErrInvalidKey)
	}
	publicKey, err := signer.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("reading public key of signer: %w", err)
	}
	publicPEM, err := cryptoutils.MarshalPublicKeyToPEM(publicKey)
	if err != nil {
		return nil, fmt.Errorf("encoding public key of signer: %w", err)
	}
	return &Key{signer: signer, publicKey: publicKey, publicPEM: publicPEM}, nil
}

// LoadPublicKey parses a PEM "PUBLIC KEY" block, as written by cosign generate-key-pair, into a
// verifier for Verify. It hashes with SHA-256, as cosign verify --key does.
func LoadPublicKey(pubPEM []byte) (signature.Verifier, error) {
	publicKey, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	if err != nil {
		return nil, fmt.Errorf("loading public key: %w: %w", ErrInvalidKey, err)
	}
	verifier, err := signature.LoadVerifier(publicKey, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("loading public key: %w: %w", ErrInvalidKey, err)
	}
	return verifier, nil
}

// PublicKeyPEM returns the public key as a PEM "PUBLIC KEY" block, the form LoadPublicKey reads.
func (k *Key) PublicKeyPEM() []byte {
	return append([]byte(nil), k.publicPEM...)
}

// Verifier returns a verifier for the signatures this key makes.
func (k *Key) Verifier() signature.Verifier {
	return k.signer
}

// String returns the key type and the SHA-256 fingerprint of the DER-encoded public key.
func (k *Key) String() string {
	if k == nil {
		return "signing.Key(nil)"
	}
	return fmt.Sprintf("signing.Key(%T sha256:%s)", k.publicKey, k.fingerprint())
}

// GoString returns the same text as String, so that %#v prints no key material either.
func (k *Key) GoString() string {
	return k.String()
}

func (k *Key) fingerprint() string {
	der, err := x509.MarshalPKIXPublicKey(k.publicKey)
	if err != nil {
		return "unknown"
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// checkPrivateKeyPEM rejects input that is not an encrypted cosign key before the costly scrypt
// step, so that a malformed key never reads as a wrong password.
func checkPrivateKeyPEM(privatePEM []byte) error {
	block, _ := pem.Decode(privatePEM)
	if block == nil {
		return fmt.Errorf("%w: no PEM block found; pass the cosign.key file written by "+
			"cosign generate-key-pair", ErrInvalidKey)
	}
	validType := block.Type == cosign.SigstorePrivateKeyPemType ||
		block.Type == cosign.CosignPrivateKeyPemType
	if !validType {
		return fmt.Errorf("%w: PEM block type %q, expected %q", ErrInvalidKey, block.Type,
			cosign.SigstorePrivateKeyPemType)
	}
	var envelope struct {
		KDF        json.RawMessage `json:"kdf"`
		Cipher     json.RawMessage `json:"cipher"`
		Ciphertext []byte          `json:"ciphertext"`
	}
	if err := json.Unmarshal(block.Bytes, &envelope); err != nil {
		return fmt.Errorf("%w: the PEM body is not an encrypted key envelope: %w",
			ErrInvalidKey, err)
	}
	if len(envelope.KDF) == 0 || len(envelope.Cipher) == 0 || len(envelope.Ciphertext) == 0 {
		return fmt.Errorf("%w: the encrypted key envelope lacks kdf, cipher or ciphertext",
			ErrInvalidKey)
	}
	return nil
}

func trimOneNewline(b []byte) []byte {
	s := strings.TrimSuffix(string(b), "\n")
	s = strings.TrimSuffix(s, "\r")
	return []byte(s)
}
