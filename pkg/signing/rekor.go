package signing

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	rekorclient "github.com/sigstore/rekor/pkg/generated/client"
)

// uploadToRekor records sig as a hashedrekord entry in the transparency log named by
// WithTransparencyLog and returns sig with the entry attached as its bundle annotation.
//
// NOTE: the upload is tried once, with no retry, and the entry Rekor returns is attached without
// checking its signed entry timestamp against the log's public key. When the log already holds
// the entry, cosign v2.6.5 fetches and checks it instead and prints one line to stderr.
func uploadToRekor(ctx context.Context, s *settings, sig oci.Signature,
	key *Key) (oci.Signature, error) {
	client, err := newRekorClient(s)
	if err != nil {
		return nil, err
	}
	body, err := sig.Payload()
	if err != nil {
		return nil, fmt.Errorf("reading signature payload: %w", err)
	}
	raw, err := sig.Signature()
	if err != nil {
		return nil, fmt.Errorf("reading signature: %w", err)
	}
	checksum := sha256.New()
	checksum.Write(body)
	entry, err := cosign.TLogUpload(ctx, client, raw, checksum, key.publicPEM)
	if err != nil {
		return nil, err
	}
	rekorBundle := bundle.EntryToBundle(entry)
	if rekorBundle == nil {
		return nil, errors.New("the transparency log returned an entry without verification data")
	}
	return mutate.Signature(sig, mutate.WithBundle(rekorBundle))
}

// newRekorClient builds Rekor's generated API client on the transport from WithTransport. The
// constructor in github.com/sigstore/rekor/pkg/client always uses its own transport.
func newRekorClient(s *settings) (*rekorclient.Rekor, error) {
	u, err := url.Parse(s.rekorURL)
	if err != nil {
		return nil, fmt.Errorf("invalid transparency log URL %q: %w", s.rekorURL, err)
	}
	basePath := u.Path
	if basePath == "" {
		basePath = rekorclient.DefaultBasePath
	}
	inner := s.transport
	if inner == nil {
		inner = http.DefaultTransport
	}
	httpClient := &http.Client{Transport: transport.NewUserAgent(inner, s.userAgent)}
	rt := httptransport.NewWithClient(u.Host, basePath, []string{u.Scheme}, httpClient)
	// Rekor serves its public key as application/x-pem-file, which cosign reads when an entry
	// already exists.
	rt.Consumers["application/x-pem-file"] = runtime.TextConsumer()
	return rekorclient.New(rt, strfmt.Default), nil
}
