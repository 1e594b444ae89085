package e2e

import (
	"fmt"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// TestAgentSelfAgreesWithCatalog: the dev agent is a server with one node
// ID — the same in /v1/agent/self, /v1/agent/members and the catalog —
// its Member is the entry /v1/agent/members shows, it reports Consul's
// initial coordinate, and its node is registered as a Consul agent's is:
// lan/wan tagged addresses and the network-segment meta.
func TestAgentSelfAgreesWithCatalog(t *testing.T) {
	t.Parallel()
	_, c := startAgent(t)
	ag := c.Agent()

	self, err := ag.Self()
	if err != nil {
		t.Fatal(err)
	}
	if self["Config"]["Server"] != true {
		t.Errorf("Config.Server = %v, want true in -dev", self["Config"]["Server"])
	}
	members, err := ag.Members(false)
	if err != nil || len(members) != 1 {
		t.Fatalf("members = %+v, %v", members, err)
	}
	m := members[0]
	node, _, err := c.Catalog().Node(devNode, nil)
	if err != nil || node == nil || node.Node == nil {
		t.Fatalf("catalog node: %+v, %v", node, err)
	}
	id := node.Node.ID
	if self["Config"]["NodeID"] != id || m.Tags["id"] != id {
		t.Errorf("node IDs: self %v, members %v, catalog %v; want one", self["Config"]["NodeID"], m.Tags["id"], id)
	}
	sm := self["Member"]
	tags, _ := sm["Tags"].(map[string]any)
	if sm["Name"] != m.Name || sm["Addr"] != m.Addr || sm["Port"] != float64(m.Port) || sm["Status"] != float64(m.Status) ||
		tags["role"] != m.Tags["role"] || tags["id"] != m.Tags["id"] || len(tags) != len(m.Tags) {
		t.Errorf("self Member = %v, want the members entry %+v", sm, m)
	}

	coord, ok := self["Coord"]
	vec, _ := coord["Vec"].([]any)
	if !ok || len(vec) != 8 || coord["Error"] != 1.5 || coord["Adjustment"] != 0.0 || coord["Height"] != 1e-5 {
		t.Errorf("Coord = %v, want Consul's initial coordinate", coord)
	}

	addr := node.Node.Address
	for _, k := range []string{"lan", "lan_ipv4", "wan", "wan_ipv4"} {
		if node.Node.TaggedAddresses[k] != addr {
			t.Errorf("node TaggedAddresses = %v, want %s = %s", node.Node.TaggedAddresses, k, addr)
		}
	}
	if v, ok := node.Node.Meta["consul-network-segment"]; !ok || v != "" {
		t.Errorf("node Meta = %v, want consul-network-segment \"\"", node.Node.Meta)
	}
	if v, ok := self["Meta"]["consul-network-segment"]; !ok || v != "" {
		t.Errorf("self Meta = %v, want consul-network-segment \"\"", self["Meta"])
	}
	nodes, _, err := c.Catalog().Nodes(nil)
	if err != nil || len(nodes) != 1 || nodes[0].TaggedAddresses["lan_ipv4"] != addr || nodes[0].ID != id {
		t.Errorf("catalog nodes = %+v, %v", nodes, err)
	}
}

// TestAgentServiceTaggedAddresses: a service registered through the agent
// with an IP address gets lan_ipv4/wan_ipv4 tagged addresses of its
// address and port, in the agent and in the catalog; one that names its
// own WAN address keeps it.
func TestAgentServiceTaggedAddresses(t *testing.T) {
	t.Parallel()
	_, c := startAgent(t)
	ag := c.Agent()
	regs := []*consulapi.AgentServiceRegistration{
		{ID: "db1", Name: "db", Address: "10.5.0.7", Port: 5432},
		{ID: "edge1", Name: "edge", Address: "10.5.0.8", Port: 443,
			TaggedAddresses: map[string]consulapi.ServiceAddress{"wan_ipv4": {Address: "203.0.113.4", Port: 8443}}},
		{ID: "plain1", Name: "plain", Port: 80},
	}
	for _, r := range regs {
		if err := ag.ServiceRegister(r); err != nil {
			t.Fatalf("register %s: %v", r.ID, err)
		}
	}
	want := map[string]map[string]consulapi.ServiceAddress{
		"db":    {"lan_ipv4": {Address: "10.5.0.7", Port: 5432}, "wan_ipv4": {Address: "10.5.0.7", Port: 5432}},
		"edge":  {"lan_ipv4": {Address: "10.5.0.8", Port: 443}, "wan_ipv4": {Address: "203.0.113.4", Port: 8443}},
		"plain": {},
	}
	same := func(got, want map[string]consulapi.ServiceAddress) bool {
		if len(got) != len(want) {
			return false
		}
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	}
	for name, w := range want {
		waitFor(t, 5*time.Second, name+" in the catalog with its tagged addresses", func() error {
			cs, _, err := c.Catalog().Service(name, "", nil)
			if err != nil {
				return err
			}
			if len(cs) != 1 || !same(cs[0].ServiceTaggedAddresses, w) {
				return fmt.Errorf("instances %+v", cs)
			}
			return nil
		})
		svc, _, err := ag.Service(name+"1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !same(svc.TaggedAddresses, w) {
			t.Errorf("agent's %s TaggedAddresses = %v, want %v", name, svc.TaggedAddresses, w)
		}
	}
}
