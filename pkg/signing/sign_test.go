package signing

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

const simpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"

func TestSignVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	digest := reg.pushImage(t, "project/app")

	sig, err := Sign(ctx, digest, testKey, reg.options()...)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	hexDigest := strings.TrimPrefix(digest.DigestStr(), "sha256:")
	wantRef := digest.Context().Name() + ":sha256-" + hexDigest + ".sig"
	if diff := cmp.Diff(wantRef, sig.Ref.Name()); diff != "" {
		t.Errorf("signature Ref (-want +got):\n%s", diff)
	}
	if !sig.Written {
		t.Errorf("Written = false for the first signature, want true")
	}
	head, err := remote.Head(sig.Ref, reg.remoteOptions()...)
	if err != nil {
		t.Fatalf("remote.Head(%s): %v", sig.Ref, err)
	}
	if diff := cmp.Diff(head.Digest.String(), sig.Digest.DigestStr()); diff != "" {
		t.Errorf("signature manifest digest (-want +got):\n%s", diff)
	}

	verifier, err := LoadPublicKey(testKeys.PublicBytes)
	if err != nil {
		t.Fatalf("LoadPublicKey: %v", err)
	}
	count, err := Verify(ctx, digest, verifier, reg.options()...)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if count != 1 {
		t.Errorf("Verify count = %d, want 1", count)
	}
}

// signatureLayer is what the registry stores for one cosign signature.
type signatureLayer struct {
	MediaType       types.MediaType
	Base64Signature string
	SignedDigest    string
}

func TestSignatureManifestInRegistry(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	digest := reg.pushImage(t, "project/app")
	sig, err := Sign(ctx, digest, testKey, reg.options()...)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}

	tag, err := name.NewTag(reg.host+"/project/app:sha256-"+
		strings.TrimPrefix(digest.DigestStr(), "sha256:")+".sig", name.Insecure)
	if err != nil {
		t.Fatalf("name.NewTag: %v", err)
	}
	got := readSignatureLayers(t, tag, reg)
	want := []signatureLayer{{
		MediaType:       simpleSigningMediaType,
		Base64Signature: sig.Base64Signature,
		SignedDigest:    digest.DigestStr(),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("signature layers (-want +got):\n%s", diff)
	}
}

func readSignatureLayers(t *testing.T, tag name.Tag, reg *testRegistry) []signatureLayer {
	t.Helper()
	img, err := remote.Image(tag, reg.remoteOptions()...)
	if err != nil {
		t.Fatalf("reading signature manifest %s: %v", tag, err)
	}
	manifest, err := img.Manifest()
	if err != nil {
		t.Fatalf("parsing signature manifest %s: %v", tag, err)
	}
	var layers []signatureLayer
	for _, desc := range manifest.Layers {
		layer, err := img.LayerByDigest(desc.Digest)
		if err != nil {
			t.Fatalf("finding signature layer %s: %v", desc.Digest, err)
		}
		layers = append(layers, signatureLayer{
			MediaType:       desc.MediaType,
			Base64Signature: desc.Annotations["dev.cosignproject.cosign/signature"],
			SignedDigest:    readSignedDigest(t, layer),
		})
	}
	return layers
}

// readSignedDigest returns the image digest that the simple-signing payload in layer names.
func readSignedDigest(t *testing.T, layer v1.Layer) string {
	t.Helper()
	rc, err := layer.Uncompressed()
	if err != nil {
		t.Fatalf("reading signature payload: %v", err)
	}
	defer rc.Close()
	var body payload.SimpleContainerImage
	if err := json.NewDecoder(rc).Decode(&body); err != nil {
		t.Fatalf("decoding signature payload: %v", err)
	}
	return body.Critical.Image.DockerManifestDigest
}

func TestSignTwiceWritesNothing(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	digest := reg.pushImage(t, "project/app")
	first, err := Sign(ctx, digest, testKey, reg.options()...)
	if err != nil {
		t.Fatalf("first Sign: %v", err)
	}

	reg.requests.reset()
	second, err := Sign(ctx, digest, testKey, reg.options()...)
	if err != nil {
		t.Fatalf("second Sign: %v", err)
	}
	if second.Written {
		t.Errorf("Written = true for a repeated signature, want false")
	}
	if diff := cmp.Diff(first.Digest.String(), second.Digest.String()); diff != "" {
		t.Errorf("signature manifest digest changed (-want +got):\n%s", diff)
	}
	for _, req := range reg.requests.all() {
		if req.Method != "GET" && req.Method != "HEAD" {
			t.Errorf("second Sign sent %s %s, want only reads", req.Method, req.Path)
		}
	}
	if n := len(readSignatureLayers(t, first.Ref, reg)); n != 1 {
		t.Errorf("signature manifest has %d layers, want 1", n)
	}
}

func TestSignAppendsOtherSignatures(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	digest := reg.pushImage(t, "project/app")
	annotated := WithAnnotations(map[string]string{"pipeline-run": "build-42"})
	steps := []struct {
		name string
		key  *Key
		opts []Option
	}{
		{name: "first key", key: testKey},
		{name: "second key", key: otherTestKey},
		{name: "first key with annotation", key: testKey, opts: []Option{annotated}},
	}
	var last *Signature
	for _, step := range steps {
		sig, err := Sign(ctx, digest, step.key, reg.options(step.opts...)...)
		if err != nil {
			t.Fatalf("Sign with %s: %v", step.name, err)
		}
		if !sig.Written {
			t.Errorf("Sign with %s: Written = false, want true", step.name)
		}
		last = sig
	}
	if n := len(readSignatureLayers(t, last.Ref, reg)); n != len(steps) {
		t.Errorf("signature manifest has %d layers, want %d", n, len(steps))
	}

	checks := []struct {
		name     string
		verifier *Key
		opts     []Option
		want     int
	}{
		{name: "first key", verifier: testKey, want: 2},
		{name: "second key", verifier: otherTestKey, want: 1},
		{name: "first key requiring annotation", verifier: testKey, opts: []Option{annotated},
			want: 1},
	}
	for _, check := range checks {
		got, err := Verify(ctx, digest, check.verifier.Verifier(), reg.options(check.opts...)...)
		if err != nil {
			t.Errorf("Verify with %s: %v", check.name, err)
		}
		if got != check.want {
			t.Errorf("Verify with %s = %d, want %d", check.name, got, check.want)
		}
	}
}

func TestSignRejectsInvalidInput(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	digest := reg.pushImage(t, "project/app")
	tests := []struct {
		name      string
		digest    name.Digest
		key       *Key
		opts      []Option
		wantIs    error
		wantInMsg string
	}{
		{name: "zero digest", digest: name.Digest{}, key: testKey,
			wantInMsg: "invalid image digest"},
		{name: "nil key", digest: digest, key: nil, wantIs: ErrInvalidKey},
		{name: "auth and keychain", digest: digest, key: testKey,
			opts:      []Option{WithKeychain(authn.DefaultKeychain)},
			wantInMsg: "WithAuth and WithKeychain"},
		{name: "user agent without cosign", digest: digest, key: testKey,
			opts: []Option{WithUserAgent("harbor-gate/1.0")}, wantInMsg: "harbor-gate/1.0"},
		{name: "transparency log URL without host", digest: digest, key: testKey,
			opts: []Option{WithTransparencyLog("rekor.local")}, wantInMsg: "rekor.local"},
		{name: "image not pushed", digest: reg.unpushedDigest(t, "project/app"), key: testKey,
			wantIs: ErrImageNotFound, wantInMsg: "push the image before signing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg.requests.reset()
			_, err := Sign(ctx, tc.digest, tc.key, reg.options(tc.opts...)...)
			if err == nil {
				t.Fatal("Sign returned no error")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("Sign error = %v, want %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantInMsg) {
				t.Errorf("Sign error %q does not contain %q", err, tc.wantInMsg)
			}
			for _, req := range reg.requests.all() {
				if req.Method != "GET" && req.Method != "HEAD" {
					t.Errorf("rejected Sign sent %s %s", req.Method, req.Path)
				}
			}
		})
	}
}

func TestRequestsCarryCosignUserAgent(t *testing.T) {
	tests := []struct {
		name      string
		opts      []Option
		wantAgent string
	}{
		{name: "default", wantAgent: "cosign/"},
		{name: "custom", opts: []Option{WithUserAgent("harbor-gate/0.1 cosign-compatible")},
			wantAgent: "harbor-gate/0.1 cosign-compatible"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			reg := newTestRegistry(t)
			digest := reg.pushImage(t, "project/app")
			if _, err := Sign(ctx, digest, testKey, reg.options(tc.opts...)...); err != nil {
				t.Fatalf("Sign: %v", err)
			}
			_, err := Verify(ctx, digest, testKey.Verifier(), reg.options(tc.opts...)...)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			assertUserAgents(t, reg.requests.all(), tc.wantAgent)
		})
	}
}

func assertUserAgents(t *testing.T, requests []recordedRequest, wantAgent string) {
	t.Helper()
	seen := map[string]bool{}
	for _, req := range requests {
		seen[req.Method+" "+req.Path] = true
		hasAgent := strings.Contains(req.UserAgent, "cosign") &&
			strings.Contains(req.UserAgent, wantAgent)
		if !hasAgent {
			t.Errorf("%s %s sent User-Agent %q, want one containing %q and \"cosign\"",
				req.Method, req.Path, req.UserAgent, wantAgent)
		}
	}
	for _, want := range []string{"GET /v2/", "GET /service/token"} {
		if !seen[want] {
			t.Errorf("no %s request recorded; recorded %v", want, requests)
		}
	}
	if len(requests) == 0 {
		t.Errorf("no requests recorded")
	}
}
