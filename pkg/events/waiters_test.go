package events

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWaitersLookup(t *testing.T) {
	var w Waiters
	w.Register("ns/index-run", "sha256:index", "sha256:amd64", "sha256:arm64")
	w.Register("ns/image-run", "sha256:amd64")
	w.Register("ns/other", "sha256:other")
	w.Unregister("ns/other")
	w.Unregister("ns/never-registered")

	tests := []struct {
		name   string
		digest string
		want   []string
	}{
		{name: "index itself", digest: "sha256:index", want: []string{"ns/index-run"}},
		{name: "child shared by two runs", digest: "sha256:amd64",
			want: []string{"ns/image-run", "ns/index-run"}},
		{name: "other child", digest: "sha256:arm64", want: []string{"ns/index-run"}},
		{name: "unregistered", digest: "sha256:other"},
		{name: "unknown digest", digest: "sha256:unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, w.Lookup(tc.digest)); diff != "" {
				t.Errorf("Lookup(%s) (-want +got):\n%s", tc.digest, diff)
			}
		})
	}
	if got := w.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2", got)
	}
}

func TestWaitersRegisterReplaces(t *testing.T) {
	var w Waiters
	w.Register("ns/run", "sha256:index")
	w.Register("ns/run", "sha256:index", "sha256:child", "sha256:child")
	if diff := cmp.Diff([]string{"ns/run"}, w.Lookup("sha256:child")); diff != "" {
		t.Errorf("child after re-register (-want +got):\n%s", diff)
	}
	w.Register("ns/run", "sha256:next")
	if got := w.Lookup("sha256:child"); got != nil {
		t.Errorf("Lookup(old child) = %v, want nil after the run moved on", got)
	}
	if got := w.Lookup("sha256:index"); got != nil {
		t.Errorf("Lookup(old index) = %v, want nil after the run moved on", got)
	}
	w.Unregister("ns/run")
	if got := w.Len(); got != 0 {
		t.Errorf("Len() = %d after Unregister, want 0", got)
	}
}

func TestWaitersConcurrentUse(t *testing.T) {
	var w Waiters
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			key := fmt.Sprintf("ns/run-%d", i)
			for range 100 {
				w.Register(key, "sha256:shared", fmt.Sprintf("sha256:child-%d", i))
				w.Lookup("sha256:shared")
			}
		})
	}
	wg.Wait()
	if got := len(w.Lookup("sha256:shared")); got != 16 {
		t.Errorf("runs waiting for the shared digest = %d, want 16", got)
	}
}
