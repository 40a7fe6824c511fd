package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseSource runs parseSource on any string in a directory of known
// files. It must not panic, and its errors wrap ErrInvalidSource or
// ErrSourceNotFound, which Open reports with the quoted input. A location
// it returns rebuilds the input and names a path that exists.
func FuzzParseSource(f *testing.F) {
	dir := f.TempDir()
	writeSourceFixtures(f, dir)
	seeds := []string{
		// Sources that parse.
		"layout", "oci:layout", "oci:layout@sha256:" + strings.Repeat("ab", 32),
		"oci:layout:v1", "oci:with:colon", "oci:with:colon:v1", "with:colon",
		"image.tar", "image.tar.gz", "oci-archive:image.tar", "oci-archive:image.tar:v2",
		"docker.tar", "docker-archive:docker.tar", "docker-archive:docker.tar:example.test/app:1",
		"docker-archive:docker.tar:host:5000/app:1", "example.test/app:1",
		"example.test/app@sha256:" + strings.Repeat("ab", 32), "docker://example.test/app:1",
		"docker://./layout", "docker:///etc",
		// Sources that fail.
		"", "   ", "docker://", "oci:", "oci-archive:", "docker-archive:", "oci:missing",
		"oci:missing@sha256:ab", "oci-archive:@", "docker-archive::", "docker-archive:docker.tar:",
		"./missing.tar", "missing.tgz", "sub/missing.tar.gz", "notes.txt", "empty.tar",
		"oci:lay\x00out", "lay\x00out.tar", "oci:layout\n", "\u212aayout.tar",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if escapesWorkingDirectory(src) {
			t.Skip("the source may name a file outside the test directory")
		}
		t.Chdir(dir)
		loc, err := parseSource(src)
		if err != nil {
			checkParseSourceError(t, src, err)
			return
		}
		checkLocation(t, src, loc)
	})
}

// escapesWorkingDirectory reports whether parseSource could stat a file
// outside the working directory for src: an absolute path, or a ".."
// anywhere, since parseSource also stats prefixes of the string.
func escapesWorkingDirectory(src string) bool {
	if strings.Contains(src, "..") || filepath.IsAbs(src) {
		return true
	}
	rest, kind := cutSourcePrefix(src)
	return kind != KindRegistry && filepath.IsAbs(rest)
}

// failingTransport fails every request, so that Open cannot reach a
// network even if it treated a source as a registry reference.
type failingTransport struct{}

func (failingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return nil, errors.New("the test forbids network requests: " + req.URL.String())
}

func checkParseSourceError(t *testing.T, src string, err error) {
	t.Helper()
	notFound := errors.Is(err, ErrSourceNotFound)
	if !notFound && !errors.Is(err, ErrInvalidSource) {
		t.Fatalf("parseSource(%q) error = %v, want it to wrap %v or %v", src, err,
			ErrInvalidSource, ErrSourceNotFound)
	}
	if notFound && !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("parseSource(%q) error = %q, want it to say what does not exist", src, err)
	}
	// Open fails in parseSource before it reads anything, so the transport
	// only guards against a change in that order.
	s, openErr := Open(t.Context(), src, WithTransport(failingTransport{}))
	if openErr == nil {
		s.Close()
		t.Fatalf("Open(%q) succeeded, but parseSource failed: %v", src, err)
	}
	if !strings.Contains(openErr.Error(), strconv.Quote(src)) {
		t.Errorf("Open(%q) error = %q, want it to quote the source", src, openErr)
	}
	if !strings.Contains(openErr.Error(), acceptedForms) {
		t.Errorf("Open(%q) error = %q, want it to list the accepted forms", src, openErr)
	}
}

// checkLocation checks a location that parseSource returned for src.
func checkLocation(t *testing.T, src string, loc location) {
	t.Helper()
	if loc.path == "" {
		t.Errorf("parseSource(%q) returned an empty path", src)
	}
	if loc.kind == KindRegistry {
		checkRegistryLocation(t, src, loc)
		return
	}
	if _, err := os.Stat(loc.path); err != nil {
		t.Errorf("parseSource(%q) returned kind %v with path %q that cannot be read: %v",
			src, loc.kind, loc.path, err)
	}
	rest, prefixKind := cutSourcePrefix(src)
	switch {
	case prefixKind == 0:
		if loc.path != src || loc.selector != "" {
			t.Errorf("parseSource(%q) = path %q, selector %q; want the whole input as path",
				src, loc.path, loc.selector)
		}
		info, err := os.Stat(src)
		if err == nil && info.IsDir() != (loc.kind == KindOCILayout) {
			t.Errorf("parseSource(%q) returned kind %v for a path with IsDir %t", src,
				loc.kind, info.IsDir())
		}
	case prefixKind != loc.kind:
		t.Errorf("parseSource(%q) returned kind %v, want %v from the prefix", src, loc.kind,
			prefixKind)
	case loc.selector == "" && loc.path == rest:
	default:
		// NOTE: a trailing "@" or ":" gives an empty selector, which Open
		// treats as no selector at all.
		if rest != loc.path+"@"+loc.selector && rest != loc.path+":"+loc.selector {
			t.Errorf("parseSource(%q) = path %q, selector %q; they do not rebuild %q",
				src, loc.path, loc.selector, rest)
		}
	}
}

// cutSourcePrefix returns src without its kind prefix and the kind that
// the prefix selects, or src and 0 when src has no prefix.
func cutSourcePrefix(src string) (string, Kind) {
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(src, p.prefix); ok {
			return rest, p.kind
		}
	}
	return src, 0
}

// checkRegistryLocation checks that a registry location is the input
// without its docker:// prefix, and that an input that looks like a path
// never becomes a registry reference.
func checkRegistryLocation(t *testing.T, src string, loc location) {
	t.Helper()
	if loc.selector != "" {
		t.Errorf("parseSource(%q) returned selector %q for a registry reference", src,
			loc.selector)
	}
	if rest, ok := strings.CutPrefix(src, "docker://"); ok {
		if loc.path != rest {
			t.Errorf("parseSource(%q) = reference %q, want %q", src, loc.path, rest)
		}
		return
	}
	if loc.path != src {
		t.Errorf("parseSource(%q) = reference %q, want the whole input", src, loc.path)
	}
	if _, kind := cutSourcePrefix(src); kind != 0 {
		t.Errorf("parseSource(%q) ignored the prefix of kind %v", src, kind)
	}
	pathLike := strings.HasPrefix(src, "./") || strings.HasSuffix(src, ".tar") ||
		strings.HasSuffix(src, ".tar.gz") || strings.HasSuffix(src, ".tgz")
	if pathLike {
		t.Errorf("parseSource(%q) returned a registry reference for a path", src)
	}
}

// writeSourceFixtures writes, under dir, an OCI layout directory, a
// directory with a colon in its name, OCI and docker archives, a gzip
// copy, a text file and an empty file.
func writeSourceFixtures(tb testing.TB, dir string) {
	tb.Helper()
	for _, sub := range []string{"layout", "with:colon", "sub"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	ociTar := tarOf(tb, map[string]string{"oci-layout": `{"imageLayoutVersion":"1.0.0"}`,
		"index.json": `{"schemaVersion":2,"manifests":[]}`})
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	if _, err := zw.Write(ociTar); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	files := map[string][]byte{
		"layout/oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`),
		"image.tar":         ociTar,
		"image.tar.gz":      zipped.Bytes(),
		"docker.tar":        tarOf(tb, map[string]string{"manifest.json": "[]"}),
		"notes.txt":         []byte("this is not a tar archive\n"),
		"empty.tar":         nil,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// tarOf returns a tar archive of the named files.
func tarOf(tb testing.TB, files map[string]string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
