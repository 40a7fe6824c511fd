package registry

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// openTar opens the tar file at archivePath, and decompresses it while
// reading when it starts with the gzip magic number.
func openTar(archivePath string) (io.ReadCloser, error) {
	f, err := os.Open(archivePath)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(f)
	magic, err := br.Peek(2)
	if err != nil || magic[0] != 0x1f || magic[1] != 0x8b {
		// Not gzip: read the file directly so that tar.Reader can seek
		// past entry data instead of reading it.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &gzipFile{Reader: zr, file: f}, nil
}

type gzipFile struct {
	*gzip.Reader
	file *os.File
}

func (g *gzipFile) Close() error {
	return errors.Join(g.Reader.Close(), g.file.Close())
}

// entryName returns a tar entry's name without a leading "./".
func entryName(h *tar.Header) string {
	return strings.TrimPrefix(path.Clean(h.Name), "./")
}

// sniffArchive detects whether the file at archivePath is an OCI archive
// or a docker save tarball. A tar with an oci-layout entry counts as an
// OCI archive even when it also has manifest.json, as recent docker save
// output does, because the layout keeps the original manifest bytes.
func sniffArchive(archivePath string) (Kind, error) {
	rc, err := openTar(archivePath)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidSource, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	hasManifest := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("%w: %s is neither a directory nor a tar archive: %w",
				ErrInvalidSource, archivePath, err)
		}
		switch entryName(h) {
		case "oci-layout":
			return KindOCIArchive, nil
		case "manifest.json":
			hasManifest = true
		}
	}
	if hasManifest {
		return KindDockerArchive, nil
	}
	return 0, fmt.Errorf("%w: tar archive %s has neither an oci-layout nor a manifest.json entry",
		ErrInvalidSource, archivePath)
}

// openOCIArchive extracts the OCI archive at archivePath to a temporary
// directory under os.TempDir and opens it as a layout. Source.Close
// removes the directory. Entries are copied to disk as a stream, so memory
// use does not grow with the image size, but the disk needs room for it.
func openOCIArchive(ctx context.Context, archivePath, selector string) (*Source, error) {
	dir, err := os.MkdirTemp("", "harbor-gate-oci-archive-")
	if err != nil {
		return nil, fmt.Errorf("creating directory to extract %s: %w", archivePath, err)
	}
	removeDir := func() error { return os.RemoveAll(dir) }
	if err := extractTar(ctx, archivePath, dir); err != nil {
		return nil, errors.Join(err, removeDir())
	}
	s, err := openLayoutAs(KindOCIArchive, dir, archivePath, selector)
	if err != nil {
		return nil, errors.Join(err, removeDir())
	}
	s.cleanup = removeDir
	return s, nil
}

func extractTar(ctx context.Context, archivePath, dir string) error {
	rc, err := openTar(archivePath)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSource, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: reading tar archive %s: %w", ErrInvalidSource, archivePath, err)
		}
		if err := extractEntry(tr, h, dir); err != nil {
			return fmt.Errorf("extracting %s from %s: %w", h.Name, archivePath, err)
		}
	}
}

func extractEntry(tr *tar.Reader, h *tar.Header, dir string) error {
	rel := filepath.FromSlash(entryName(h))
	if !filepath.IsLocal(rel) {
		return fmt.Errorf("%w: entry name leaves the archive's directory", ErrInvalidSource)
	}
	target := filepath.Join(dir, rel)
	switch h.Typeflag {
	case tar.TypeDir:
		return os.MkdirAll(target, 0o755)
	case tar.TypeReg:
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		return errors.Join(err, f.Close())
	case tar.TypeXGlobalHeader:
		return nil
	}
	return fmt.Errorf("%w: entry type %q is not supported in an OCI archive "+
		"(only regular files and directories are)", ErrInvalidSource, h.Typeflag)
}

// openDockerArchive opens the image that selector (a repo:tag from the
// archive's manifest.json) picks from the docker save tarball at p.
//
// A docker save tarball stores no manifest, so go-containerregistry builds
// one: Docker schema 2 media types, and layers that the tarball stores
// uncompressed are gzip-compressed while they are read. The digest of the
// pushed image is therefore the digest of that generated manifest, not the
// image ID. It matches the digest of the image the tarball was saved from
// only when that image had Docker media types and the same compressed
// layers.
//
// NOTE: go-containerregistry's tarball package scans the archive from the
// start for every file it reads, so a gzip-compressed archive is
// decompressed once per layer read: correct, but slow for large images.
func openDockerArchive(archivePath, selector string) (*Source, error) {
	opener := func() (io.ReadCloser, error) { return openTar(archivePath) }
	manifest, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("%w: reading manifest.json of docker archive %s: %w",
			ErrInvalidSource, archivePath, err)
	}
	tag, err := selectDockerImage(archivePath, manifest, selector)
	if err != nil {
		return nil, err
	}
	img, err := tarball.Image(opener, tag)
	if err != nil {
		return nil, fmt.Errorf("%w: reading docker archive %s: %w", ErrInvalidSource, archivePath, err)
	}
	return newSource(KindDockerArchive, img, nil)
}

// selectDockerImage checks that selector picks one image from manifest and
// returns it as the tag tarball.Image expects, or nil without selector.
func selectDockerImage(
	archivePath string, manifest tarball.Manifest, selector string,
) (*name.Tag, error) {
	var tags []string
	for _, d := range manifest {
		tags = append(tags, d.RepoTags...)
	}
	if selector == "" {
		if len(manifest) == 1 {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: docker archive %s has %d images (tags: %s); "+
			"select one with docker-archive:%s:<repo:tag>", ErrAmbiguousSource, archivePath,
			len(manifest), strings.Join(tags, ", "), archivePath)
	}
	tag, err := name.NewTag(selector)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid tag %q after the archive path: %w",
			ErrInvalidSource, selector, err)
	}
	for _, t := range tags {
		if candidate, err := name.NewTag(t); err == nil && candidate.Name() == tag.Name() {
			return &tag, nil
		}
	}
	return nil, fmt.Errorf("%w: docker archive %s has no image tagged %s; it has tags: %s",
		ErrSourceNotFound, archivePath, selector, strings.Join(tags, ", "))
}
