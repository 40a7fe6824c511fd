// Package signing signs container images with cosign and verifies those signatures, in the form
// Harbor 2.13 recognises as a signature.cosign accessory.
//
// Sign addresses the image only by digest and pushes the signature in cosign's tag scheme: an
// OCI image manifest tagged sha256-<hex>.sig in the image's repository, with one layer of media
// type application/vnd.dev.cosign.simplesigning.v1+json per signature. Signing a digest that
// already carries the same signature by the same key writes nothing. Verify checks those
// signatures with a public key and never contacts a transparency log or a TUF repository.
//
// Every registry request, including the ping and the token request, carries a User-Agent that
// contains "cosign". Harbor lets a client with push permission through its vulnerability
// prevention and cosign content-trust checks only when the User-Agent contains "cosign", and a
// freshly pushed image is usually not scanned yet when it is signed.
//
// The package logs nothing. Keys come from cosign generate-key-pair (LoadKey, LoadKeyFiles), from
// a key management service named by a cosign KMS reference (LoadKMSKey), or from any sigstore
// signer (NewKey).
package signing
