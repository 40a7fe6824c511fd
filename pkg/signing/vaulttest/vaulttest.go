// Package vaulttest serves, on loopback, the part of HashiCorp Vault's transit secrets engine
// that sigstore's hashivault KMS provider calls: reading a key's public key, signing a digest
// and verifying a signature. It lets tests sign with a hashivault:// key reference and no
// Vault. The routes and bodies follow the provider's client.go in
// github.com/sigstore/sigstore/pkg/signature/kms/hashivault v1.10.4.
//
// Keys are ECDSA P-256 and live in memory. Every request must carry the server's token in
// the X-Vault-Token header, as Vault requires. Like Vault, responses wrap their payload in
// {"data": ...} and errors are {"errors": [...]}.
package vaulttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Mount is the path the transit engine is mounted at, the provider's default.
const Mount = "transit"

// signaturePrefix marks a signature made with version 1 of a key, as Vault writes it.
const signaturePrefix = "vault:v1:"

// Server is a fake Vault transit engine. It is safe for concurrent use.
type Server struct {
	srv   *httptest.Server
	token string

	mu         sync.Mutex
	keys       map[string]*ecdsa.PrivateKey
	signatures int
}

// New starts a Server on a free 127.0.0.1 port that accepts only token. Call Close to stop it.
func New(token string) *Server {
	s := &Server{token: token, keys: map[string]*ecdsa.PrivateKey{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL returns the server's address, the value for VAULT_ADDR.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// AddKey creates an ECDSA P-256 key under name and returns its public key in PEM form.
func (s *Server) AddKey(name string) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating key %s: %w", name, err)
	}
	s.mu.Lock()
	s.keys[name] = key
	s.mu.Unlock()
	return cryptoutils.MarshalPublicKeyToPEM(key.Public())
}

// Signatures returns the number of signatures made so far.
func (s *Server) Signatures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signatures
}

// request is the body of a sign or verify request.
type request struct {
	Input     string `json:"input"`
	Prehashed bool   `json:"prehashed"`
	Signature string `json:"signature"`
}

// serveHTTP routes /v1/transit/{keys,sign,verify}/NAME[/sha2-256]. The provider writes paths
// with a leading '/', so Vault's client requests /v1//transit/..., and the path is cleaned
// first.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Vault-Token") != s.token {
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	parts := strings.Split(strings.TrimPrefix(path.Clean(r.URL.Path), "/v1/"+Mount+"/"), "/")
	if len(parts) < 2 || len(parts) > 3 || (len(parts) == 3 && parts[2] != "sha2-256") {
		writeErrors(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q; this fake "+
			"serves keys, sign and verify with sha2-256 under /v1/%s", r.URL.Path, Mount))
		return
	}
	s.mu.Lock()
	key := s.keys[parts[1]]
	s.mu.Unlock()
	if key == nil {
		writeErrors(w, http.StatusNotFound)
		return
	}
	switch {
	case parts[0] == "keys" && r.Method == http.MethodGet:
		s.readKey(w, parts[1], key)
	case parts[0] == "sign" && isWrite(r.Method):
		s.sign(w, r, key)
	case parts[0] == "verify" && isWrite(r.Method):
		s.verify(w, r, key)
	default:
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
	}
}

func isWrite(method string) bool {
	return method == http.MethodPut || method == http.MethodPost
}

func (s *Server) readKey(w http.ResponseWriter, name string, key *ecdsa.PrivateKey) {
	publicPEM, err := cryptoutils.MarshalPublicKeyToPEM(key.Public())
	if err != nil {
		writeErrors(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeData(w, map[string]any{
		"name":           name,
		"type":           "ecdsa-p256",
		"latest_version": 1,
		"keys": map[string]any{
			"1": map[string]any{"name": "P-256", "public_key": string(publicPEM)},
		},
	})
}

func (s *Server) sign(w http.ResponseWriter, r *http.Request, key *ecdsa.PrivateKey) {
	var req request
	digest, err := readDigest(r, &req)
	if err != nil {
		writeErrors(w, http.StatusBadRequest, err.Error())
		return
	}
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest)
	if err != nil {
		writeErrors(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.mu.Lock()
	s.signatures++
	s.mu.Unlock()
	writeData(w, map[string]any{
		"signature":   signaturePrefix + base64.StdEncoding.EncodeToString(sig),
		"key_version": 1,
	})
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request, key *ecdsa.PrivateKey) {
	var req request
	digest, err := readDigest(r, &req)
	if err != nil {
		writeErrors(w, http.StatusBadRequest, err.Error())
		return
	}
	encoded, ok := strings.CutPrefix(req.Signature, signaturePrefix)
	if !ok {
		writeErrors(w, http.StatusBadRequest, "invalid signature: it must start with "+
			signaturePrefix)
		return
	}
	sig, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		writeErrors(w, http.StatusBadRequest, "invalid signature encoding")
		return
	}
	writeData(w, map[string]any{"valid": ecdsa.VerifyASN1(&key.PublicKey, digest, sig)})
}

// readDigest decodes the request body into req and returns the SHA-256 digest to sign or
// verify: the input itself when it is prehashed, else the hash of the input.
func readDigest(r *http.Request, req *request) ([]byte, error) {
	if err := json.NewDecoder(r.Body).Decode(req); err != nil {
		return nil, fmt.Errorf("invalid request body: %w", err)
	}
	input, err := base64.StdEncoding.DecodeString(req.Input)
	if err != nil {
		return nil, errors.New("invalid input: it must be base64")
	}
	if !req.Prehashed {
		sum := sha256.Sum256(input)
		return sum[:], nil
	}
	if len(input) != sha256.Size {
		return nil, fmt.Errorf("invalid prehashed input of %d bytes: a SHA-256 digest has %d",
			len(input), sha256.Size)
	}
	return input, nil
}

func writeData(w http.ResponseWriter, data map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
}

func writeErrors(w http.ResponseWriter, status int, messages ...string) {
	if messages == nil {
		messages = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": messages})
}
