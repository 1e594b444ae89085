package api

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// A full cache makes room by dropping its least recently used entry, and
// stops that entry's background refresh.
func TestAgentCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newAgentCache()
	defer c.close()
	t0 := time.Now()
	stopped := map[string]bool{}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range maxCacheEntries {
		key := "k" + strconv.Itoa(i)
		e := c.entryLocked(key, t0.Add(time.Duration(i)*time.Second))
		e.stop = func() { stopped[key] = true }
	}
	// k0 was used last of all; k1 is now the least recently used.
	c.entries["k0"].used = t0.Add(time.Hour)
	if e := c.entryLocked("k0", t0); e != c.entries["k0"] || len(c.entries) != maxCacheEntries {
		t.Fatalf("an existing key made a new entry or changed the size (%d)", len(c.entries))
	}
	c.entryLocked("new", t0.Add(2*time.Hour))
	if len(c.entries) != maxCacheEntries {
		t.Errorf("%d entries after adding to a full cache, want %d", len(c.entries), maxCacheEntries)
	}
	if _, ok := c.entries["k1"]; ok || !stopped["k1"] {
		t.Errorf("k1, the least recently used, kept %v, stopped %v; want dropped and stopped", ok, stopped["k1"])
	}
	if _, ok := c.entries["k0"]; !ok || stopped["k0"] {
		t.Error("k0, used most recently, was dropped")
	}
	if len(stopped) != 1 {
		t.Errorf("%d refreshes stopped, want 1", len(stopped))
	}
}

func TestParseCacheControl(t *testing.T) {
	tests := []struct {
		in      string
		want    cacheControl
		wantErr bool
	}{
		{"", cacheControl{}, false},
		{"max-age=30", cacheControl{maxAge: 30 * time.Second, hasMaxAge: true}, false},
		{"Max-Age=0, stale-if-error=60", cacheControl{hasMaxAge: true, staleIfError: time.Minute}, false},
		{`max-age="5", must-revalidate, no-cache`, cacheControl{maxAge: 5 * time.Second, hasMaxAge: true, mustRevalidate: true}, false},
		{"max-age=soon", cacheControl{}, true},
		{"stale-if-error=-1", cacheControl{}, true},
		{"max-age=99999999999", cacheControl{}, true},
	}
	for _, tt := range tests {
		got, err := parseCacheControl(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseCacheControl(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// Every route cacheKinds names is a GET route of the table, so that a
// renamed pattern cannot quietly stop ?cached from being served.
func TestCacheKindsNameGetRoutes(t *testing.T) {
	gets := map[string]bool{}
	for _, rt := range (&Server{}).routes() {
		if rt.method == http.MethodGet {
			gets[rt.path] = true
		}
	}
	for pattern := range cacheKinds {
		if !gets[pattern] {
			t.Errorf("cacheKinds names %q, which is no GET route", pattern)
		}
	}
}
