package view

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
)

// Build indexes one ListServiceHealth answer into a View. It never fails:
// entries it cannot use (no node name, no service name) are skipped, so a
// single odd registration cannot keep the rest of the catalog out of DNS.
func Build(resp *catalogv1.ListServiceHealthResponse, received time.Time) *View {
	v := &View{
		index:    resp.GetMeta().GetIndex(),
		received: received,
		nodes:    make(map[string]*Node, len(resp.GetNodes())),
		services: make(map[string]*Service),
		connect:  make(map[string]*Service),
		byIP:     make(map[netip.Addr][]*Node),
	}

	for _, pn := range resp.GetNodes() {
		v.addNode(pn)
	}

	// Node checks bear on every instance of their node. The contract also
	// folds them into each instance's checks; taking both is harmless since
	// only the worst state counts.
	nodeHealth := make(map[string]Health)
	for _, c := range resp.GetNodeChecks() {
		key := strings.ToLower(c.GetNode())
		nodeHealth[key] = max(nodeHealth[key], checkHealth(c.GetStatus()))
	}

	for _, sh := range resp.GetInstances() {
		inst := v.newInstance(sh, nodeHealth)
		if inst == nil {
			continue
		}
		v.instances++
		addInstance(v.services, inst.Service, inst)
		if inst.ProxyDestination != "" {
			addInstance(v.connect, inst.ProxyDestination, inst)
		}
		if inst.Native {
			addInstance(v.connect, inst.Service, inst)
		}
		if inst.OwnAddress && inst.IP.IsValid() {
			v.indexIP(inst.IP, inst.Node)
		}
	}

	for ip, nodes := range v.byIP {
		slices.SortFunc(nodes, func(a, b *Node) int { return cmp.Compare(a.Name, b.Name) })
		v.byIP[ip] = slices.CompactFunc(nodes, func(a, b *Node) bool { return a == b })
		v.ips = append(v.ips, ip)
	}
	slices.SortFunc(v.ips, netip.Addr.Compare)
	return v
}

func (v *View) addNode(pn *catalogv1.Node) *Node {
	name := pn.GetNode()
	if name == "" {
		return nil
	}
	key := strings.ToLower(name)
	if n, ok := v.nodes[key]; ok {
		return n
	}
	n := &Node{
		Name:       name,
		Datacenter: pn.GetDatacenter(),
		Address:    pn.GetAddress(),
		IP:         parseIP(pn.GetAddress()),
		TXT:        metaTXT(pn.GetMeta()),
	}
	v.nodes[key] = n
	if n.IP.IsValid() {
		v.indexIP(n.IP, n)
	}
	return n
}

func (v *View) newInstance(sh *catalogv1.ServiceHealth, nodeHealth map[string]Health) *Instance {
	ps := sh.GetService()
	if ps.GetService() == "" {
		return nil
	}
	node := v.nodes[strings.ToLower(sh.GetNode().GetNode())]
	if node == nil {
		// The node list and the instance list come from the same read, so
		// this only happens with a node that has no name at all; fall back
		// to the instance's own copy of its node.
		node = v.addNode(sh.GetNode())
		if node == nil {
			return nil
		}
	}

	health := nodeHealth[strings.ToLower(node.Name)]
	for _, c := range sh.GetChecks() {
		health = max(health, checkHealth(c.GetStatus()))
	}

	inst := &Instance{
		Node:          node,
		ID:            ps.GetId(),
		Service:       ps.GetService(),
		Tags:          ps.GetTags(),
		Address:       node.Address,
		IP:            node.IP,
		Port:          clampU16(int64(ps.GetPort())),
		Health:        health,
		WeightPassing: 1,
		WeightWarning: 1,
		Native:        ps.GetConnect().GetNative(),
		tags:          make(map[string]struct{}, len(ps.GetTags())),
	}
	if a := ps.GetAddress(); a != "" {
		inst.OwnAddress = true
		inst.Address = a
		inst.IP = parseIP(a)
	}
	// Consul requires a passing weight of at least 1; a zero one means the
	// weights were never set.
	if w := ps.GetWeights(); w != nil && w.GetPassing() > 0 {
		inst.WeightPassing = clampU16(int64(w.GetPassing()))
		inst.WeightWarning = clampU16(int64(w.GetWarning()))
	}
	if ps.GetKind() == catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY {
		inst.ProxyDestination = ps.GetProxy().GetDestinationServiceName()
	}
	for _, t := range inst.Tags {
		inst.tags[strings.ToLower(t)] = struct{}{}
	}
	return inst
}

func addInstance(index map[string]*Service, name string, inst *Instance) {
	key := strings.ToLower(name)
	s := index[key]
	if s == nil {
		s = &Service{Name: name, byTag: make(map[string][]*Instance)}
		index[key] = s
	}
	s.Total++
	if inst.Health == Critical {
		return
	}
	s.Usable = append(s.Usable, inst)
	for t := range inst.tags {
		s.byTag[t] = append(s.byTag[t], inst)
	}
}

func (v *View) indexIP(ip netip.Addr, n *Node) {
	v.byIP[ip] = append(v.byIP[ip], n)
}

// checkHealth maps a check status to Health. An unset status is critical,
// as the contract says for writes: a check nobody has run yet is not a
// reason to send traffic.
func checkHealth(s catalogv1.HealthStatus) Health {
	switch s {
	case catalogv1.HealthStatus_HEALTH_STATUS_PASSING:
		return Passing
	case catalogv1.HealthStatus_HEALTH_STATUS_WARNING:
		return Warning
	default:
		return Critical
	}
}

func parseIP(s string) netip.Addr {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}
	}
	return ip.Unmap()
}

func metaTXT(meta map[string]string) []string {
	if len(meta) == 0 {
		return nil
	}
	out := make([]string, 0, len(meta))
	for k, val := range meta {
		// Consul's convention: a key with the rfc1035- prefix publishes
		// its bare value.
		if strings.HasPrefix(k, "rfc1035-") {
			out = append(out, val)
			continue
		}
		out = append(out, k+"="+val)
	}
	slices.Sort(out)
	return out
}

func clampU16(n int64) uint16 {
	return uint16(min(max(n, 0), 65535))
}
