// Command gatelatency measures how long the ImageGate controller takes to put a verdict on
// a CustomRun after Harbor's scan of the image ended, with Harbor webhooks and with
// polling alone.
//
// It runs everything in one process. The Harbor double of pkg/harbortest runs on the
// system clock, and its scans start on push and end after the double's default 100ms
// Pending and 400ms Running. The real controller.Impl runs on knative's fake clients, with
// its informers and workers started as sharedmain starts them. For each run it pushes a
// distinct source image, creates a CustomRun that skips signing, and records two times:
// the scan's end_time from Harbor's scan overview, and the moment the CustomRun informer
// first receives the run as done. It prints percentiles of their difference and the
// Harbor REST API requests per run.
//
//	go run ./test/bench/gatelatency -runs 200
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.runs, "runs", 200, "number of CustomRuns per mode")
	flag.IntVar(&cfg.concurrency, "concurrency", 10, "CustomRuns in flight at a time")
	flag.StringVar(&cfg.modes, "modes", "webhooks,polling",
		"comma-separated modes to measure: webhooks, polling")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Minute, "time limit of each mode")
	flag.Parse()
	if cfg.runs < 1 || cfg.concurrency < 1 {
		fmt.Fprintln(os.Stderr, "gatelatency: -runs and -concurrency must be at least 1")
		os.Exit(2)
	}

	fmt.Printf("runs per mode: %d, concurrency: %d\n", cfg.runs, cfg.concurrency)
	for _, mode := range strings.Split(cfg.modes, ",") {
		webhooks := mode == "webhooks"
		if !webhooks && mode != "polling" {
			fmt.Fprintf(os.Stderr, "gatelatency: unknown mode %q: use webhooks or polling\n",
				mode)
			os.Exit(2)
		}
		ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
		result, err := measure(ctx, cfg, webhooks)
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "gatelatency: mode %s: %v\n", mode, err)
			os.Exit(1)
		}
		result.print(mode)
	}
}

// config holds the command-line settings.
type config struct {
	runs        int
	concurrency int
	modes       string
	timeout     time.Duration
}

// result is the outcome of one mode.
type result struct {
	latencies   []time.Duration
	apiRequests int
	wall        time.Duration
}

// print writes the latency percentiles and the requests per run.
func (r result) print(mode string) {
	sorted := slices.Clone(r.latencies)
	slices.Sort(sorted)
	fmt.Printf("%s: n=%d min=%s p50=%s p90=%s p99=%s max=%s mean=%s "+
		"api-requests/run=%.1f wall=%s\n", mode, len(sorted), round(sorted[0]),
		round(percentile(sorted, 50)), round(percentile(sorted, 90)),
		round(percentile(sorted, 99)), round(sorted[len(sorted)-1]), round(mean(sorted)),
		float64(r.apiRequests)/float64(len(sorted)), r.wall.Round(time.Millisecond))
}

// percentile returns the nearest-rank percentile p of sorted values.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}

func mean(values []time.Duration) time.Duration {
	var sum time.Duration
	for _, v := range values {
		sum += v
	}
	return sum / time.Duration(len(values))
}

func round(d time.Duration) time.Duration {
	return d.Round(100 * time.Microsecond)
}
