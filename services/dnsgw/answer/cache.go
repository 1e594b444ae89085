package answer

import (
	"sync"
	"sync/atomic"

	"github.com/beaconmesh/beacon/services/dnsgw/view"
	"github.com/miekg/dns"
)

// maxCachedLookups bounds the results kept for one view: a flood of
// distinct names cannot grow the cache past it.
const maxCachedLookups = 8192

// lookupCache keeps lookup results for one view. A view never changes and
// a lookup is a function of the view and the question alone (the random
// order and the record limit are applied per reply by finish), so the
// records of a name are built once per catalog change, not once per query.
// Results are shared read-only: finish copies before it reorders.
type lookupCache struct {
	v       *view.View
	results sync.Map // lookupKey → result
	size    atomic.Int64
}

// lookupKey is a question as asked: owner names in the answer repeat the
// question's case, so names differing in case are separate entries.
type lookupKey struct {
	name          string
	qtype, qclass uint16
}

// cachedLookup is lookup through the cache of v.
func (h *Handler) cachedLookup(v *view.View, q dns.Question, zone, rest string, reverse bool) result {
	c := h.cache.Load()
	if c == nil || c.v != v {
		c = &lookupCache{v: v}
		h.cache.Store(c)
	}
	key := lookupKey{q.Name, q.Qtype, q.Qclass}
	if res, ok := c.results.Load(key); ok {
		return res.(result)
	}
	res := h.lookup(v, q, zone, rest, reverse)
	if c.size.Load() < maxCachedLookups {
		if _, loaded := c.results.LoadOrStore(key, res); !loaded {
			c.size.Add(1)
		}
	}
	return res
}
