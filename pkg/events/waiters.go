package events

import (
	"slices"
	"sync"
)

// Waiters maps image digests to the keys of the runs that wait for their scans, so that a
// Delivery wakes the right runs. A key is any string that names a run, such as the
// "<namespace>/<name>" of a CustomRun. Harbor sends one scan event per child of an image
// index and none for the index itself, so a run that waits for an index registers the
// child digests too. The zero value is ready to use, and its methods are safe for
// concurrent use.
type Waiters struct {
	mu       sync.RWMutex
	byDigest map[string]map[string]struct{}
	byKey    map[string][]string
}

// Register records that the run key waits for digest and, for an image index, for its
// child digests. It replaces what key registered before, so a run may call it again once
// it has read the children from Harbor.
func (w *Waiters) Register(key, digest string, children ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.unregisterLocked(key)
	if w.byDigest == nil {
		w.byDigest = map[string]map[string]struct{}{}
		w.byKey = map[string][]string{}
	}
	digests := slices.Compact(slices.Sorted(slices.Values(append([]string{digest},
		children...))))
	for _, d := range digests {
		if w.byDigest[d] == nil {
			w.byDigest[d] = map[string]struct{}{}
		}
		w.byDigest[d][key] = struct{}{}
	}
	w.byKey[key] = digests
}

// Unregister removes every digest that key registered. It does nothing for an unknown key.
func (w *Waiters) Unregister(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.unregisterLocked(key)
}

func (w *Waiters) unregisterLocked(key string) {
	for _, d := range w.byKey[key] {
		delete(w.byDigest[d], key)
		if len(w.byDigest[d]) == 0 {
			delete(w.byDigest, d)
		}
	}
	delete(w.byKey, key)
}

// Lookup returns the sorted keys of the runs that wait for digest, directly or through an
// image index that contains it, or nil when none does.
func (w *Waiters) Lookup(digest string) []string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	keys := make([]string, 0, len(w.byDigest[digest]))
	for key := range w.byDigest[digest] {
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	return keys
}

// Len returns the number of registered runs.
func (w *Waiters) Len() int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return len(w.byKey)
}
