package registry

import "errors"

// ErrInvalidSource is returned by Open when a source string has none of the
// accepted forms, or names a file or directory that is not an image.
var ErrInvalidSource = errors.New("invalid image source")

// ErrSourceNotFound is returned by Open when a source names a file or
// directory that does not exist.
var ErrSourceNotFound = errors.New("image source not found")

// ErrAmbiguousSource is returned by Open when an OCI layout or an archive
// contains several images and the source string selects none of them.
var ErrAmbiguousSource = errors.New("image source contains several images")

// ErrUnsupportedMediaType is returned by Open when the selected manifest is
// neither an image nor an index, for example a Docker schema 1 manifest.
var ErrUnsupportedMediaType = errors.New("unsupported manifest media type")

// ErrDigestMismatch is returned by Push when the digest the registry
// returned, or the digest in a target reference, differs from the digest of
// the source manifest.
var ErrDigestMismatch = errors.New("manifest digest mismatch")

// acceptedForms lists the source strings Open accepts, for error messages.
const acceptedForms = "accepted forms: host/repo:tag, host/repo@sha256:<hex>, " +
	"docker://host/repo:tag, oci:DIR, oci:DIR@sha256:<hex>, oci:DIR:<ref.name>, " +
	"oci-archive:FILE (with the same selectors), docker-archive:FILE[:repo:tag], " +
	"or the path of an OCI layout directory or a tar archive"
