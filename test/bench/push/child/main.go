// Command child is the helper process of the push benchmark in the folder above. It is a
// small binary of its own, so that its start-up costs as little as crane's does, and it
// does not link what the benchmark itself needs, such as the Harbor double and cosign.
//
//	child push SRC DST      # copies SRC to DST with pkg/registry, as harbor-gate does
//	child floor SRC DST     # copies SRC to DST with the fewest plain HTTP requests
//	child measure CMD ARGS  # runs CMD, writes its wall time, CPU time and peak RSS as JSON
//
// push and floor read the target's credentials from PUSHBENCH_USERNAME and
// PUSHBENCH_PASSWORD. With PUSHBENCH_CPUPROFILE set they write a CPU profile to that file,
// and with PUSHBENCH_DEBUG set go-containerregistry's debug log to stderr.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/logs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"

	"github.com/druppie/harbor-gate/pkg/registry"
)

// floorJobs is how many blobs the floor copies at a time, as many as harbor-gate's default.
const floorJobs = registry.DefaultJobs

// Environment variables that the push and floor modes read.
const (
	envUsername   = "PUSHBENCH_USERNAME"
	envPassword   = "PUSHBENCH_PASSWORD"
	envCPUProfile = "PUSHBENCH_CPUPROFILE"
	envDebug      = "PUSHBENCH_DEBUG"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "child: missing mode: use push, floor or measure")
		os.Exit(2)
	}
	mode, args := os.Args[1], os.Args[2:]
	if mode == "measure" {
		os.Exit(measure(args))
	}
	os.Exit(copyImage(mode, args))
}

// copyImage runs the mode push or floor with the arguments SRC DST and returns the exit
// code.
func copyImage(mode string, args []string) int {
	if len(args) != 2 {
		fmt.Fprintf(os.Stderr, "%s: want the arguments SRC DST, got %q\n", mode, args)
		return 2
	}
	if file := os.Getenv(envCPUProfile); file != "" {
		stop, err := startProfile(file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", mode, err)
			return 1
		}
		defer stop()
	}
	if os.Getenv(envDebug) != "" {
		logs.Debug.SetOutput(os.Stderr)
	}
	ctx := context.Background()
	var err error
	switch mode {
	case "push":
		err = pushWithRegistry(ctx, args[0], args[1])
	case "floor":
		err = copyPlain(ctx, args[0], args[1])
	default:
		err = fmt.Errorf("unknown mode %q: use push, floor or measure", mode)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", mode, err)
		return 1
	}
	return 0
}

func startProfile(file string) (func(), error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// targetAuth returns the credentials passed in the environment, or anonymous access.
func targetAuth() authn.Authenticator {
	if user := os.Getenv(envUsername); user != "" {
		return &authn.Basic{Username: user, Password: os.Getenv(envPassword)}
	}
	return authn.Anonymous
}

// pushWithRegistry copies src to dst with pkg/registry, the code that harbor-gate publish
// and the controller push with, at its default settings.
func pushWithRegistry(ctx context.Context, src, dst string) error {
	source, err := registry.Open(ctx, src)
	if err != nil {
		return err
	}
	defer source.Close()
	ref, err := name.ParseReference(dst)
	if err != nil {
		return err
	}
	_, err = registry.Push(ctx, source, ref, registry.WithAuth(targetAuth()))
	return err
}

// copyPlain copies the image src to dst with the fewest requests the registry API allows
// when nothing is checked at the target. For each blob it streams a GET from the source
// into a POST and a monolithic PUT at the target, floorJobs blobs at a time. Then it PUTs
// the manifest. go-containerregistry does only the ping and the token exchange.
func copyPlain(ctx context.Context, src, dst string) error {
	srcRef, err := name.NewTag(src)
	if err != nil {
		return err
	}
	dstRef, err := name.NewTag(dst)
	if err != nil {
		return err
	}
	from, err := newClient(ctx, srcRef.Context(), authn.Anonymous, transport.PullScope)
	if err != nil {
		return err
	}
	to, err := newClient(ctx, dstRef.Context(), targetAuth(), transport.PushScope)
	if err != nil {
		return err
	}

	raw, mediaType, err := getManifest(ctx, from, srcRef)
	if err != nil {
		return err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("parsing manifest of %s: %w", src, err)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(floorJobs)
	for _, desc := range append(m.Layers, m.Config) {
		g.Go(func() error { return copyBlob(gctx, from, to, srcRef, dstRef, desc) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return putManifest(ctx, to, dstRef, raw, mediaType)
}

// newClient returns an HTTP client authorised for scope on repo.
func newClient(
	ctx context.Context, repo name.Repository, auth authn.Authenticator, scope string,
) (*http.Client, error) {
	tr, err := transport.NewWithContext(ctx, repo.Registry, auth, http.DefaultTransport,
		[]string{repo.Scope(scope)})
	if err != nil {
		return nil, fmt.Errorf("authenticating to %s: %w", repo, err)
	}
	return &http.Client{Transport: tr}, nil
}

// registryURL returns the URL of path under repo's /v2/<name>/.
func registryURL(repo name.Repository, path string) string {
	return fmt.Sprintf("%s://%s/v2/%s/%s", repo.Scheme(), repo.RegistryStr(),
		repo.RepositoryStr(), path)
}

// do sends req and returns the response if its status is want.
func do(client *http.Client, req *http.Request, want int) (*http.Response, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: status %d, want %d: %s", req.Method, req.URL,
			resp.StatusCode, want, body)
	}
	return resp, nil
}

func getManifest(ctx context.Context, client *http.Client, ref name.Tag) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		registryURL(ref.Context(), "manifests/"+ref.TagStr()), nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, "+
		"application/vnd.oci.image.manifest.v1+json")
	resp, err := do(client, req, http.StatusOK)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return raw, resp.Header.Get("Content-Type"), err
}

// copyBlob streams one blob from the source into a monolithic upload at the target.
func copyBlob(ctx context.Context, from, to *http.Client, src, dst name.Tag,
	desc v1.Descriptor) error {
	get, err := http.NewRequestWithContext(ctx, http.MethodGet,
		registryURL(src.Context(), "blobs/"+desc.Digest.String()), nil)
	if err != nil {
		return err
	}
	blob, err := do(from, get, http.StatusOK)
	if err != nil {
		return err
	}
	defer blob.Body.Close()
	post, err := http.NewRequestWithContext(ctx, http.MethodPost,
		registryURL(dst.Context(), "blobs/uploads/"), nil)
	if err != nil {
		return err
	}
	started, err := do(to, post, http.StatusAccepted)
	if err != nil {
		return err
	}
	started.Body.Close()
	location, err := post.URL.Parse(started.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("parsing upload location: %w", err)
	}
	query := location.Query()
	query.Set("digest", desc.Digest.String())
	location.RawQuery = query.Encode()
	return putBlob(ctx, to, location, blob.Body, desc.Size)
}

func putBlob(ctx context.Context, client *http.Client, location *url.URL, body io.Reader,
	size int64) error {
	put, err := http.NewRequestWithContext(ctx, http.MethodPut, location.String(), body)
	if err != nil {
		return err
	}
	put.ContentLength = size
	put.Header.Set("Content-Type", "application/octet-stream")
	resp, err := do(client, put, http.StatusCreated)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func putManifest(ctx context.Context, client *http.Client, ref name.Tag, raw []byte,
	mediaType string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut,
		registryURL(ref.Context(), "manifests/"+ref.TagStr()), bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := do(client, req, http.StatusCreated)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// usage is what measure writes: the sample in nanoseconds and bytes.
type usage struct {
	WallNanos int64 `json:"wall_ns"`
	CPUNanos  int64 `json:"cpu_ns"`
	MaxRSS    int64 `json:"max_rss_bytes"`
}

// measure runs the command in args, sends its output to stderr, and writes its wall
// time and the CPU time and peak RSS from its rusage to stdout. The rusage includes the
// children that the command waited for. It returns the command's exit code.
func measure(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "measure: no command given")
		return 2
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)

	if exitErr := (*exec.ExitError)(nil); errors.As(err, &exitErr) {
		return exitErr.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "measure: %v\n", err)
		return 1
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintln(os.Stderr, "measure: no rusage")
		return 1
	}

	// Linux reports ru_maxrss in KiB.
	err = json.NewEncoder(os.Stdout).Encode(usage{
		WallNanos: wall.Nanoseconds(),
		CPUNanos:  ru.Utime.Nano() + ru.Stime.Nano(),
		MaxRSS:    ru.Maxrss * 1024,
	})
	if err != nil {
		return 1
	}
	return 0
}
