package signing

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/cosign/bundle"
)

// fakeRekor is a loopback stand-in for Rekor's create-entry endpoint. It responds to every request
// with status, and with a log entry at index 42 when status is 201.
type fakeRekor struct {
	status int

	mu         sync.Mutex
	userAgents []string
	kinds      []string
}

// requests returns the User-Agent of every request and the kind of every entry created.
func (f *fakeRekor) requests() (userAgents, kinds []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.userAgents...), append([]string(nil), f.kinds...)
}

func (f *fakeRekor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.userAgents = append(f.userAgents, r.Header.Get("User-Agent"))
	f.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/log/entries" {
		http.Error(w, "unexpected request", http.StatusNotFound)
		return
	}
	if f.status != http.StatusCreated {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, `{"code":500,"message":"storage unavailable"}`)
		return
	}
	var proposed struct {
		Kind string `json:"kind"`
	}
	_ = json.Unmarshal(body, &proposed)
	f.mu.Lock()
	f.kinds = append(f.kinds, proposed.Kind)
	f.mu.Unlock()
	entry := map[string]any{
		"body":           base64.StdEncoding.EncodeToString(body),
		"integratedTime": 1700000000,
		"logID":          strings.Repeat("c0", 32),
		"logIndex":       42,
		"verification": map[string]any{
			"signedEntryTimestamp": base64.StdEncoding.EncodeToString([]byte("fake-set")),
		},
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{strings.Repeat("ab", 40): entry})
}

func newFakeRekor(t *testing.T, status int) (*fakeRekor, string) {
	t.Helper()
	f := &fakeRekor{status: status}
	server := httptest.NewServer(f)
	t.Cleanup(server.Close)
	return f, server.URL
}

func TestSignTransparencyLogFailure(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	digest := reg.pushImage(t, "project/app")
	rekor, rekorURL := newFakeRekor(t, http.StatusInternalServerError)

	_, err := Sign(ctx, digest, testKey, reg.options(WithTransparencyLog(rekorURL))...)
	if err == nil {
		t.Fatal("Sign returned no error although the transparency log answered 500")
	}
	if !strings.Contains(err.Error(), rekorURL) {
		t.Errorf("Sign error %q does not name the transparency log %s", err, rekorURL)
	}
	userAgents, _ := rekor.requests()
	if len(userAgents) != 1 {
		t.Fatalf("transparency log got %d requests, want 1", len(userAgents))
	}
	if !strings.Contains(userAgents[0], "cosign") {
		t.Errorf("transparency log request User-Agent = %q, want one containing cosign",
			userAgents[0])
	}
	_, err = Verify(ctx, digest, testKey.Verifier(), reg.options()...)
	var unsigned *cosign.ErrNoSignaturesFound
	if !errors.As(err, &unsigned) {
		t.Errorf("Verify after failed upload: error = %v, want *cosign.ErrNoSignaturesFound", err)
	}
}

// NOTE: a real Rekor cannot run offline, so this test checks only that the entry a fake log
// returns is attached as the bundle. The fake's signed entry timestamp is not a signature.
func TestSignTransparencyLogAttachesBundle(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	digest := reg.pushImage(t, "project/app")
	rekor, rekorURL := newFakeRekor(t, http.StatusCreated)

	sig, err := Sign(ctx, digest, testKey, reg.options(WithTransparencyLog(rekorURL))...)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	got := readBundle(t, reg, sig)
	want := bundle.RekorPayload{
		IntegratedTime: 1700000000,
		LogIndex:       42,
		LogID:          strings.Repeat("c0", 32),
	}
	if diff := cmp.Diff(want, got, ignoreBody()); diff != "" {
		t.Errorf("bundle payload (-want +got):\n%s", diff)
	}
	if _, err := Verify(ctx, digest, testKey.Verifier(), reg.options()...); err != nil {
		t.Errorf("Verify: %v", err)
	}

	again, err := Sign(ctx, digest, testKey, reg.options(WithTransparencyLog(rekorURL))...)
	if err != nil {
		t.Fatalf("second Sign: %v", err)
	}
	if again.Written {
		t.Errorf("second Sign: Written = true, want false")
	}
	_, kinds := rekor.requests()
	if diff := cmp.Diff([]string{"hashedrekord"}, kinds); diff != "" {
		t.Errorf("entries created, one because the repeat is a duplicate (-want +got):\n%s", diff)
	}
}

func readBundle(t *testing.T, reg *testRegistry, sig *Signature) bundle.RekorPayload {
	t.Helper()
	img, err := remote.Image(sig.Ref, reg.remoteOptions()...)
	if err != nil {
		t.Fatalf("reading %s: %v", sig.Ref, err)
	}
	manifest, err := img.Manifest()
	if err != nil {
		t.Fatalf("parsing %s: %v", sig.Ref, err)
	}
	if len(manifest.Layers) != 1 {
		t.Fatalf("signature manifest has %d layers, want 1", len(manifest.Layers))
	}
	raw, ok := manifest.Layers[0].Annotations["dev.sigstore.cosign/bundle"]
	if !ok {
		t.Fatal("signature layer has no dev.sigstore.cosign/bundle annotation")
	}
	var b bundle.RekorBundle
	if err := json.Unmarshal([]byte(raw), &b); err != nil {
		t.Fatalf("decoding bundle: %v", err)
	}
	return b.Payload
}

func ignoreBody() cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Body" },
		cmp.Ignore())
}

func TestSignTransparencyLogAfterPlainSignature(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	digest := reg.pushImage(t, "project/app")
	if _, err := Sign(ctx, digest, testKey, reg.options()...); err != nil {
		t.Fatalf("Sign without a log: %v", err)
	}
	rekor, rekorURL := newFakeRekor(t, http.StatusCreated)

	sig, err := Sign(ctx, digest, testKey, reg.options(WithTransparencyLog(rekorURL))...)
	if err != nil {
		t.Fatalf("Sign with a log: %v", err)
	}
	if !sig.Written {
		t.Error("Written = false, want a new signature that carries the log entry")
	}
	if _, kinds := rekor.requests(); len(kinds) != 1 {
		t.Errorf("log entries created = %d, want 1: an existing signature without an "+
			"entry does not satisfy a request for one", len(kinds))
	}
}
