package registry

import (
	"fmt"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// progressInterval is the least time between two progress lines, and the
// time a push runs before the first one.
const progressInterval = time.Second

// progressPrinter turns go-containerregistry's progress updates into
// progress lines for people.
type progressPrinter struct {
	w      io.Writer
	now    func() time.Time
	target string
	total  int64

	start   time.Time
	last    time.Time
	printed bool
	done    int64
}

func newProgressPrinter(
	w io.Writer, now func() time.Time, target string, total int64,
) *progressPrinter {
	start := now()
	return &progressPrinter{w: w, now: now, target: target, total: total, start: start, last: start}
}

// run consumes updates until the channel is closed, then writes the last
// line if any line was written, and closes finished.
func (p *progressPrinter) run(updates <-chan v1.Update, finished chan<- struct{}) {
	defer close(finished)
	for u := range updates {
		if u.Error == nil {
			p.observe(u.Complete)
		}
	}
	p.finish()
}

func (p *progressPrinter) observe(complete int64) {
	p.done = min(complete, p.total)
	t := p.now()
	if t.Sub(p.last) < progressInterval {
		return
	}
	p.last = t
	p.printed = true
	elapsed := t.Sub(p.start)
	percent := 0
	if p.total > 0 {
		percent = int(p.done * 100 / p.total)
	}
	fmt.Fprintf(p.w, "pushing %s: %s of %s (%d%%), %s/s\n", p.target,
		formatBytes(p.done), formatBytes(p.total), percent, formatBytes(rate(p.done, elapsed)))
}

func (p *progressPrinter) finish() {
	if !p.printed {
		return
	}
	elapsed := p.now().Sub(p.start)
	fmt.Fprintf(p.w, "pushed %s: %s in %s, %s/s\n", p.target, formatBytes(p.done),
		elapsed.Round(100*time.Millisecond), formatBytes(rate(p.done, elapsed)))
}

// rate returns bytes per second.
func rate(bytes int64, elapsed time.Duration) int64 {
	if elapsed <= 0 {
		return 0
	}
	return int64(float64(bytes) / elapsed.Seconds())
}

// formatBytes formats n bytes with a binary unit, such as "12.5 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	value, exp := float64(n)/unit, 0
	for value >= unit && exp < 4 {
		value /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", value, "KMGTP"[exp])
}
