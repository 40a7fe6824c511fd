//go:build integration && scale

package integration

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/druppie/harbor-gate/pkg/gate"
	"github.com/druppie/harbor-gate/pkg/policy"
	"github.com/druppie/harbor-gate/pkg/reconciler/imagegate"
)

// Environment variables that tune TestScale.
const (
	// scaleRunsEnv sets the number of CustomRuns per mode. The default is defaultScaleRuns.
	scaleRunsEnv = "HARBOR_GATE_SCALE_RUNS"
	// scaleModesEnv is a comma-separated list of modes to run: webhooks, polling.
	// The default runs webhooks alone. On 2 cores, 1,000 runs took 3.5 minutes with
	// webhooks and a 1-minute window, and 8 minutes polling with a 3-minute window.
	scaleModesEnv = "HARBOR_GATE_SCALE_MODES"
	// scaleQPSEnv and scaleBurstEnv set the controller's client rate limits, passed on as
	// KUBE_API_QPS and KUBE_API_BURST. The defaults are the values in
	// config/500-controller.yaml.
	scaleQPSEnv   = "HARBOR_GATE_SCALE_KUBE_QPS"
	scaleBurstEnv = "HARBOR_GATE_SCALE_KUBE_BURST"
	// scaleWorkersEnv sets the controller's number of workers, passed on as
	// K_THREADS_PER_CONTROLLER. The default is the value in config/500-controller.yaml.
	scaleWorkersEnv = "HARBOR_GATE_SCALE_WORKERS"
	// scaleSettleEnv sets how long the test waits, once every run waits on its scan,
	// before the window starts, as a Go duration. The default is defaultPollingSettle in
	// polling mode and 0 with webhooks.
	scaleSettleEnv = "HARBOR_GATE_SCALE_SETTLE"
	// scaleWindowEnv sets how long the runs wait on their scans while Harbor API requests
	// are counted, as a Go duration. The default is defaultScaleWindow.
	scaleWindowEnv = "HARBOR_GATE_SCALE_WINDOW"
)

const (
	defaultScaleRuns = 1000
	// defaultScaleWindow covers two fallback polls of each run with webhooks (60 s each)
	// and four polls at the 30 s maximum interval without them.
	defaultScaleWindow = 2 * time.Minute
	// defaultPollingSettle lets the last runs' poll backoff reach the maximum interval
	// before requests are counted. From 2 s growing 1.5 times per poll, the delays add
	// up to about 64 s before the first delay of 30 s, and jitter adds up to 20%.
	defaultPollingSettle = 90 * time.Second
)

// Targets of the scale test.
const (
	targetRSS             = 200 << 20
	targetRequestsPerMin  = 2.0
	targetVerdictDuration = 5 * time.Second
)

// Timeouts of the scale test's phases on a 2-core machine.
const (
	scaleStartTimeout   = 6 * time.Minute
	scaleVerdictTimeout = 3 * time.Minute
)

// scaleResultsHeader starts test/bench/scale/RESULTS.md.
const scaleResultsHeader = `# Controller scale: CustomRuns waiting on scans

TestScale in test/integration/scale_test.go adds a section to this file on each run:

    flock /tmp/harbor-gate-itest.lock go test -tags 'integration scale' -run TestScale \
        -v -count=1 -timeout 30m ./test/integration/

Set-up: the integration tier's kube-apiserver, etcd and Tekton controller; the harbor-gate
controller as its own process (test/integration/scalecontroller: the constructor of
cmd/controller, servers on loopback only) under its ServiceAccount, with the client rate
limits and workers the tables show (sharedmain's are 5 QPS, burst 10 and 2 workers); a
Harbor double with scan on push whose scans stay Running on a fake clock until the test
steps it. Each run publishes a distinct
small image without signing, with the production defaults of config-harbor-gate (poll
interval 2 s growing to 30 s, webhook fallback poll 60 s).

Columns: VmRSS and VmHWM come from /proc/<pid>/status of the controller, sampled every
0.5 s. API requests are the double's REST API requests during the window that starts once
every run waits (in polling mode, after the settle time the column names), divided by runs
and minutes. Reconcile latency is the work queue's
processing time (kn_workqueue_process_duration_seconds) from the controller's metrics
endpoint, and queue wait its kn_workqueue_queue_duration_seconds; both are estimated
inside histogram buckets whose bounds are 5, 10, 25, 50, 75, 100, 250, 500 and 750 ms and
1, 2.5, 5, 7.5 and 10 s. The last column runs from the clock step that ends every scan at
once until the test's informer sees the last run done.

Targets: VmHWM at most 200 MiB, at most 2 Harbor requests per run per minute, all
verdicts within 5 s with webhooks.
`

// TestScale starts a controller process, lets many ImageGate CustomRuns wait on scans at
// once, and then ends every scan at the same moment. It measures the controller's memory,
// its Harbor API requests while the runs wait, its reconcile latency, and the time until
// every run carries a verdict.
func TestScale(t *testing.T) {
	if tier == nil {
		t.Skipf("integration tier not started: %s", skipReason)
	}
	runs := envInt(t, scaleRunsEnv, defaultScaleRuns)
	window := envDuration(t, scaleWindowEnv, defaultScaleWindow)
	modes := strings.Split(envString(scaleModesEnv, scaleModeWebhooks), ",")

	// The tier's in-process controller would reconcile the same runs.
	if err := tier.stopGate(); err != nil {
		t.Fatalf("stopping the in-process harbor-gate controller: %v", err)
	}
	t.Cleanup(func() {
		if err := tier.startGate(); err != nil {
			t.Errorf("starting the in-process harbor-gate controller again: %v", err)
		}
	})
	binary := buildScaleController(t)

	var results []scaleResult
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			res := runScaleMode(t, binary, mode, runs, window)
			results = append(results, res)
		})
	}
	table := scaleTable(results)
	t.Logf("scale results:\n%s", table)
	writeScaleResults(t, table)
}

// runScaleMode measures one mode and checks that every run passed with its own digest.
func runScaleMode(t *testing.T, binary, mode string, runs int, window time.Duration) scaleResult {
	s := newScaleEnv(t, binary, mode)
	sources := s.pushSources(runs)
	res := scaleResult{mode: mode, runs: runs, window: window, qps: s.qps, burst: s.burst,
		workers: s.workers}

	start := time.Now()
	s.createRuns(sources)
	s.tracker.waitFor(t, "all runs waiting on their scans", scaleStartTimeout,
		func() bool { return s.tracker.waiting() == runs })
	res.startDuration = time.Since(start)
	res.rssWaiting = s.memory.current().rss
	settle := time.Duration(0)
	if mode == scaleModePolling {
		settle = defaultPollingSettle
	}
	if res.settle = envDuration(t, scaleSettleEnv, settle); res.settle > 0 {
		select {
		case <-time.After(res.settle):
		case <-t.Context().Done():
			t.Fatal("test ended while the runs settled")
		}
	}

	before := s.harbor.Stats()
	windowStart := time.Now()
	select {
	case <-time.After(window):
	case <-t.Context().Done():
		t.Fatal("test ended during the measurement window")
	}
	res.requestsPerRunMinute = float64(apiRequests(s.harbor.Stats())-apiRequests(before)) /
		float64(runs) / time.Since(windowStart).Minutes()
	if waiting := s.tracker.waiting(); waiting != runs {
		t.Fatalf("%d of %d runs still wait after the window; the rest ended before their "+
			"scans did", waiting, runs)
	}
	beforeFinish := s.scrapeMetrics()

	profiled := s.saveCPUProfile(cpuProfileDuration)
	finished := time.Now()
	s.clock.Step(scanRunning + time.Minute)
	s.tracker.waitFor(t, "a verdict on every run", scaleVerdictTimeout,
		func() bool { return s.tracker.doneCount() == runs })
	res.verdictDuration = s.tracker.lastDone().Sub(finished)

	res.all = s.scrapeMetrics()
	res.finish = res.all.minus(beforeFinish)
	peak := s.memory.stop()
	res.rssPeak, res.hwm = peak.rss, peak.hwm
	s.saveHeapProfile()
	<-profiled

	checkScaleVerdicts(t, s, sources)
	t.Logf("%s: %s", mode, res.summary())
	res.reportTargets(t)
	return res
}

// checkScaleVerdicts checks that each run passed and reports the digest of its own source.
func checkScaleVerdicts(t *testing.T, s *scaleEnv, sources []scaleSource) {
	t.Helper()
	failed := 0
	for _, src := range sources {
		run, err := s.runLister.CustomRuns(s.ns).Get(src.run)
		if err != nil {
			t.Fatalf("reading CustomRun %s/%s: %v", s.ns, src.run, err)
		}
		cond := succeeded(run)
		got := results(run)
		if cond.Status != corev1.ConditionTrue || cond.Reason != imagegate.ReasonPassed ||
			got[gate.ResultVerdict] != string(policy.Pass) ||
			got[gate.ResultImageDigest] != src.digest {
			failed++
			if failed <= 5 {
				t.Errorf("CustomRun %s: condition %s/%s (%s), %s=%q, %s=%q; want True/%s, "+
					"%s and the source digest %s", src.run, cond.Status, cond.Reason,
					cond.Message, gate.ResultVerdict, got[gate.ResultVerdict],
					gate.ResultImageDigest, got[gate.ResultImageDigest], imagegate.ReasonPassed,
					policy.Pass, src.digest)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d runs did not pass with their own digest", failed, len(sources))
	}
}

// writeScaleResults adds the table to test/bench/scale/RESULTS.md under a heading with
// the time, and starts the file with the set-up when it does not exist.
func writeScaleResults(t *testing.T, table string) {
	t.Helper()
	file := filepath.Join(tier.root, "test", "bench", "scale", "RESULTS.md")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	var content string
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		content = scaleResultsHeader
	}
	content += fmt.Sprintf("\n## %s\n\nMachine: %s. Window: %s.\n\n%s",
		time.Now().UTC().Format(time.RFC3339), machineDescription(),
		envString(scaleWindowEnv, defaultScaleWindow.String()), table)
	f, err := os.OpenFile(file, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatalf("writing %s: %v", file, err)
	}
	t.Logf("added the results to %s", file)
}

func envString(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func envInt(t *testing.T, name string, fallback int) int {
	t.Helper()
	value := os.Getenv(name)
	if value == "" {
		return fallback
	}
	n, err := strconv.Atoi(value)
	if err != nil || n < 1 {
		t.Fatalf("invalid %s %q: use a positive whole number", name, value)
	}
	return n
}

func envDuration(t *testing.T, name string, fallback time.Duration) time.Duration {
	t.Helper()
	value := os.Getenv(name)
	if value == "" {
		return fallback
	}
	d, err := time.ParseDuration(value)
	if err != nil || d <= 0 {
		t.Fatalf("invalid %s %q: use a positive Go duration such as 2m", name, value)
	}
	return d
}
