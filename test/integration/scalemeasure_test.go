//go:build integration && scale

package integration

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline/v1beta1"
	pipelineinformers "github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
	"k8s.io/client-go/tools/cache"

	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/harbor"
	"github.com/druppie/harbor-gate/pkg/harbortest"
)

// runTracker follows the CustomRuns of one namespace through an informer, and records
// when it first saw each run done.
type runTracker struct {
	mu      sync.Mutex
	waits   map[string]bool
	done    map[string]time.Time
	changed chan struct{}
}

// startTracker starts an informer on the mode's namespace and waits for its first list.
func (s *scaleEnv) startTracker() {
	s.t.Helper()
	factory := pipelineinformers.NewSharedInformerFactoryWithOptions(s.pipeline, 0,
		pipelineinformers.WithNamespace(s.ns))
	informer := factory.Tekton().V1beta1().CustomRuns()
	s.runLister = informer.Lister()
	s.tracker = &runTracker{waits: map[string]bool{}, done: map[string]time.Time{},
		changed: make(chan struct{})}
	observe := func(obj any) {
		if run, ok := obj.(*v1beta1.CustomRun); ok {
			s.tracker.observe(s.t, run)
		}
	}
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj any) { observe(obj) },
	})
	if err != nil {
		s.t.Fatal(err)
	}
	stop := make(chan struct{})
	s.t.Cleanup(func() { close(stop) })
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
}

func (r *runTracker) observe(t *testing.T, run *v1beta1.CustomRun) {
	now := time.Now()
	waiting := false
	if !run.IsDone() {
		fields, err := gateState(run)
		if err != nil {
			t.Errorf("decoding the status.extraFields of CustomRun %s: %v", run.Name, err)
			return
		}
		waiting = fields.State.Phase == gate.PhaseScan &&
			fields.State.Scan.LastStatus == harbor.ScanRunning
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits[run.Name] = waiting
	if _, seen := r.done[run.Name]; run.IsDone() && !seen {
		r.done[run.Name] = now
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// waiting returns the number of runs whose last poll read their scan as Running.
func (r *runTracker) waiting() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, w := range r.waits {
		if w {
			n++
		}
	}
	return n
}

func (r *runTracker) doneCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.done)
}

// lastDone returns when the tracker first saw the last run done.
func (r *runTracker) lastDone() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var last time.Time
	for _, at := range r.done {
		if at.After(last) {
			last = at
		}
	}
	return last
}

// waitFor returns once cond holds, checking it after every informer event, and fails the
// test after timeout.
func (r *runTracker) waitFor(t *testing.T, what string, timeout time.Duration,
	cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		changed := r.changed
		r.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("timed out after %s waiting for %s: %d runs waiting, %d done", timeout,
				what, r.waiting(), r.doneCount())
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting for %s", what)
		}
	}
}

// memoryInterval is how often the sampler reads the controller's /proc status.
const memoryInterval = 500 * time.Millisecond

// memoryUsage is the resident set size and its high-water mark, in bytes, from the
// VmRSS and VmHWM lines of /proc/<pid>/status.
type memoryUsage struct {
	rss, hwm int64
}

// memorySampler reads a process's memory every memoryInterval and keeps the peak.
type memorySampler struct {
	pid  int
	mu   sync.Mutex
	last memoryUsage
	peak memoryUsage
	quit chan struct{}
	once sync.Once
}

func startMemorySampler(pid int) *memorySampler {
	m := &memorySampler{pid: pid, quit: make(chan struct{})}
	m.sample()
	go func() {
		ticker := time.NewTicker(memoryInterval)
		defer ticker.Stop()
		for {
			select {
			case <-ticker.C:
				m.sample()
			case <-m.quit:
				return
			}
		}
	}()
	return m
}

func (m *memorySampler) sample() {
	usage, err := readMemory(m.pid)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = usage
	m.peak.rss = max(m.peak.rss, usage.rss)
	m.peak.hwm = max(m.peak.hwm, usage.hwm)
}

// current returns the last sample.
func (m *memorySampler) current() memoryUsage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// stop takes a last sample, stops sampling and returns the peak.
func (m *memorySampler) stop() memoryUsage {
	m.once.Do(func() {
		m.sample()
		close(m.quit)
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak
}

func readMemory(pid int) (memoryUsage, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memoryUsage{}, err
	}
	defer f.Close()
	var usage memoryUsage
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		key, value, ok := strings.Cut(scanner.Text(), ":")
		if !ok {
			continue
		}
		// The kernel writes these lines as "<n> kB".
		kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(
			strings.TrimSpace(value), "kB")), 10, 64)
		switch {
		case err != nil:
		case key == "VmRSS":
			usage.rss = kib << 10
		case key == "VmHWM":
			usage.hwm = kib << 10
		}
	}
	return usage, scanner.Err()
}

// Names of the work queue histograms that knative's workqueue metrics provider exports,
// as the OpenTelemetry Prometheus exporter spells them.
const (
	processMetric = "kn_workqueue_process_duration_seconds"
	queueMetric   = "kn_workqueue_queue_duration_seconds"
	// clientRequestsMetric counts the controller's API server requests by status code.
	clientRequestsMetric = "kn_k8s_client_http_response_status_code_total"
	// limiterMetric is the time requests waited in client-go's rate limiter, which
	// test/integration/scalecontroller records.
	limiterMetric = "scale_client_rate_limiter_duration_seconds"
)

// histogram is a Prometheus histogram: cumulative counts by upper bound, +Inf last.
type histogram struct {
	bounds []float64
	counts []float64
}

// controllerMetrics contains what the test reads from the controller's /metrics.
type controllerMetrics struct {
	// process is the time a worker spent on one key, which is one reconcile.
	process histogram
	// queue is the time a key waited in the work queue before a worker took it.
	queue histogram
	// clientRequests is the number of API server requests the controller sent.
	clientRequests float64
	// limiterWait is the total time, in seconds, that those requests waited in the
	// client-side rate limiter.
	limiterWait float64
}

// minus returns what m counted after other, an earlier scrape.
func (m controllerMetrics) minus(other controllerMetrics) controllerMetrics {
	return controllerMetrics{
		process:        m.process.minus(other.process),
		queue:          m.queue.minus(other.queue),
		clientRequests: m.clientRequests - other.clientRequests,
		limiterWait:    m.limiterWait - other.limiterWait,
	}
}

// sumSamples adds the values of every sample of the named metric.
func sumSamples(text, metric string) float64 {
	total := 0.0
	for line := range strings.Lines(text) {
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		fields := strings.Fields(line)
		if value, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
			total += value
		}
	}
	return total
}

// scrapeMetrics reads the controller's /metrics.
func (s *scaleEnv) scrapeMetrics() controllerMetrics {
	s.t.Helper()
	data, err := s.get(s.ports.metrics, "/metrics")
	if err != nil {
		s.t.Fatalf("reading the controller's metrics: %v", err)
	}
	text := string(data)
	m := controllerMetrics{process: parseHistogram(text, processMetric),
		queue:          parseHistogram(text, queueMetric),
		clientRequests: sumSamples(text, clientRequestsMetric),
		limiterWait:    sumSamples(text, limiterMetric+"_sum")}
	if m.process.total() == 0 {
		s.t.Fatalf("no %s in the controller's metrics:\n%.2000s", processMetric, text)
	}
	return m
}

// parseHistogram sums the buckets of the named histogram over all its label sets.
func parseHistogram(text, metric string) histogram {
	sums := map[float64]float64{}
	for line := range strings.Lines(text) {
		if !strings.HasPrefix(line, metric+"_bucket{") {
			continue
		}
		_, rest, _ := strings.Cut(line, `le="`)
		le, rest, _ := strings.Cut(rest, `"`)
		_, value, _ := strings.Cut(rest, "} ")
		bound, err := strconv.ParseFloat(le, 64)
		if err != nil {
			continue
		}
		count, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		sums[bound] += count
	}
	var h histogram
	for bound := range sums {
		h.bounds = append(h.bounds, bound)
	}
	sort.Float64s(h.bounds)
	for _, bound := range h.bounds {
		h.counts = append(h.counts, sums[bound])
	}
	return h
}

func (h histogram) total() float64 {
	if len(h.counts) == 0 {
		return 0
	}
	return h.counts[len(h.counts)-1]
}

// minus returns the observations of h that other, an earlier scrape, does not contain.
func (h histogram) minus(other histogram) histogram {
	out := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts))}
	for i := range h.counts {
		out.counts[i] = h.counts[i]
		if i < len(other.counts) {
			out.counts[i] -= other.counts[i]
		}
	}
	return out
}

// quantile estimates the q-quantile by linear interpolation inside its bucket, as
// Prometheus's histogram_quantile does. It returns math.MaxInt64 when the quantile lies
// above the last finite bound.
func (h histogram) quantile(q float64) time.Duration {
	total := h.total()
	if total == 0 {
		return 0
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for i, bound := range h.bounds {
		if h.counts[i] >= rank {
			if math.IsInf(bound, 1) {
				return time.Duration(math.MaxInt64)
			}
			inBucket := h.counts[i] - below
			value := bound
			if inBucket > 0 {
				value = lower + (bound-lower)*(rank-below)/inBucket
			}
			return time.Duration(value * float64(time.Second))
		}
		lower, below = bound, h.counts[i]
	}
	return 0
}

// get reads path from the controller's loopback port.
func (s *scaleEnv) get(port int, path string) ([]byte, error) {
	resp, err := http.Get("http://" + loopback(port) + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// apiRequests returns the number of Harbor REST API requests the double served.
func apiRequests(stats harbortest.Stats) int {
	total := 0
	for _, n := range stats.APIRequests {
		total += n
	}
	return total
}
