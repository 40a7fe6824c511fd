package registry

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// fakeClock returns a time that moves on by step at every call.
type fakeClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.step)
	return c.now
}

func TestProgressPrinterLines(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name    string
		step    time.Duration
		updates []int64
		want    []string
	}{
		{"short push prints nothing", 100 * time.Millisecond,
			[]int64{1 * mib, 2 * mib, 4 * mib}, nil},
		{"long push prints once a second", 600 * time.Millisecond,
			[]int64{1 * mib, 2 * mib, 3 * mib, 4 * mib},
			[]string{
				// The clock reads 0.6 s at the start and 1.2 s per two updates.
				"pushing r/app:1: 2.0 MiB of 4.0 MiB (50%), 1.7 MiB/s",
				"pushing r/app:1: 4.0 MiB of 4.0 MiB (100%), 1.7 MiB/s",
				"pushed r/app:1: 4.0 MiB in 3s, 1.3 MiB/s",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			clock := &fakeClock{step: tc.step}
			p := newProgressPrinter(&out, clock.Now, "r/app:1", 4*mib)
			updates := make(chan v1.Update)
			finished := make(chan struct{})
			go p.run(updates, finished)
			for _, complete := range tc.updates {
				updates <- v1.Update{Total: 4 * mib, Complete: complete}
			}
			close(updates)
			<-finished

			var got []string
			if out.Len() > 0 {
				got = strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("progress output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPushWritesProgress(t *testing.T) {
	reg := newTestRegistry(t)
	img, err := random.Image(2<<20, 4) // 8 MiB in 4 layers.
	if err != nil {
		t.Fatal(err)
	}
	src := openSource(t, writeLayout(t, layoutEntry{image: img}))
	var out strings.Builder
	clock := &fakeClock{step: 300 * time.Millisecond}

	_, err = Push(t.Context(), src, parseRef(t, reg.Host+"/team/app:1"),
		WithProgress(&out), withClock(clock.Now), WithJobs(1))
	if err != nil {
		t.Fatalf("Push: %v", err)
	}

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("progress output has %d lines, want at least 3:\n%s", len(lines), out.String())
	}
	target := regexp.QuoteMeta(reg.Host + "/team/app:1")
	progressLine := regexp.MustCompile(`^pushing ` + target +
		`: [0-9.]+ (B|KiB|MiB) of 8\.0 MiB \([0-9]+%\), [0-9.]+ (B|KiB|MiB)/s$`)
	for _, line := range lines[:len(lines)-1] {
		if !progressLine.MatchString(line) {
			t.Errorf("progress line %q does not match %s", line, progressLine)
		}
	}
	lastLine := regexp.MustCompile(`^pushed ` + target +
		`: 8\.0 MiB in [0-9hms.]+, [0-9.]+ (B|KiB|MiB)/s$`)
	if last := lines[len(lines)-1]; !lastLine.MatchString(last) {
		t.Errorf("last line %q does not match %s", last, lastLine)
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{3 << 19, "1.5 MiB"},
		{5 << 30, "5.0 GiB"},
	}
	for _, tc := range tests {
		if got := formatBytes(tc.n); got != tc.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
