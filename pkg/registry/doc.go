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
// Push reads no manifest from the target by tag, and only one by digest: a
// HEAD request that finds out whether the target already has the image, so
// that pushing it again sends no blob requests. While Harbor's
// vulnerability prevention policy blocks an image, and it blocks every
// image not scanned yet, Harbor rejects GET and HEAD of its manifest with
// 412. Push therefore treats any failure of that HEAD as a missing
// manifest and goes on blob by blob, so a retry still succeeds. Blobs are
// checked with HEAD, because that policy does not cover blobs.
package registry
