// Package view holds the DNS gateway's picture of the catalog: an immutable,
// pre-indexed snapshot of nodes, service instances and their health, built
// from one ListServiceHealth answer, and the Follower that keeps the newest
// snapshot current with blocking queries. A query reads one snapshot without
// locks or RPCs; a newer snapshot replaces it whole.
package view

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Health is the worst state among the checks that bear on an instance.
type Health uint8

// Health values, ordered from best to worst so the worst is the maximum.
const (
	Passing Health = iota
	Warning
	Critical
)

// String returns the Consul name of h.
func (h Health) String() string {
	switch h {
	case Passing:
		return "passing"
	case Warning:
		return "warning"
	default:
		return "critical"
	}
}

// Node is a machine as the DNS gateway needs it.
type Node struct {
	// Name is the node name as registered (case kept).
	Name string
	// Datacenter is the node's datacenter as the catalog reports it; it may
	// be empty, in which case answers use the gateway's own datacenter.
	Datacenter string
	// Address is the registered address: an IP or a host name.
	Address string
	// IP is Address parsed; invalid when Address is a host name or empty.
	IP netip.Addr
	// TXT holds the node's meta as RFC 1464 "key=value" strings, sorted.
	TXT []string
}

// Instance is one service instance with what answers need, precomputed.
type Instance struct {
	Node *Node
	// ID and Service are the instance ID and service name as registered.
	ID      string
	Service string
	Tags    []string
	// OwnAddress reports whether the instance registered its own address
	// rather than using its node's.
	OwnAddress bool
	// Address is the effective address: the service address if set, else
	// the node's.
	Address string
	// IP is Address parsed; invalid when Address is a host name or empty.
	IP   netip.Addr
	Port uint16
	// Health is the worst of the instance's own checks and its node's.
	Health Health
	// SRV weights for passing and warning health.
	WeightPassing, WeightWarning uint16
	// Proxy is set on connect proxies: the service they front.
	ProxyDestination string
	// Native marks a Connect-native instance.
	Native bool

	tags map[string]struct{} // lower-cased
}

// Weight returns the SRV weight for the instance's current health.
func (i *Instance) Weight() uint16 {
	if i.Health == Warning {
		return i.WeightWarning
	}
	return i.WeightPassing
}

// HasTag reports whether the instance carries tag, ignoring case.
func (i *Instance) HasTag(tag string) bool {
	_, ok := i.tags[strings.ToLower(tag)]
	return ok
}

// Service is the set of instances answering to one name.
type Service struct {
	// Name is the service name as first registered.
	Name string
	// Usable are the instances without a critical check, in catalog order.
	Usable []*Instance
	// Total counts every instance, critical ones included.
	Total int
	byTag map[string][]*Instance // lower-cased tag → usable instances
}

// Select returns the usable instances carrying tag ("" for any), without
// warning ones when onlyPassing is set, in a new slice the caller may reorder.
func (s *Service) Select(tag string, onlyPassing bool) []*Instance {
	if s == nil {
		return nil
	}
	src := s.Usable
	if tag != "" {
		src = s.byTag[strings.ToLower(tag)]
	}
	out := make([]*Instance, 0, len(src))
	for _, inst := range src {
		if onlyPassing && inst.Health != Passing {
			continue
		}
		out = append(out, inst)
	}
	return out
}

// View is one immutable snapshot of the catalog. Every method is safe for
// concurrent use; nothing in a View changes after Build returns it.
type View struct {
	index    uint64
	received time.Time

	nodes    map[string]*Node    // lower-cased node name
	services map[string]*Service // lower-cased service name
	connect  map[string]*Service // lower-cased destination service name
	byIP     map[netip.Addr][]*Node
	ips      []netip.Addr // sorted keys of byIP, for reverse-zone prefixes

	instances int
}

// Index is the catalog index the view reflects.
func (v *View) Index() uint64 { return v.index }

// Received is when the catalog answer the view was built from arrived.
func (v *View) Received() time.Time { return v.received }

// NodeCount is the number of nodes in the view.
func (v *View) NodeCount() int { return len(v.nodes) }

// InstanceCount is the number of service instances, critical ones included.
func (v *View) InstanceCount() int { return v.instances }

// Node returns the node called name (any case), or nil.
func (v *View) Node(name string) *Node { return v.nodes[strings.ToLower(name)] }

// Service returns the service called name (any case), or nil.
func (v *View) Service(name string) *Service { return v.services[strings.ToLower(name)] }

// Connect returns the mesh endpoints of the service called name (any case):
// connect proxies whose destination it is, and its Connect-native
// instances; nil when it has none.
func (v *View) Connect(name string) *Service { return v.connect[strings.ToLower(name)] }

// NodesByIP returns the nodes whose address, or the address of one of whose
// instances, is ip, sorted by name.
func (v *View) NodesByIP(ip netip.Addr) []*Node { return v.byIP[ip.Unmap()] }

// HasIPUnder reports whether some node or instance address lies in p; it
// tells an empty non-terminal of a reverse zone from a name that does not
// exist.
func (v *View) HasIPUnder(p netip.Prefix) bool {
	p = p.Masked()
	i, _ := slices.BinarySearchFunc(v.ips, p.Addr(), func(a, b netip.Addr) int { return a.Compare(b) })
	return i < len(v.ips) && p.Contains(v.ips[i])
}
