package answer

import (
	"net/netip"
	"time"

	"github.com/beaconmesh/beacon/services/dnsgw/view"
	"github.com/miekg/dns"
)

// unit is the smallest piece of an answer that is kept or dropped whole
// when a reply must shrink: the records for one instance (or one fact) and
// the additional records they need.
type unit struct {
	answer []dns.RR
	extra  []dns.RR
}

// result is what a lookup found, before it becomes a message.
type result struct {
	rcode int
	// authoritative replies (every one for a name in a zone) carry AA, and
	// the SOA of zone in the authority section when they have no answer.
	authoritative bool
	zone          string
	units         []unit
	// shuffle asks finish to serve units in a random order, and limit (when
	// positive) to keep only that many: the result itself stays the same
	// for every query, so it can be cached (see lookupCache).
	shuffle bool
	limit   int
}

func nxdomain(zone string) result {
	return result{rcode: dns.RcodeNameError, authoritative: true, zone: zone}
}

func found(zone string, units []unit) result {
	// A name that exists but has no records of the type is NODATA: the
	// same NOERROR, with the SOA instead of an answer.
	return result{rcode: dns.RcodeSuccess, authoritative: true, zone: zone, units: units}
}

// lookup answers one question in a zone from v.
func (h *Handler) lookup(v *view.View, q dns.Question, zone, rest string, reverse bool) result {
	var n name
	if reverse {
		n = parseReverse(zone, rest)
	} else {
		n = h.parseName(zone, rest)
	}
	if q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		// No zone transfers: the zone is computed per query.
		return result{rcode: dns.RcodeRefused}
	}
	switch n.kind {
	case kindApex:
		return h.apex(v, q, n)
	case kindEmpty:
		return found(n.zone, nil)
	case kindNode:
		return h.node(v, q, n)
	case kindService:
		return h.service(v.Service(n.target), q, n)
	case kindConnect:
		return h.service(v.Connect(n.target), q, n)
	case kindAddr:
		return h.addr(q, n)
	case kindPTR:
		return h.ptr(v, q, n)
	case kindReverse:
		if v.HasIPUnder(n.prefix) {
			return found(n.zone, nil)
		}
	}
	return nxdomain(n.zone)
}

func (h *Handler) node(v *view.View, q dns.Question, n name) result {
	node := v.Node(n.target)
	if node == nil {
		return nxdomain(n.zone)
	}
	ttl := ttlSeconds(h.cfg.NodeTTL)
	var units []unit
	if rr := addressRR(q.Name, q.Qtype, node.IP, node.Address, ttl); rr != nil {
		units = append(units, unit{answer: []dns.RR{rr}})
	}
	if q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY {
		for _, txt := range node.TXT {
			units = append(units, unit{answer: []dns.RR{&dns.TXT{Hdr: hdr(q.Name, dns.TypeTXT, ttl), Txt: []string{txt}}}})
		}
	}
	return found(n.zone, units)
}

// service answers <svc>.service, its tagged and RFC 2782 forms, and
// <svc>.connect (s is then the service's mesh endpoints).
func (h *Handler) service(s *view.Service, q dns.Question, n name) result {
	insts := s.Select(n.tag, h.cfg.OnlyPassing)
	if len(insts) == 0 {
		// Consul's answer for a service with no healthy instance too.
		return nxdomain(n.zone)
	}
	ttl := ttlSeconds(h.cfg.ServiceTTL)
	switch q.Qtype {
	case dns.TypeSRV:
		units := make([]unit, 0, len(insts))
		for _, inst := range insts {
			units = append(units, h.srvUnit(q.Name, inst, n.zone, ttl))
		}
		res := found(n.zone, units)
		res.shuffle = true
		return res
	case dns.TypeA, dns.TypeAAAA, dns.TypeANY, dns.TypeCNAME:
	default:
		return found(n.zone, nil)
	}

	// Address records, one per distinct address; a host-name address can
	// only be answered alone, as a CNAME, when no instance has an IP.
	var units []unit
	var cname dns.RR
	seen := make(map[netip.Addr]bool, len(insts))
	for _, inst := range insts {
		var u unit
		switch {
		case inst.IP.IsValid() && !seen[inst.IP]:
			if rr := addressRR(q.Name, q.Qtype, inst.IP, "", ttl); rr != nil {
				seen[inst.IP] = true
				u.answer = append(u.answer, rr)
			}
		case !inst.IP.IsValid() && cname == nil:
			cname = addressRR(q.Name, q.Qtype, netip.Addr{}, inst.Address, ttl)
		}
		if q.Qtype == dns.TypeANY {
			srv := h.srvUnit(q.Name, inst, n.zone, ttl)
			u.answer = append(u.answer, srv.answer...)
			u.extra = srv.extra
		}
		if len(u.answer) > 0 {
			units = append(units, u)
		}
	}
	if len(seen) == 0 && cname != nil && q.Qtype != dns.TypeANY {
		units = []unit{{answer: []dns.RR{cname}}}
	}
	res := found(n.zone, units)
	res.shuffle, res.limit = true, h.cfg.ARecordLimit
	return res
}

// srvUnit is an instance's SRV record and the glue for its target:
// <node>.node.<dc>.<zone>, or <hex>.addr.<dc>.<zone> when the instance has
// an address of its own, or that address when it is a host name.
func (h *Handler) srvUnit(owner string, inst *view.Instance, zone string, ttl uint32) unit {
	dc := h.datacenterOf(inst.Node)
	var target string
	var glue dns.RR
	switch {
	case inst.OwnAddress && inst.IP.IsValid():
		target = hexAddr(inst.IP) + ".addr." + dc + "." + zone
		glue = addressRR(target, dns.TypeANY, inst.IP, "", ttl)
	case inst.OwnAddress:
		target = dns.Fqdn(inst.Address)
	default:
		target = inst.Node.Name + ".node." + dc + "." + zone
		glue = addressRR(target, dns.TypeANY, inst.Node.IP, inst.Node.Address, ttl)
	}
	u := unit{answer: []dns.RR{&dns.SRV{
		Hdr:      hdr(owner, dns.TypeSRV, ttl),
		Priority: 1,
		Weight:   inst.Weight(),
		Port:     inst.Port,
		Target:   target,
	}}}
	if glue != nil {
		u.extra = []dns.RR{glue}
	}
	return u
}

func (h *Handler) addr(q dns.Question, n name) result {
	ip, ok := parseHexAddr(n.target)
	if !ok {
		return nxdomain(n.zone)
	}
	var units []unit
	if rr := addressRR(q.Name, q.Qtype, ip, "", ttlSeconds(h.cfg.ServiceTTL)); rr != nil {
		units = []unit{{answer: []dns.RR{rr}}}
	}
	return found(n.zone, units)
}

func (h *Handler) ptr(v *view.View, q dns.Question, n name) result {
	nodes := v.NodesByIP(n.ip)
	if len(nodes) == 0 {
		return nxdomain(n.zone)
	}
	if q.Qtype != dns.TypePTR && q.Qtype != dns.TypeANY {
		return found(n.zone, nil)
	}
	ttl := ttlSeconds(h.cfg.NodeTTL)
	units := make([]unit, 0, len(nodes))
	for _, node := range nodes {
		// Reverse answers always name the primary domain, as Consul's.
		units = append(units, unit{answer: []dns.RR{&dns.PTR{
			Hdr: hdr(q.Name, dns.TypePTR, ttl),
			Ptr: node.Name + ".node." + h.datacenterOf(node) + "." + h.domain,
		}}})
	}
	return found(n.zone, units)
}

// apex answers the domain itself: its SOA, and NS records naming the nodes
// of the catalog servers (the "consul" service, as Consul registers it).
func (h *Handler) apex(v *view.View, q dns.Question, n name) result {
	var units []unit
	if q.Qtype == dns.TypeSOA || q.Qtype == dns.TypeANY {
		units = append(units, unit{answer: []dns.RR{h.soa(n.zone)}})
	}
	if q.Qtype == dns.TypeNS || q.Qtype == dns.TypeANY {
		units = append(units, h.nameservers(v, q.Name, n.zone)...)
	}
	return found(n.zone, units)
}

const maxNameservers = 3

func (h *Handler) nameservers(v *view.View, owner, zone string) []unit {
	ttl := ttlSeconds(h.cfg.NodeTTL)
	var units []unit
	seen := make(map[*view.Node]bool)
	for _, inst := range v.Service("consul").Select("", false) {
		if len(units) == maxNameservers {
			break
		}
		if seen[inst.Node] {
			continue
		}
		seen[inst.Node] = true
		target := inst.Node.Name + ".node." + h.datacenterOf(inst.Node) + "." + zone
		u := unit{answer: []dns.RR{&dns.NS{Hdr: hdr(owner, dns.TypeNS, ttl), Ns: target}}}
		if glue := addressRR(target, dns.TypeANY, inst.Node.IP, inst.Node.Address, ttl); glue != nil {
			u.extra = []dns.RR{glue}
		}
		units = append(units, u)
	}
	if len(units) == 0 {
		// No catalog server registered: name the SOA's primary server.
		units = append(units, unit{answer: []dns.RR{&dns.NS{Hdr: hdr(owner, dns.TypeNS, ttl), Ns: "ns." + zone}}})
	}
	return units
}

// soa is the zone's SOA as Consul writes it: serial the current unix time,
// refresh 3600, retry 600, expire 86400, negative TTL 0 (its TTL too).
func (h *Handler) soa(zone string) dns.RR {
	return &dns.SOA{
		Hdr:     hdr(zone, dns.TypeSOA, 0),
		Ns:      "ns." + zone,
		Mbox:    "hostmaster." + zone,
		Serial:  uint32(now().Unix()),
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  0,
	}
}

func (h *Handler) datacenterOf(n *view.Node) string {
	if n.Datacenter != "" {
		return n.Datacenter
	}
	return h.cfg.Datacenter
}

// addressRR is the record answering qtype for an address: A or AAAA for
// an IP of the matching family, a CNAME to a host name. qtype ANY takes
// whichever applies. It returns nil when none does.
func addressRR(owner string, qtype uint16, ip netip.Addr, host string, ttl uint32) dns.RR {
	switch {
	case ip.Is4() && (qtype == dns.TypeA || qtype == dns.TypeANY):
		return &dns.A{Hdr: hdr(owner, dns.TypeA, ttl), A: ip.AsSlice()}
	case ip.Is6() && (qtype == dns.TypeAAAA || qtype == dns.TypeANY):
		return &dns.AAAA{Hdr: hdr(owner, dns.TypeAAAA, ttl), AAAA: ip.AsSlice()}
	case !ip.IsValid() && host != "" && (qtype == dns.TypeA || qtype == dns.TypeAAAA || qtype == dns.TypeANY || qtype == dns.TypeCNAME):
		if _, ok := dns.IsDomainName(host); !ok {
			return nil
		}
		return &dns.CNAME{Hdr: hdr(owner, dns.TypeCNAME, ttl), Target: dns.Fqdn(host)}
	}
	return nil
}

func hdr(owner string, rrtype uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: owner, Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}
}

func ttlSeconds(d time.Duration) uint32 {
	s := d.Seconds()
	if s <= 0 {
		return 0
	}
	return uint32(min(s, float64(^uint32(0))))
}
