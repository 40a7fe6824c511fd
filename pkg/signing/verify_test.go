package signing

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci/empty"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
)

func TestVerifyWrongPublicKey(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	digest := reg.pushImage(t, "project/app")
	if _, err := Sign(ctx, digest, testKey, reg.options()...); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	otherPublic, err := LoadPublicKey(otherTestKeys.PublicBytes)
	if err != nil {
		t.Fatalf("LoadPublicKey: %v", err)
	}

	count, err := Verify(ctx, digest, otherPublic, reg.options()...)
	if !errors.Is(err, ErrNotVerified) {
		t.Fatalf("Verify error = %v, want ErrNotVerified", err)
	}
	var mismatched *cosign.ErrNoMatchingSignatures
	if !errors.As(err, &mismatched) {
		t.Errorf("Verify error = %v, want *cosign.ErrNoMatchingSignatures in the chain", err)
	}
	if count != 0 {
		t.Errorf("Verify count = %d, want 0", count)
	}
}

func TestVerifyTamperedSignature(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(payload []byte, rawSignature []byte) ([]byte, []byte)
	}{
		{name: "flipped signature byte", tamper: func(p, s []byte) ([]byte, []byte) {
			s[len(s)/2] ^= 0x01
			return p, s
		}},
		{name: "edited payload", tamper: func(p, s []byte) ([]byte, []byte) {
			return bytes.Replace(p, []byte(`"optional":null`), []byte(`"optional":{"a":"b"}`), 1), s
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			reg := newTestRegistry(t)
			digest := reg.pushImage(t, "project/app")
			sig, err := Sign(ctx, digest, testKey, reg.options()...)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			raw, err := base64.StdEncoding.DecodeString(sig.Base64Signature)
			if err != nil {
				t.Fatalf("decoding signature: %v", err)
			}
			body, raw := tc.tamper(bytes.Clone(sig.Payload), raw)
			unchanged := bytes.Equal(body, sig.Payload) &&
				base64.StdEncoding.EncodeToString(raw) == sig.Base64Signature
			if unchanged {
				t.Fatal("tamper changed nothing")
			}
			replaceSignatures(t, reg, sig, body, raw)

			count, err := Verify(ctx, digest, testKey.Verifier(), reg.options()...)
			if !errors.Is(err, ErrNotVerified) {
				t.Errorf("Verify error = %v, want ErrNotVerified", err)
			}
			if count != 0 {
				t.Errorf("Verify count = %d, want 0", count)
			}
		})
	}
}

// replaceSignatures overwrites the signature tag of sig with one layer holding body and raw.
func replaceSignatures(t *testing.T, reg *testRegistry, sig *Signature, body, raw []byte) {
	t.Helper()
	layer, err := static.NewSignature(body, base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		t.Fatalf("static.NewSignature: %v", err)
	}
	sigs, err := mutate.AppendSignatures(empty.Signatures(), false, layer)
	if err != nil {
		t.Fatalf("mutate.AppendSignatures: %v", err)
	}
	if err := remote.Write(sig.Ref, sigs, reg.remoteOptions()...); err != nil {
		t.Fatalf("pushing tampered signature: %v", err)
	}
}

func TestVerifyUnsignedDigest(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	digest := reg.pushImage(t, "project/app")

	count, err := Verify(ctx, digest, testKey.Verifier(), reg.options()...)
	if !errors.Is(err, ErrNotVerified) {
		t.Fatalf("Verify error = %v, want ErrNotVerified", err)
	}
	var unsigned *cosign.ErrNoSignaturesFound
	if !errors.As(err, &unsigned) {
		t.Errorf("Verify error = %v, want *cosign.ErrNoSignaturesFound in the chain", err)
	}
	if !strings.Contains(err.Error(), digest.String()) {
		t.Errorf("Verify error %q does not name the digest %s", err, digest)
	}
	if count != 0 {
		t.Errorf("Verify count = %d, want 0", count)
	}
}

func TestVerifyRejectsInvalidInput(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	digest := reg.pushImage(t, "project/app")
	if _, err := Verify(ctx, digest, nil, reg.options()...); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Verify with nil verifier: error = %v, want ErrInvalidKey", err)
	}
	_, err := Verify(ctx, digest, testKey.Verifier(), reg.options(WithUserAgent("crane"))...)
	if err == nil || !strings.Contains(err.Error(), `"crane"`) {
		t.Errorf("Verify with User-Agent crane: error = %v, want one naming the User-Agent", err)
	}
}
