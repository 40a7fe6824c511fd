// Package registry pushes a container image to a target repository through
// go-containerregistry and reports the digest the registry returned.
//
// A source is a registry reference, an OCI image layout directory, an OCI
// archive (a tar of a layout, as buildah's oci-archive transport writes it)
// or a docker save tarball; Open detects which one and reads it lazily.
// Push copies the blobs the target does not have yet, then writes the
// manifests with their original bytes and media type. An index is copied
// with all its children.
//
// Push never reads a manifest from the target, neither by tag nor by digest.
// Harbor answers GET and HEAD of a manifest with 412 while its vulnerability
// prevention policy blocks the image, which includes every image that has
// not been scanned yet, so a push that probed for an existing manifest would
// fail on a retry. Blobs are still checked with HEAD, which that policy does
// not cover.
package registry
