package imagegate

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// secretCacheTTL is how long a scan poll reuses the Harbor credentials that an earlier
// GET of their Secret returned. Without it every poll of every waiting run GETs the
// Secret, and when many scans end at once those GETs compete with the status updates
// and Events for the client's rate limit. A rotated credential reaches the polls at most
// this long after the change, and a poll that Harbor rejects with cached credentials is
// repeated once with a fresh read.
const secretCacheTTL = 30 * time.Second

// secretCache keeps the data of Secrets read by GET for a short time. The controller may
// only GET Secrets, never list or watch them, so it cannot learn of a change and relies
// on the entries expiring.
type secretCache struct {
	clock clock.PassiveClock
	ttl   time.Duration

	mu      sync.Mutex
	entries map[types.NamespacedName]secretEntry
	// nextPrune is the earliest time at which put drops expired entries again.
	nextPrune time.Time
}

type secretEntry struct {
	data    map[string][]byte
	expires time.Time
}

func newSecretCache(c clock.PassiveClock, ttl time.Duration) *secretCache {
	return &secretCache{clock: c, ttl: ttl, entries: map[types.NamespacedName]secretEntry{}}
}

// get returns the data stored for the Secret unless it expired.
func (c *secretCache) get(key types.NamespacedName) (map[string][]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	entry, ok := c.entries[key]
	if !ok || !c.clock.Now().Before(entry.expires) {
		return nil, false
	}
	return entry.data, true
}

// put stores the data of a Secret that was just read. At most once per TTL it also drops
// the expired entries, so a Secret that no run reads any more leaves memory at the first
// put after it expired.
func (c *secretCache) put(key types.NamespacedName, data map[string][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	if !now.Before(c.nextPrune) {
		for k, entry := range c.entries {
			if !now.Before(entry.expires) {
				delete(c.entries, k)
			}
		}
		c.nextPrune = now.Add(c.ttl)
	}
	c.entries[key] = secretEntry{data: data, expires: now.Add(c.ttl)}
}

// forget drops the entry of a Secret, so that the next read GETs it.
func (c *secretCache) forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
}
