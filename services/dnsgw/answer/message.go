package answer

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// now is the clock behind SOA serials.
var now = time.Now

const (
	// maxUDPPayload is the largest UDP payload over IPv6 (65535 minus the
	// IPv6 and UDP headers); larger EDNS0 sizes are read as this.
	maxUDPPayload = 65535 - 40 - 8
)

// udpSize is the largest reply the client of a UDP query accepts: 512
// bytes, or its EDNS0 buffer size if larger.
func udpSize(req *dns.Msg) int {
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = max(size, min(int(opt.UDPSize()), maxUDPPayload))
	}
	return size
}

// replyOPT is the OPT record answering the request's: the same buffer size
// (within what UDP can carry), version 0, and the client-subnet option
// echoed with scope 0, since answers do not depend on the client's address.
func replyOPT(reqOpt *dns.OPT) *dns.OPT {
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.SetUDPSize(uint16(max(dns.MinMsgSize, min(int(reqOpt.UDPSize()), maxUDPPayload))))
	for _, o := range reqOpt.Option {
		if ecs, ok := o.(*dns.EDNS0_SUBNET); ok {
			opt.Option = append(opt.Option, &dns.EDNS0_SUBNET{
				Code:          dns.EDNS0SUBNET,
				Family:        ecs.Family,
				SourceNetmask: ecs.SourceNetmask,
				SourceScope:   0,
				Address:       ecs.Address,
			})
			break
		}
	}
	return opt
}

// finish turns a lookup result into the reply to req, in a random order
// when the result asks for one (see reply).
func (h *Handler) finish(req *dns.Msg, res result, tcp bool) *dns.Msg {
	units := res.units
	if res.shuffle && len(units) > 1 {
		units = slices.Clone(units)
		rand.Shuffle(len(units), func(i, j int) { units[i], units[j] = units[j], units[i] })
	}
	return h.reply(req, res, units, tcp)
}

// reply is the reply to req carrying res with its units in the given
// order: header bits, the SOA of negative answers, EDNS0, and as many
// answer units as the record limit and the transport allow. A UDP reply
// that leaves units out has TC set.
func (h *Handler) reply(req *dns.Msg, res result, units []unit, tcp bool) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Rcode = res.rcode
	resp.Authoritative = res.authoritative
	resp.RecursionAvailable = h.cfg.Recursor != nil
	resp.Compress = true
	if res.authoritative && len(res.units) == 0 {
		resp.Ns = []dns.RR{h.soa(res.zone)}
	}
	var opt *dns.OPT
	if reqOpt := req.IsEdns0(); reqOpt != nil {
		opt = replyOPT(reqOpt)
	}

	if res.limit > 0 && len(units) > res.limit {
		units = units[:res.limit] // -a-record-limit: fewer records, not a truncation
	}
	size := dns.MaxMsgSize
	limit := len(units)
	if !tcp {
		size = udpSize(req)
		if size <= dns.MinMsgSize && h.cfg.UDPAnswerLimit > 0 {
			limit = min(limit, h.cfg.UDPAnswerLimit, maxUDPAnswerLimit)
		}
	}
	kept := fit(resp, units, limit, size, opt)
	resp.Truncated = kept < len(units)
	return resp
}

// extraKey identifies an additional record for de-duplication without
// formatting it: the glue of instances on one node repeats.
type extraKey struct {
	name   string
	rrtype uint16
	data   string
}

func keyOf(rr dns.RR) extraKey {
	h := rr.Header()
	switch v := rr.(type) {
	case *dns.A:
		return extraKey{h.Name, h.Rrtype, string(v.A)}
	case *dns.AAAA:
		return extraKey{h.Name, h.Rrtype, string(v.AAAA)}
	}
	return extraKey{h.Name, h.Rrtype, rr.String()}
}

// fit fills resp with the longest prefix of units, at most limit long,
// whose packed reply is no larger than size, and returns its length. The
// additional section follows the kept answers, without duplicates, and
// ends with opt.
func fit(resp *dns.Msg, units []unit, limit, size int, opt *dns.OPT) int {
	// fresh[i] are the extras unit i adds that no earlier unit carried.
	fresh := make([][]dns.RR, len(units))
	seen := make(map[extraKey]struct{})
	for i, u := range units {
		for _, rr := range u.extra {
			key := keyOf(rr)
			if _, dup := seen[key]; dup {
				continue
			}
			seen[key] = struct{}{}
			fresh[i] = append(fresh[i], rr)
		}
	}
	fill := func(k int) bool {
		resp.Answer, resp.Extra = resp.Answer[:0], resp.Extra[:0]
		for i, u := range units[:k] {
			resp.Answer = append(resp.Answer, u.answer...)
			resp.Extra = append(resp.Extra, fresh[i]...)
		}
		if opt != nil {
			resp.Extra = append(resp.Extra, opt)
		}
		return resp.Len() <= size
	}
	if fill(limit) {
		return limit
	}
	// Binary search the largest k that fits; k = 0 always does, since a
	// question and an SOA are far below 512 bytes.
	lo, hi := 0, limit-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fill(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	fill(lo)
	return lo
}
