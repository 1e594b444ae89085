// Package tagged holds the tagged addresses and node meta a Consul agent
// gives what it registers, so that the catalog replica, the node agent and
// the HTTP gateway give the same: Prometheus' consul_sd
// (__meta_consul_tagged_address_*) and consul-template read them.
package tagged

import (
	"maps"
	"net"
)

// SegmentMetaKey is the node meta key in which Consul agents report their
// network segment (an Enterprise feature); "" is the default segment,
// which every Beacon node is in.
const SegmentMetaKey = "consul-network-segment"

// Family is "ipv4" or "ipv6" for an IP address, "" for anything else (a
// host name, nothing).
func Family(addr string) string {
	ip := net.ParseIP(addr)
	switch {
	case ip == nil:
		return ""
	case ip.To4() != nil:
		return "ipv4"
	}
	return "ipv6"
}

// NodeAddresses are the tagged addresses a Consul agent registers for its
// node when no WAN address is configured: lan and wan, and for an IP the
// per-family lan_ipv4 and wan_ipv4 (or _ipv6), all addr.
func NodeAddresses(addr string) map[string]string {
	out := map[string]string{"lan": addr, "wan": addr}
	if f := Family(addr); f != "" {
		out["lan_"+f], out["wan_"+f] = addr, addr
	}
	return out
}

// NodeMeta is meta (left as it is) with what a Consul agent adds to its
// node's meta: the network-segment key, "" for the default segment.
func NodeMeta(meta map[string]string) map[string]string {
	out := maps.Clone(meta)
	if out == nil {
		out = map[string]string{}
	}
	out[SegmentMetaKey] = ""
	return out
}
