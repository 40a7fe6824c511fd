package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const (
	largeLayerSize = 64 << 20
	// heapLimit is the most heap growth a streamed push of the large layer
	// may cause: a quarter of the layer.
	heapLimit = largeLayerSize / 4
)

// writeLargeLayer writes a gzip layer of incompressible random data to a
// file, as a stream, and returns the layer read from that file.
func writeLargeLayer(t *testing.T) v1.Layer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "layer.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw, err := gzip.NewWriterLevel(f, gzip.NoCompression)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	header := &tar.Header{Name: "random.bin", Mode: 0o644, Size: largeLayerSize}
	if err := tw.WriteHeader(header); err != nil {
		t.Fatal(err)
	}
	random := rand.NewChaCha8([32]byte{1})
	if _, err := io.CopyN(tw, random, largeLayerSize); err != nil {
		t.Fatal(err)
	}
	for _, c := range []io.Closer{tw, zw, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	layer, err := tarball.LayerFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return layer
}

// heapSampler records the largest heap in use, measured after a garbage
// collection, while a push runs.
type heapSampler struct {
	mu      sync.Mutex
	peak    uint64
	samples int
}

func (s *heapSampler) sample() {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peak = max(s.peak, m.HeapInuse)
	s.samples++
}

// sampleWhile samples every 20 ms until stop is closed.
func (s *heapSampler) sampleWhile(stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	ticker := time.NewTicker(20 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
			s.sample()
		}
	}
}

// sampleMidUpload makes the registry sample the heap once half of the
// large layer's upload body has arrived, so at least one sample falls
// inside the transfer however fast it is.
type sampleMidUpload struct {
	io.ReadCloser
	read    int64
	sampler *heapSampler
}

func (r *sampleMidUpload) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	before := r.read
	r.read += int64(n)
	if before < largeLayerSize/2 && r.read >= largeLayerSize/2 {
		r.sampler.sample()
	}
	return n, err
}

// heapGrowthDuringPush pushes src and returns how far the heap in use grew
// above its level before the push.
func heapGrowthDuringPush(t *testing.T, src *Source) (growth int64, samples int) {
	t.Helper()
	reg := newTestRegistry(t)
	sampler := &heapSampler{}
	reg.setBeforeServe(func(_ http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPatch {
			r.Body = &sampleMidUpload{ReadCloser: r.Body, sampler: sampler}
		}
		return false
	})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go sampler.sampleWhile(stop, stopped)

	_, err := Push(t.Context(), src, parseRef(t, reg.Host+"/team/large:1"))
	close(stop)
	<-stopped
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	sampler.mu.Lock()
	defer sampler.mu.Unlock()
	return int64(sampler.peak) - int64(before.HeapInuse), sampler.samples
}

func TestPushStreamsLargeLayer(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and pushes a 64 MiB layer")
	}
	img, err := mutate.AppendLayers(empty.Image, writeLargeLayer(t))
	if err != nil {
		t.Fatal(err)
	}
	src := openSource(t, writeLayout(t, layoutEntry{image: img}))

	growth, samples := heapGrowthDuringPush(t, src)

	if samples == 0 {
		t.Fatal("no heap sample was taken during the push")
	}
	if growth > heapLimit {
		t.Errorf("heap grew by %d MiB while pushing a %d MiB layer, want at most %d MiB",
			growth>>20, largeLayerSize>>20, heapLimit>>20)
	}
	t.Logf("heap growth %d KiB over %d samples", growth>>10, samples)
}

// bufferingLayer reads its whole compressed content into memory before
// returning it, as a push that does not stream would.
type bufferingLayer struct {
	v1.Layer
}

func (l bufferingLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// TestHeapCheckSeesBufferedLayer shows that the check above can fail: the
// same push with a layer that is read into memory exceeds the limit.
func TestHeapCheckSeesBufferedLayer(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes a 64 MiB layer from memory")
	}
	img, err := mutate.AppendLayers(empty.Image, bufferingLayer{writeLargeLayer(t)})
	if err != nil {
		t.Fatal(err)
	}
	src, err := newSource(KindOCILayout, img, nil)
	if err != nil {
		t.Fatal(err)
	}

	growth, _ := heapGrowthDuringPush(t, src)

	if growth <= heapLimit {
		t.Errorf("heap grew by only %d MiB with a buffered %d MiB layer, want more than %d MiB",
			growth>>20, largeLayerSize>>20, heapLimit>>20)
	}
}
