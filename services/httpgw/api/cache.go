package api

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beaconmesh/beacon/platform/token"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
)

// Agent caching: the ?cached reads of Consul's agents. A read that allows
// it, asked with ?cached, is answered from the gateway's cache when it can
// be (X-Cache: HIT, with the answer's Age in seconds), and otherwise from
// the catalog (X-Cache: MISS), keeping the answer for the next one.
//
// Two kinds, as Consul's:
//   - simple (GET /v1/catalog/services): the answer is kept as it was
//     fetched, for up to cacheTTL, and served however old it is unless the
//     client's Cache-Control asks for max-age=N; then an older answer is
//     fetched again, and if that fails, stale-if-error=M still allows one
//     up to N+M seconds old (must-revalidate forbids it).
//   - background refresh (a service's instances and health, and its mesh
//     endpoints): the first miss starts a blocking query that keeps the
//     answer current, so later reads are hits of Age 0 (while the catalog
//     cannot be reached, the time since the answer was last known current)
//     and blocking reads (?index) wait on the cached answer rather than on
//     the catalog. The query stops when nobody asked for the answer for
//     cacheTTL. Cache-Control is ignored.
//
// Entries are per route, query and token. ?cached on any other read is
// ignored, as Consul does; ?cached with ?consistent is a 400 (readOptions).

const (
	// cacheTTL is how long an answer nobody asks for is kept: 3 days, as
	// Consul's agent, so that reads survive a long catalog outage.
	cacheTTL = 72 * time.Hour
	// maxCacheEntries bounds the cache; the least recently used answer
	// makes room for a new one.
	maxCacheEntries = 1024
	// refreshWait is the wait of a background refresh's blocking query.
	refreshWait = 10 * time.Minute
	// maxRefreshBackoff caps the pause between failed refreshes.
	maxRefreshBackoff = time.Minute
)

// cacheKind is how a route's answers may be cached.
type cacheKind int

const (
	noCache cacheKind = iota
	simpleCache
	refreshCache
)

// cacheKinds are the routes that support ?cached, by pattern.
var cacheKinds = map[string]cacheKind{
	"/v1/catalog/services":          simpleCache,
	"/v1/catalog/service/{name...}": refreshCache,
	"/v1/catalog/connect/{name...}": refreshCache,
	"/v1/health/service/{name...}":  refreshCache,
	"/v1/health/connect/{name...}":  refreshCache,
}

// agentCache holds the cached answers.
type agentCache struct {
	ctx    context.Context // ends every background refresh
	cancel context.CancelFunc

	mu      sync.Mutex
	entries map[string]*cacheEntry
}

// cacheEntry is one cached answer. Its fields are guarded by agentCache.mu.
type cacheEntry struct {
	ans     *recorder     // the sealed answer; nil until the first fetch succeeds
	fetched time.Time     // when ans was fetched, or last known current (refresh)
	used    time.Time     // when a client last asked for it
	failing bool          // refresh: the last refresh failed
	changed chan struct{} // refresh: closed when ans is replaced
	stop    context.CancelFunc
}

func newAgentCache() *agentCache {
	ctx, cancel := context.WithCancel(context.Background())
	return &agentCache{ctx: ctx, cancel: cancel, entries: map[string]*cacheEntry{}}
}

// close stops every background refresh.
func (c *agentCache) close() { c.cancel() }

// cacheControl is what a request's Cache-Control asks of a simple cache.
type cacheControl struct {
	maxAge, staleIfError time.Duration
	hasMaxAge            bool
	mustRevalidate       bool
}

// parseCacheControl reads the directives Consul honours; others are
// ignored.
func parseCacheControl(h string) (cacheControl, error) {
	var cc cacheControl
	for part := range strings.SplitSeq(h, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		seconds := func() (time.Duration, error) {
			n, err := strconv.ParseUint(strings.Trim(val, `"`), 10, 32)
			if err != nil {
				return 0, badRequestf("Invalid %s value in Cache-Control: %q", strings.ToLower(name), val)
			}
			return time.Duration(n) * time.Second, nil
		}
		var err error
		switch strings.ToLower(name) {
		case "max-age":
			cc.maxAge, err = seconds()
			cc.hasMaxAge = true
		case "stale-if-error":
			cc.staleIfError, err = seconds()
		case "must-revalidate":
			cc.mustRevalidate = true
		}
		if err != nil {
			return cacheControl{}, err
		}
	}
	return cc, nil
}

// cacheKey identifies the answers a cached read shares: the path, the
// query without what only shapes the wait (cached, index, wait), and the
// token. base is that query, for the reads the cache makes itself.
func cacheKey(r *http.Request, q url.Values) (key string, base url.Values) {
	rest := url.Values{}
	for k, v := range q {
		switch k {
		case "cached", "index", "wait":
		default:
			rest[k] = v
		}
	}
	return r.URL.Path + "?" + rest.Encode() + "\x00" + token.From(r.Context()), rest
}

// serve answers r, a GET with ?cached of a route of the given kind, whose
// handler is run. Bad input is returned before anything is written, for
// the endpoint to answer as any other failed request.
func (c *agentCache) serve(w http.ResponseWriter, r *http.Request, q url.Values, kind cacheKind, run func(http.ResponseWriter, *http.Request)) error {
	// ?index and ?wait shape only the wait, so they are not in the reads
	// the cache makes: they are checked here, as the handler would.
	opts, _, err := readOptions(q)
	if err != nil {
		return err
	}
	key, base := cacheKey(r, q)
	if kind == refreshCache {
		c.serveRefresh(w, r, opts, key, base, run)
		return nil
	}
	cc, err := parseCacheControl(r.Header.Get("Cache-Control"))
	if err != nil {
		return err
	}
	if opts.GetMinIndex() > 0 {
		// A simple cache does not block: the read goes to the catalog.
		w.Header().Set("X-Cache", "MISS")
		run(w, r)
		return nil
	}
	now := time.Now()
	c.mu.Lock()
	e := c.entries[key]
	var held *recorder
	var age time.Duration
	if e != nil && e.ans != nil {
		e.used = now
		held, age = e.ans, now.Sub(e.fetched)
	}
	c.mu.Unlock()
	if held != nil && (!cc.hasMaxAge || age <= cc.maxAge) {
		replyCached(w, r, held, true, age)
		return nil
	}
	fresh := fetchAnswer(c.ctx, run, r, base)
	if fresh.status == http.StatusOK {
		c.mu.Lock()
		e := c.entryLocked(key, now)
		e.ans, e.fetched = fresh, now
		c.mu.Unlock()
		replyCached(w, r, fresh, false, 0)
		return nil
	}
	if held != nil && !cc.mustRevalidate && cc.staleIfError > 0 && age <= cc.maxAge+cc.staleIfError {
		replyCached(w, r, held, true, age)
		return nil
	}
	fresh.replay(w, r)
	return nil
}

// serveRefresh answers r from a background-refreshed entry, starting one
// on a miss.
func (c *agentCache) serveRefresh(w http.ResponseWriter, r *http.Request, opts *queryv1.ReadOptions, key string, base url.Values, run func(http.ResponseWriter, *http.Request)) {
	now := time.Now()
	c.mu.Lock()
	e := c.entries[key]
	if e != nil {
		e.used = now
	}
	c.mu.Unlock()
	hit := e != nil
	if !hit {
		ans := fetchAnswer(c.ctx, run, r, base)
		if ans.status != http.StatusOK {
			ans.replay(w, r)
			return
		}
		c.mu.Lock()
		if e = c.entries[key]; e == nil {
			// The first to get here starts the refresh; a concurrent miss
			// keeps the entry it found.
			e = c.entryLocked(key, now)
			e.ans, e.fetched, e.changed = ans, now, make(chan struct{})
			ctx, stop := context.WithCancel(c.ctx)
			e.stop = stop
			go c.refresh(ctx, key, e, run, r, base)
		}
		c.mu.Unlock()
	}

	// A blocking read waits for the cached answer to pass its index, for
	// the wait readOptions worked out (default, cap and jitter).
	after := opts.GetMinIndex()
	var deadline <-chan time.Time
	if after > 0 {
		t := time.NewTimer(opts.GetMaxWait().AsDuration())
		defer t.Stop()
		deadline = t.C
	}
	for {
		c.mu.Lock()
		ans, changed := e.ans, e.changed
		var age time.Duration
		if e.failing {
			age = time.Since(e.fetched)
		}
		c.mu.Unlock()
		if after == 0 || ans.index > after {
			replyCached(w, r, ans, hit, age)
			return
		}
		select {
		case <-changed:
		case <-deadline:
			replyCached(w, r, ans, hit, age)
			return
		case <-r.Context().Done():
			return
		}
	}
}

// entryLocked returns key's entry, adding it (and evicting the least
// recently used one when the cache is full). c.mu is held.
func (c *agentCache) entryLocked(key string, now time.Time) *cacheEntry {
	if e := c.entries[key]; e != nil {
		return e
	}
	if len(c.entries) >= maxCacheEntries {
		var oldKey string
		var old *cacheEntry
		for k, e := range c.entries {
			if old == nil || e.used.Before(old.used) {
				oldKey, old = k, e
			}
		}
		c.dropLocked(oldKey, old)
	}
	e := &cacheEntry{used: now}
	c.entries[key] = e
	return e
}

// dropLocked removes key's entry e, stopping its refresh. c.mu is held.
func (c *agentCache) dropLocked(key string, e *cacheEntry) {
	if c.entries[key] == e {
		delete(c.entries, key)
	}
	if e.stop != nil {
		e.stop()
	}
}

// fetchAnswer runs the handler run for r's route with query q, under ctx
// rather than r's client's (with r's token), and returns its answer,
// recorded uncompressed and sealed.
func fetchAnswer(ctx context.Context, run func(http.ResponseWriter, *http.Request), r *http.Request, q url.Values) *recorder {
	fr := detachedRead(token.With(ctx, token.From(r.Context())), r)
	fr.URL.RawQuery = q.Encode()
	fr.RequestURI = ""
	rec := &recorder{}
	run(rec, fr)
	rec.seal()
	return rec
}

// refresh keeps e current with blocking reads of run until nobody asked for
// it for cacheTTL, or ctx ends. r is the request that started it (for its
// route and token).
func (c *agentCache) refresh(ctx context.Context, key string, e *cacheEntry, run func(http.ResponseWriter, *http.Request), r *http.Request, base url.Values) {
	var backoff time.Duration
	for {
		c.mu.Lock()
		idle := time.Since(e.used) > cacheTTL
		if idle {
			c.dropLocked(key, e)
		}
		idx, failing := e.ans.index, e.failing
		c.mu.Unlock()
		if idle || ctx.Err() != nil {
			return
		}
		// After a failure the answer is confirmed current (or replaced) at
		// once, then watched again.
		var ans *recorder
		if failing {
			ans = fetchAnswer(ctx, run, r, base)
		} else {
			q := maps.Clone(base)
			q.Set("index", strconv.FormatUint(idx, 10))
			q.Set("wait", refreshWait.String())
			ans = fetchAnswer(ctx, run, r, q)
		}
		if ctx.Err() != nil {
			return
		}
		if ans.status != http.StatusOK || ans.index == 0 {
			c.mu.Lock()
			e.failing = true
			c.mu.Unlock()
			backoff = min(max(2*backoff, time.Second), maxRefreshBackoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		c.mu.Lock()
		e.failing, e.fetched = false, time.Now()
		if ans.index != idx {
			e.ans = ans
			close(e.changed)
			e.changed = make(chan struct{})
		}
		c.mu.Unlock()
	}
}

// replyCached writes a cached answer with Consul's cache headers.
func replyCached(w http.ResponseWriter, r *http.Request, ans *recorder, hit bool, age time.Duration) {
	h := w.Header()
	if hit {
		h.Set("X-Cache", "HIT")
		h.Set("Age", strconv.FormatInt(int64(age/time.Second), 10))
	} else {
		h.Set("X-Cache", "MISS")
	}
	ans.replay(w, r)
}
