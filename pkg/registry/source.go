package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Kind is the kind of storage an image source is read from.
type Kind int

// The kinds of image source that Open accepts.
const (
	// KindRegistry is an image in a registry, named by tag or digest.
	KindRegistry Kind = iota + 1
	// KindOCILayout is a directory in the OCI image layout format.
	KindOCILayout
	// KindOCIArchive is a tar archive of an OCI image layout.
	KindOCIArchive
	// KindDockerArchive is a tarball in the docker save format, which
	// kaniko's --tar-path also writes.
	KindDockerArchive
)

// String returns the prefix that selects the kind in a source string.
func (k Kind) String() string {
	switch k {
	case KindRegistry:
		return "docker"
	case KindOCILayout:
		return "oci"
	case KindOCIArchive:
		return "oci-archive"
	case KindDockerArchive:
		return "docker-archive"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// artifact is the method set that v1.Image and v1.ImageIndex share and a
// push needs.
type artifact interface {
	RawManifest() ([]byte, error)
	MediaType() (types.MediaType, error)
	Digest() (v1.Hash, error)
	Size() (int64, error)
}

// Source is an opened image source: one image or one index, read lazily.
// Close it when done, which removes the files an OCI archive was
// extracted to.
type Source struct {
	input     string
	kind      Kind
	artifact  artifact
	digest    v1.Hash
	mediaType types.MediaType
	cleanup   func() error
}

// String returns the source string that Open was called with.
func (s *Source) String() string { return s.input }

// Kind returns the kind of storage the source is read from.
func (s *Source) Kind() Kind { return s.kind }

// Digest returns the digest of the source's manifest bytes, which is the
// digest the image has in the target after a push.
func (s *Source) Digest() v1.Hash { return s.digest }

// MediaType returns the media type of the source's manifest.
func (s *Source) MediaType() types.MediaType { return s.mediaType }

// DigestIn returns the reference of the source's manifest in repo. Pass it
// to Push to push the image without a tag.
func (s *Source) DigestIn(repo name.Repository) name.Digest {
	return repo.Digest(s.digest.String())
}

// Close releases what Open acquired for the source. It is safe to call
// more than once.
func (s *Source) Close() error {
	if s.cleanup == nil {
		return nil
	}
	cleanup := s.cleanup
	s.cleanup = nil
	return cleanup()
}

// Open opens the image source described by src. It accepts:
//
//   - a registry reference by tag or digest (host/repo:tag,
//     host/repo@sha256:<hex>), optionally prefixed with docker://;
//   - an OCI image layout directory, as oci:DIR or as the path of a
//     directory that contains an oci-layout file. When the layout's
//     index.json lists several manifests, select one with
//     oci:DIR@sha256:<hex> or with oci:DIR:<name>, where name is the
//     org.opencontainers.image.ref.name annotation;
//   - an OCI archive, as oci-archive:FILE (with the same selectors) or as
//     the path of a tar file that contains an oci-layout entry;
//   - a docker save tarball, as docker-archive:FILE or
//     docker-archive:FILE:repo:tag, or as the path of a tar file that
//     contains manifest.json and no oci-layout entry.
//
// Tar files may be gzip-compressed. A string that looks like a path (it
// starts with /, ./ or ../, or ends in .tar, .tar.gz or .tgz) and names
// nothing on disk is reported with ErrSourceNotFound rather than tried as
// a registry reference.
func Open(ctx context.Context, src string, opts ...Option) (*Source, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	loc, err := parseSource(src)
	if err != nil {
		return nil, fmt.Errorf("opening source %q: %w; %s", src, err, acceptedForms)
	}
	s, err := openLocation(ctx, loc, o)
	if err != nil {
		if errors.Is(err, ErrInvalidSource) || errors.Is(err, ErrSourceNotFound) {
			return nil, fmt.Errorf("opening source %q: %w; %s", src, err, acceptedForms)
		}
		return nil, fmt.Errorf("opening source %q: %w", src, err)
	}
	s.input = src
	return s, nil
}

func openLocation(ctx context.Context, loc location, o *options) (*Source, error) {
	switch loc.kind {
	case KindRegistry:
		return openRegistry(ctx, loc.path, o)
	case KindOCILayout:
		return openLayout(loc.path, loc.selector)
	case KindOCIArchive:
		return openOCIArchive(ctx, loc.path, loc.selector)
	case KindDockerArchive:
		return openDockerArchive(loc.path, loc.selector)
	}
	return nil, fmt.Errorf("%w: unknown kind %v", ErrInvalidSource, loc.kind)
}

func openRegistry(ctx context.Context, ref string, o *options) (*Source, error) {
	r, err := name.ParseReference(ref, o.nameOptions()...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSource, err)
	}
	opts := append(o.remoteOptions(o.source, o.transport), remote.WithContext(ctx))
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return nil, fmt.Errorf("reading manifest of %s: %w", r, err)
	}
	var a artifact
	switch {
	case desc.MediaType.IsIndex():
		a, err = desc.ImageIndex()
	case desc.MediaType.IsImage():
		a, err = desc.Image()
	default:
		return nil, fmt.Errorf("%w %q of %s: push an image or an index",
			ErrUnsupportedMediaType, desc.MediaType, r)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", r, err)
	}
	return newSource(KindRegistry, a, nil)
}

// newSource describes a, and verifies that a's manifest bytes have the
// digest want when want is set.
func newSource(kind Kind, a artifact, want *v1.Hash) (*Source, error) {
	raw, err := a.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	mt, err := a.MediaType()
	if err != nil {
		return nil, fmt.Errorf("reading manifest media type: %w", err)
	}
	digest, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("computing manifest digest: %w", err)
	}
	if want != nil && digest != *want {
		return nil, fmt.Errorf("%w: manifest %s has content with digest %s: the layout is corrupt",
			ErrInvalidSource, want, digest)
	}
	return &Source{kind: kind, artifact: a, digest: digest, mediaType: mt}, nil
}

// location is a parsed source string.
type location struct {
	kind Kind
	// path is the file or directory, or the reference for KindRegistry.
	path string
	// selector picks one image from a layout or archive: @sha256:<hex>,
	// a ref.name annotation, or a repo:tag of a docker archive.
	selector string
}

var prefixes = []struct {
	prefix string
	kind   Kind
}{
	{"docker://", KindRegistry},
	{"oci:", KindOCILayout},
	{"oci-archive:", KindOCIArchive},
	{"docker-archive:", KindDockerArchive},
}

func parseSource(src string) (location, error) {
	if strings.TrimSpace(src) == "" {
		return location{}, fmt.Errorf("%w: empty string", ErrInvalidSource)
	}
	for _, p := range prefixes {
		rest, ok := strings.CutPrefix(src, p.prefix)
		if !ok {
			continue
		}
		if rest == "" {
			return location{}, fmt.Errorf("%w: nothing follows %q", ErrInvalidSource, p.prefix)
		}
		if p.kind == KindRegistry {
			return location{kind: KindRegistry, path: rest}, nil
		}
		return splitSelector(p.kind, rest)
	}
	return detectKind(src)
}

// splitSelector separates the path in rest from an optional selector.
// A path that exists wins over a split, so paths may contain colons.
func splitSelector(kind Kind, rest string) (location, error) {
	if _, err := os.Stat(rest); err == nil {
		return location{kind: kind, path: rest}, nil
	}
	if kind != KindDockerArchive {
		if i := strings.LastIndex(rest, "@"); i > 0 {
			return checkedLocation(kind, rest[:i], rest[i+1:])
		}
		if i := strings.LastIndex(rest, ":"); i > 0 {
			return checkedLocation(kind, rest[:i], rest[i+1:])
		}
		return checkedLocation(kind, rest, "")
	}
	// A docker archive's selector is repo:tag, which has colons of its own,
	// so the path is the longest prefix before a colon that is a file.
	for i := len(rest) - 1; i > 0; i-- {
		if rest[i] != ':' {
			continue
		}
		if _, err := os.Stat(rest[:i]); err == nil {
			return location{kind: kind, path: rest[:i], selector: rest[i+1:]}, nil
		}
	}
	return checkedLocation(kind, rest, "")
}

func checkedLocation(kind Kind, path, selector string) (location, error) {
	if _, err := os.Stat(path); err != nil {
		return location{}, statError(path, err)
	}
	return location{kind: kind, path: path, selector: selector}, nil
}

func statError(path string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s does not exist", ErrSourceNotFound, path)
	}
	return fmt.Errorf("%w: %w", ErrInvalidSource, err)
}

// detectKind finds the kind of a source string without a prefix.
func detectKind(src string) (location, error) {
	info, err := os.Stat(src)
	if err != nil {
		if looksLikePath(src) {
			return location{}, statError(src, err)
		}
		return location{kind: KindRegistry, path: src}, nil
	}
	if info.IsDir() {
		return location{kind: KindOCILayout, path: src}, nil
	}
	kind, err := sniffArchive(src)
	if err != nil {
		return location{}, err
	}
	return location{kind: kind, path: src}, nil
}

func looksLikePath(src string) bool {
	if filepath.IsAbs(src) || strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../") {
		return true
	}
	for _, ext := range []string{".tar", ".tar.gz", ".tgz"} {
		if strings.HasSuffix(src, ext) {
			return true
		}
	}
	return false
}
