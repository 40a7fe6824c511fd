package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/druppie/harbor-gate/internal/cli"
)

// sink is a loopback CloudEvents sink that records what it receives and
// responds with the given status codes in turn, then with 202.
type sink struct {
	mu       sync.Mutex
	statuses []int
	bodies   []string
	types    []string
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, string(body))
	s.types = append(s.types, r.Header.Get("Content-Type"))
	status := http.StatusAccepted
	if len(s.statuses) > 0 {
		status, s.statuses = s.statuses[0], s.statuses[1:]
	}
	w.WriteHeader(status)
}

func TestPublishNotifySendsVerdict(t *testing.T) {
	e := newEnv(t)
	rec := &sink{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	code, _, stderr := run(t, e.args("app-vulnerable", "--notify", srv.URL)...)
	if code != cli.ExitFail {
		t.Fatalf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitFail, stderr)
	}
	if len(rec.bodies) != 1 {
		t.Fatalf("sink received %d events, want 1", len(rec.bodies))
	}
	var event struct {
		Type, Source string
		Data         struct {
			Image, Digest, Verdict, Reason string
			Counts                         map[string]int64
		}
	}
	if err := json.Unmarshal([]byte(rec.bodies[0]), &event); err != nil {
		t.Fatalf("event is not JSON: %v\n%s", err, rec.bodies[0])
	}
	if event.Type != "dev.druppie.harbor.scan.completed" || event.Source != "harbor-gate/cli" {
		t.Errorf("type %q source %q, want dev.druppie.harbor.scan.completed from harbor-gate/cli",
			event.Type, event.Source)
	}
	if event.Data.Verdict != "FAIL" || event.Data.Counts["Critical"] != 1 {
		t.Errorf("data verdict %q counts %v, want FAIL with one Critical",
			event.Data.Verdict, event.Data.Counts)
	}
	if want := e.srv.Host() + "/" + project + "/app-vulnerable"; event.Data.Image != want {
		t.Errorf("data image = %q, want %q", event.Data.Image, want)
	}
	if !strings.HasPrefix(event.Data.Digest, "sha256:") {
		t.Errorf("data digest = %q, want a sha256 digest", event.Data.Digest)
	}
	if !strings.HasPrefix(rec.types[0], "application/cloudevents+json") {
		t.Errorf("Content-Type = %q, want structured CloudEvents", rec.types[0])
	}
}

func TestPublishNotifyRetriesThenWarns(t *testing.T) {
	e := newEnv(t)
	t.Run("sink fails twice", func(t *testing.T) {
		rec := &sink{statuses: []int{http.StatusServiceUnavailable, http.StatusBadGateway}}
		srv := httptest.NewServer(rec)
		defer srv.Close()
		code, _, stderr := run(t, e.args("app", "--notify", srv.URL)...)
		if code != cli.ExitPass {
			t.Errorf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitPass, stderr)
		}
		if len(rec.bodies) != 3 {
			t.Errorf("sink received %d posts, want 3 (two failures, then success)",
				len(rec.bodies))
		}
	})
	t.Run("sink rejects", func(t *testing.T) {
		rec := &sink{statuses: []int{http.StatusBadRequest}}
		srv := httptest.NewServer(rec)
		defer srv.Close()
		code, _, stderr := run(t, e.args("app", "--notify", srv.URL)...)
		if code != cli.ExitPass {
			t.Errorf("exit code = %d, want the verdict's %d\nstderr:\n%s", code, cli.ExitPass,
				stderr)
		}
		if !strings.Contains(stderr, "warning: sending the verdict to --notify failed") {
			t.Errorf("stderr does not warn about the failed notification:\n%s", stderr)
		}
	})
	t.Run("invalid URL", func(t *testing.T) {
		code, _, stderr := run(t, e.args("app", "--notify", "ftp://sink")...)
		if code != cli.ExitUsage {
			t.Errorf("exit code = %d, want %d\nstderr:\n%s", code, cli.ExitUsage, stderr)
		}
		if !strings.Contains(stderr, `invalid --notify "ftp://sink"`) {
			t.Errorf("stderr does not name the URL:\n%s", stderr)
		}
	})
}
