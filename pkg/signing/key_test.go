package signing

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLoadKeyWrongPassword(t *testing.T) {
	const wrong = "not-the-password-4711"
	_, err := LoadKey(testKeys.PrivateBytes, []byte(wrong))
	if !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("LoadKey error = %v, want ErrWrongPassword", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("LoadKey error %q contains the password", err)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Errorf("LoadKey error %q contains the real password", err)
	}
	if !strings.Contains(err.Error(), "check the password source") {
		t.Errorf("LoadKey error %q does not say what to check", err)
	}
}

func TestLoadKeyMalformed(t *testing.T) {
	block, _ := pem.Decode(testKeys.PrivateBytes)
	withBody := func(body string) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: []byte(body)})
	}
	tests := []struct {
		name string
		key  []byte
	}{
		{name: "empty", key: nil},
		{name: "not PEM", key: []byte("just some text")},
		{name: "public key PEM", key: testKeys.PublicBytes},
		{name: "body not JSON", key: withBody("garbage")},
		{name: "envelope without ciphertext", key: withBody(`{"kdf":{},"cipher":{}}`)},
		{name: "unknown kdf", key: withBody(`{"kdf":{"name":"md5"},"cipher":{"name":"x"},` +
			`"ciphertext":"AAAA"}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadKey(tc.key, []byte(testPassword))
			if !errors.Is(err, ErrInvalidKey) {
				t.Errorf("LoadKey error = %v, want ErrInvalidKey", err)
			}
			if errors.Is(err, ErrWrongPassword) {
				t.Errorf("LoadKey error = %v, must not be ErrWrongPassword", err)
			}
		})
	}
}

func TestLoadKeyCorruptedCiphertext(t *testing.T) {
	block, _ := pem.Decode(testKeys.PrivateBytes)
	// Four extra base64 characters keep the envelope decodable but break the authentication tag.
	corrupted := bytes.Replace(block.Bytes, []byte(`"ciphertext":"`),
		[]byte(`"ciphertext":"ABCD`), 1)
	key := pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: corrupted})
	_, err := LoadKey(key, []byte(testPassword))
	if !errors.Is(err, ErrWrongPassword) {
		t.Errorf("LoadKey error = %v, want ErrWrongPassword for an unauthentic ciphertext", err)
	}
}

func TestLoadKeyFiles(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "cosign.key")
	passwordPath := filepath.Join(dir, "cosign.password")
	writeFile(t, keyPath, testKeys.PrivateBytes)
	writeFile(t, passwordPath, []byte(testPassword+"\n"))

	key, err := LoadKeyFiles(keyPath, passwordPath)
	if err != nil {
		t.Fatalf("LoadKeyFiles: %v", err)
	}
	if diff := cmp.Diff(string(testKeys.PublicBytes), string(key.PublicKeyPEM())); diff != "" {
		t.Errorf("PublicKeyPEM (-want +got):\n%s", diff)
	}
}

func TestLoadKeyFilesErrors(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "cosign.key")
	wrongPasswordPath := filepath.Join(dir, "wrong.password")
	writeFile(t, keyPath, testKeys.PrivateBytes)
	writeFile(t, wrongPasswordPath, []byte("wrong"))
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name         string
		keyPath      string
		passwordPath string
		wantIs       error
		wantInMsg    string
	}{
		{name: "missing key file", keyPath: missing, passwordPath: "", wantIs: os.ErrNotExist,
			wantInMsg: missing},
		{name: "missing password file", keyPath: keyPath, passwordPath: missing,
			wantIs: os.ErrNotExist, wantInMsg: missing},
		{name: "wrong password", keyPath: keyPath, passwordPath: wrongPasswordPath,
			wantIs: ErrWrongPassword, wantInMsg: keyPath},
		{name: "empty password for protected key", keyPath: keyPath, passwordPath: "",
			wantIs: ErrWrongPassword, wantInMsg: keyPath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadKeyFiles(tc.keyPath, tc.passwordPath)
			if !errors.Is(err, tc.wantIs) {
				t.Fatalf("LoadKeyFiles error = %v, want %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantInMsg) {
				t.Errorf("LoadKeyFiles error %q does not name %q", err, tc.wantInMsg)
			}
		})
	}
}

func TestLoadPublicKeyMalformed(t *testing.T) {
	tests := []struct {
		name string
		pem  []byte
	}{
		{name: "empty", pem: nil},
		{name: "not PEM", pem: []byte("not a key")},
		{name: "private key PEM", pem: testKeys.PrivateBytes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := LoadPublicKey(tc.pem); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("LoadPublicKey error = %v, want ErrInvalidKey", err)
			}
		})
	}
}

func TestKeyStringHidesSecrets(t *testing.T) {
	want := regexp.MustCompile(`^signing\.Key\(\*ecdsa\.PublicKey sha256:[0-9a-f]{64}\)$`)
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		got := fmt.Sprintf(format, testKey)
		if !want.MatchString(got) {
			t.Errorf("Sprintf(%q, key) = %q, want a match for %s", format, got, want)
		}
	}
	if testKey.String() == otherTestKey.String() {
		t.Errorf("two different keys print the same: %s", testKey)
	}
}

func TestNewKeyNil(t *testing.T) {
	if _, err := NewKey(nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("NewKey(nil) error = %v, want ErrInvalidKey", err)
	}
}

func writeFile(t *testing.T, path string, content []byte) {
	t.Helper()
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
}
