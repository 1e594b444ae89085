package answer

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/beaconmesh/beacon/services/dnsgw/view"
	"github.com/miekg/dns"
)

const (
	// maxCachedLookups bounds the results, and separately the packed
	// replies, kept for one view: a flood of distinct names or reply shapes
	// cannot grow the cache past it.
	maxCachedLookups = 8192
	// maxPackedBytes bounds the bytes of packed replies kept for one view
	// (large TCP answers of big services add up).
	maxPackedBytes = 32 << 20
	// maxVariants is how many orders of one answer are packed: every
	// rotation of a random order when the answer has that many units or
	// fewer, evenly spaced rotations when it has more.
	maxVariants = 16
)

// lookupCache keeps lookup results for one view. A view never changes and
// a lookup is a function of the view and the question alone (the random
// order and the record limit are applied per reply by finish), so the
// records of a name are built once per catalog change, not once per query.
// Results are shared read-only: finish copies before it reorders.
//
// It also keeps packed replies (see packedReply), so that a repeated
// question costs a map lookup and a copy rather than building and packing
// a message.
type lookupCache struct {
	v       *view.View
	results sync.Map // lookupKey → result
	size    atomic.Int64

	packed      sync.Map // packedKey → *packedReply
	packedSize  atomic.Int64
	packedBytes atomic.Int64
}

// lookupKey is a question as asked: owner names in the answer repeat the
// question's case, so names differing in case are separate entries.
type lookupKey struct {
	name          string
	qtype, qclass uint16
}

// cacheFor is the cache of v, replacing the cache of an older view.
func (h *Handler) cacheFor(v *view.View) *lookupCache {
	c := h.cache.Load()
	if c == nil || c.v != v {
		c = &lookupCache{v: v}
		h.cache.Store(c)
	}
	return c
}

// cachedLookup is lookup through the cache of v.
func (h *Handler) cachedLookup(v *view.View, q dns.Question, zone, rest string, reverse bool) result {
	c := h.cacheFor(v)
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

// replyShape is what of a request, beside its question, decides the bytes
// of the reply: the transport, the EDNS0 buffer size echoed in the reply's
// OPT (0 without OPT), and the RD and CD bits copied into the reply. The
// ID is patched per reply.
type replyShape struct {
	tcp      bool
	ednsSize uint16
	rd, cd   bool
}

type packedKey struct {
	lookupKey
	replyShape
}

// packedReply is the wire form of the reply to one question in one shape:
// variants[i] answers with the units in the i-th order (packed on first
// use). A question whose reply cannot be shared (negative answers, whose
// SOA serial is the time of the reply; names outside the domains) has no
// variants: it is answered by Handle every time.
type packedReply struct {
	rcode    int
	res      result
	order    []int // a random order of res.units, rotated per variant
	variants []atomic.Pointer[[]byte]
}

// shapeOf is the shape of a request whose reply can come from the packed
// cache, or ok false: a request Handle must look at (anything checkRequest
// would answer with an error, extra records besides one OPT, an EDNS0
// client-subnet option that the reply echoes).
func (h *Handler) shapeOf(req *dns.Msg, tcp bool) (replyShape, bool) {
	if req.Response || h.checkRequest(req) != nil {
		return replyShape{}, false
	}
	s := replyShape{tcp: tcp, rd: req.RecursionDesired, cd: req.CheckingDisabled}
	switch len(req.Extra) {
	case 0:
	case 1:
		opt, ok := req.Extra[0].(*dns.OPT)
		if !ok {
			return replyShape{}, false
		}
		for _, o := range opt.Option {
			if o.Option() == dns.EDNS0SUBNET {
				return replyShape{}, false
			}
		}
		s.ednsSize = uint16(max(dns.MinMsgSize, min(int(opt.UDPSize()), maxUDPPayload)))
	default:
		return replyShape{}, false
	}
	return s, true
}

// packed returns the wire reply to req from the packed cache of v, with
// req's ID, and its rcode; ok is false when req must go through Handle.
func (h *Handler) packed(v *view.View, req *dns.Msg, tcp bool) (wire []byte, rcode int, ok bool) {
	if v == nil {
		return nil, 0, false
	}
	shape, ok := h.shapeOf(req, tcp)
	if !ok {
		return nil, 0, false
	}
	q := req.Question[0]
	key := packedKey{lookupKey{q.Name, q.Qtype, q.Qclass}, shape}
	c := h.cacheFor(v)
	var p *packedReply
	if e, found := c.packed.Load(key); found {
		p = e.(*packedReply)
	} else {
		p = h.newPackedReply(v, q)
		if c.packedSize.Load() < maxCachedLookups {
			if e, loaded := c.packed.LoadOrStore(key, p); loaded {
				p = e.(*packedReply)
			} else {
				c.packedSize.Add(1)
			}
		}
	}
	if len(p.variants) == 0 {
		return nil, 0, false
	}
	i := 0
	if len(p.variants) > 1 {
		i = rand.N(len(p.variants))
	}
	b := p.variants[i].Load()
	if b == nil {
		resp := h.reply(req, p.res, p.rotation(i), tcp)
		packed, err := resp.Pack()
		if err != nil {
			return nil, 0, false
		}
		b = &packed
		if c.packedBytes.Add(int64(len(packed))) <= maxPackedBytes {
			p.variants[i].Store(b)
		}
	}
	wire = make([]byte, len(*b))
	copy(wire, *b)
	binary.BigEndian.PutUint16(wire, req.Id)
	return wire, p.rcode, true
}

// newPackedReply looks q up and decides how many orders of its answer to
// pack: none when the reply cannot be shared, one when its order is fixed.
func (h *Handler) newPackedReply(v *view.View, q dns.Question) *packedReply {
	zone, rest, reverse, inZone := h.zoneOf(lowerFqdn(q.Name))
	if !inZone {
		return &packedReply{}
	}
	res := h.cachedLookup(v, q, zone, rest, reverse)
	if res.rcode != dns.RcodeSuccess || len(res.units) == 0 {
		return &packedReply{}
	}
	p := &packedReply{rcode: res.rcode, res: res}
	n := 1
	if res.shuffle && len(res.units) > 1 {
		n = min(len(res.units), maxVariants)
		p.order = rand.Perm(len(res.units))
	}
	p.variants = make([]atomic.Pointer[[]byte], n)
	return p
}

// rotation is the units of variant i: the random order rotated by an i-th
// of its length, so that across the variants every unit leads about as
// often, and a reply cut short by a limit or a size still spreads clients
// over every unit.
func (p *packedReply) rotation(i int) []unit {
	if p.order == nil {
		return p.res.units
	}
	n := len(p.order)
	start := i * n / len(p.variants)
	units := make([]unit, n)
	for k := range n {
		units[k] = p.res.units[p.order[(start+k)%n]]
	}
	return units
}
