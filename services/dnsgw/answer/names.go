package answer

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// kind is what a question name refers to inside the gateway's zones.
type kind int

const (
	kindUnknown kind = iota // in a zone, but no such name: NXDOMAIN
	kindApex                // the domain itself
	kindEmpty               // an empty non-terminal (RFC 8020): NODATA
	kindNode
	kindService
	kindConnect
	kindAddr
	kindPTR     // a full reverse name of one address
	kindReverse // a shorter reverse name: a prefix of addresses
)

// name is a parsed question name.
type name struct {
	kind kind
	// zone is the configured domain the name fell in (lower-cased,
	// fully qualified); answers build targets in it.
	zone string
	// target is the node name, service name or hex address asked for.
	target string
	// tag filters service instances; empty for none.
	tag    string
	ip     netip.Addr
	prefix netip.Prefix
}

// the keywords that introduce a lookup type, read right to left.
const (
	kwNode    = "node"
	kwService = "service"
	kwConnect = "connect"
	kwAddr    = "addr"
	kwQuery   = "query"
)

func isKeyword(l string) bool {
	switch l {
	case kwNode, kwService, kwConnect, kwAddr, kwQuery:
		return true
	}
	return false
}

// lowerFqdn is a question name in the form zoneOf takes.
func lowerFqdn(name string) string {
	return strings.ToLower(dns.Fqdn(name))
}

// zoneOf places a lower-cased, fully qualified question name: in one of the
// configured domains (the longest that matches), in a reverse zone, or
// outside (ok false).
func (h *Handler) zoneOf(lname string) (zone string, rest string, reverse bool, ok bool) {
	for _, d := range h.domains {
		if lname == d {
			return d, "", false, true
		}
		if strings.HasSuffix(lname, "."+d) {
			return d, lname[:len(lname)-len(d)], false, true
		}
	}
	for _, arpa := range [...]string{"in-addr.arpa.", "ip6.arpa."} {
		if lname == arpa || strings.HasSuffix(lname, "."+arpa) {
			return h.domain, lname, true, true
		}
	}
	return "", "", false, false
}

// parseName reads the labels of a name inside zone: rest is the part
// before the zone, with its trailing dot.
func (h *Handler) parseName(zone, rest string) name {
	labels := dns.SplitDomainName(rest)
	n := len(labels)
	out := name{kind: kindUnknown, zone: zone}
	if n == 0 {
		out.kind = kindApex
		return out
	}

	// Right to left: [<dc>[.dc]] then the keyword.
	k := -1
	dc := ""
	switch {
	case isKeyword(labels[n-1]):
		k = n - 1
	case n >= 2 && isKeyword(labels[n-2]):
		k, dc = n-2, labels[n-1]
	case n >= 3 && labels[n-1] == "dc" && isKeyword(labels[n-3]):
		k, dc = n-3, labels[n-2]
	case n == 1 && labels[0] == h.dc:
		out.kind = kindEmpty
		return out
	case (n == 2 || (n == 3 && labels[2] == h.dc)) && isSRVLabel(labels[0]) && isSRVLabel(labels[1]):
		// RFC 2782 without the service keyword: _<svc>._<tag>[.<dc>].
		out.kind = kindService
		out.target, out.tag = srvNames(labels[0], labels[1])
		return out
	default:
		return out
	}
	if dc != "" && dc != h.dc {
		// Other datacenters are not in the view.
		return out
	}

	prefix := labels[:k]
	if len(prefix) == 0 {
		out.kind = kindEmpty
		return out
	}
	switch labels[k] {
	case kwNode:
		out.kind = kindNode
		out.target = strings.Join(prefix, ".")
	case kwService:
		switch {
		case len(prefix) == 1 && isSRVLabel(prefix[0]):
			// _tcp.service.<domain> is the parent of _web._tcp.service.<domain>.
			out.kind = kindEmpty
		case len(prefix) == 1:
			out.kind = kindService
			out.target = prefix[0]
		case len(prefix) == 2 && isSRVLabel(prefix[0]) && isSRVLabel(prefix[1]):
			out.kind = kindService
			out.target, out.tag = srvNames(prefix[0], prefix[1])
		case len(prefix) == 2:
			out.kind = kindService
			out.tag, out.target = prefix[0], prefix[1]
		}
	case kwConnect:
		if len(prefix) == 1 {
			out.kind = kindConnect
			out.target = prefix[0]
		}
	case kwAddr:
		if len(prefix) == 1 {
			out.kind = kindAddr
			out.target = prefix[0]
		}
	}
	return out
}

func isSRVLabel(l string) bool { return len(l) > 1 && l[0] == '_' }

// srvNames reads RFC 2782's _<service>._<proto>: a protocol of tcp or udp
// means any instance, anything else is a tag.
func srvNames(svc, proto string) (service, tag string) {
	service, tag = svc[1:], proto[1:]
	if tag == "tcp" || tag == "udp" {
		tag = ""
	}
	return service, tag
}

// parseReverse reads a lower-cased name under in-addr.arpa. or ip6.arpa.
// A full name gives one address (kindPTR); a shorter one a prefix
// (kindReverse); anything malformed is unknown.
func parseReverse(zone, lname string) name {
	out := name{kind: kindUnknown, zone: zone}
	if rest, ok := strings.CutSuffix(lname, "in-addr.arpa."); ok {
		labels := dns.SplitDomainName(rest)
		if len(labels) > 4 {
			return out
		}
		var b [4]byte
		for i, l := range labels {
			// Reverse names list octets last to first.
			v, err := strconv.ParseUint(l, 10, 8)
			if err != nil || (len(l) > 1 && l[0] == '0') {
				return out
			}
			b[len(labels)-1-i] = byte(v)
		}
		return reverseResult(out, netip.AddrFrom4(b), len(labels)*8)
	}
	if rest, ok := strings.CutSuffix(lname, "ip6.arpa."); ok {
		labels := dns.SplitDomainName(rest)
		if len(labels) > 32 {
			return out
		}
		var nibbles [32]byte
		for i, l := range labels {
			if len(l) != 1 {
				return out
			}
			v, err := strconv.ParseUint(l, 16, 8)
			if err != nil {
				return out
			}
			nibbles[len(labels)-1-i] = byte(v)
		}
		var b [16]byte
		for i := range b {
			b[i] = nibbles[2*i]<<4 | nibbles[2*i+1]
		}
		return reverseResult(out, netip.AddrFrom16(b), len(labels)*4)
	}
	return out
}

func reverseResult(out name, ip netip.Addr, bits int) name {
	if bits == ip.BitLen() {
		out.kind = kindPTR
		out.ip = ip
		return out
	}
	out.kind = kindReverse
	out.prefix = netip.PrefixFrom(ip, bits)
	return out
}

// parseHexAddr decodes the first label of <hex>.addr.<dc>.<domain>: 8 hex
// digits for IPv4, 32 for IPv6.
func parseHexAddr(s string) (netip.Addr, bool) {
	if len(s) != 8 && len(s) != 32 {
		return netip.Addr{}, false
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return netip.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(b)
	return ip, ok
}

// hexAddr is the label an address takes in <hex>.addr.<dc>.<domain>.
func hexAddr(ip netip.Addr) string {
	if ip.Is4() {
		b := ip.As4()
		return hex.EncodeToString(b[:])
	}
	b := ip.As16()
	return hex.EncodeToString(b[:])
}
