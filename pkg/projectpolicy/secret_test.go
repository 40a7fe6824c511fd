package projectpolicy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeMountedSecret writes value as dir/<namespace>/<name>/<key> the way the kubelet
// mounts a Secret: the key is a link to ..data/<key>, and ..data a link to a timestamped
// directory.
func writeMountedSecret(t *testing.T, dir, namespace, name, key, value string) {
	t.Helper()
	secretDir := filepath.Join(dir, namespace, name)
	payload := filepath.Join(secretDir, "..2026_12_04_10_00_00.1")
	if err := os.MkdirAll(payload, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(payload, key), []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(payload), filepath.Join(secretDir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", key), filepath.Join(secretDir, key)); err != nil {
		t.Fatal(err)
	}
}

func TestDirSecretReaderReadsMountedSecret(t *testing.T) {
	dir := t.TempDir()
	writeMountedSecret(t, dir, "harbor", "core-webhook", "authorization", "Bearer tok-91\n")
	src := &SecretSource{SecretRef: &SecretRef{Namespace: "harbor", Name: "core-webhook",
		Key: "authorization"}}
	got, err := NewDirSecretReader(dir).ReadSecret(context.Background(), src)
	if err != nil {
		t.Fatalf("ReadSecret() error = %v", err)
	}
	if got != "Bearer tok-91" {
		t.Errorf("ReadSecret() = %q, want %q without the newline", got, "Bearer tok-91")
	}
}

func TestDirSecretReaderReadsFileSource(t *testing.T) {
	file := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(file, []byte("Bearer file-tok\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := NewDirSecretReader(t.TempDir()).ReadSecret(context.Background(),
		&SecretSource{File: file})
	if err != nil {
		t.Fatalf("ReadSecret() error = %v", err)
	}
	if got != "Bearer file-tok" {
		t.Errorf("ReadSecret() = %q, want %q", got, "Bearer file-tok")
	}
}

func TestDirSecretReaderRejectsBadRef(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "secrets")
	// Files that a path built from a hostile reference would reach.
	writeMountedSecret(t, parent, "outside", "leak", "token", "stolen-value")
	if err := os.WriteFile(filepath.Join(parent, "token"), []byte("stolen-value"),
		0o600); err != nil {
		t.Fatal(err)
	}
	writeMountedSecret(t, dir, "harbor", "core-webhook", "authorization", "Bearer ok")
	if err := os.Symlink(filepath.Join(parent, "token"),
		filepath.Join(dir, "harbor", "core-webhook", "escape")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ref  SecretRef
		want string
	}{
		{"dot-dot namespace", SecretRef{"..", "outside", "token"},
			`invalid secretRef.namespace ".."`},
		{"slash in name", SecretRef{"harbor", "../../outside/leak", "token"},
			`invalid secretRef.name "../../outside/leak"`},
		{"dot-dot key", SecretRef{"harbor", "core-webhook", ".."},
			`invalid secretRef.key "..": must not be '..'`},
		{"slash in key", SecretRef{"harbor", "core-webhook", "../../../token"},
			`invalid secretRef.key "../../../token"`},
		{"absolute key", SecretRef{"harbor", "core-webhook", "/etc/passwd"},
			`invalid secretRef.key "/etc/passwd"`},
		{"upper-case namespace", SecretRef{"Harbor", "core-webhook", "authorization"},
			`invalid secretRef.namespace "Harbor"`},
		{"link out of the directory", SecretRef{"harbor", "core-webhook", "escape"},
			"reading secret harbor/core-webhook key escape"},
		{"missing key", SecretRef{"harbor", "core-webhook", "token"},
			"harbor/core-webhook/token does not exist in " + dir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref := tc.ref
			_, err := NewDirSecretReader(dir).ReadSecret(context.Background(),
				&SecretSource{SecretRef: &ref})
			if !errors.Is(err, ErrSecret) {
				t.Fatalf("ReadSecret() error = %v, want ErrSecret", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadSecret() error = %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "stolen-value") {
				t.Errorf("ReadSecret() error contains the file's content: %q", err)
			}
		})
	}
}
