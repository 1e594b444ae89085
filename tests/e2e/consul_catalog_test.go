package e2e

import (
	"slices"
	"sort"
	"strings"
	"testing"

	consulapi "github.com/hashicorp/consul/api"
)

// register puts a node with one service and its checks into the catalog
// through the official client.
func register(t *testing.T, c *consulapi.Client, reg *consulapi.CatalogRegistration) {
	t.Helper()
	if _, err := c.Catalog().Register(reg, nil); err != nil {
		t.Fatalf("register %s/%v: %v", reg.Node, reg.Service, err)
	}
}

// webInstance is a registration of service "web" on node with one service
// check in the given status.
func webInstance(node, addr, id string, tags []string, meta map[string]string, status string) *consulapi.CatalogRegistration {
	return &consulapi.CatalogRegistration{
		Node:     node,
		Address:  addr,
		NodeMeta: map[string]string{"rack": "r-" + node},
		Service: &consulapi.AgentService{
			ID: id, Service: "web", Tags: tags, Port: 8080, Meta: meta,
		},
		Checks: consulapi.HealthChecks{{
			Node: node, CheckID: "check-" + id, Name: "web check", Status: status, ServiceID: id,
		}},
	}
}

func nodeNames(ns []*consulapi.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Node)
	}
	sort.Strings(out)
	return out
}

func entryNodes(es []*consulapi.ServiceEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Node.Node)
	}
	sort.Strings(out)
	return out
}

// checkIDs lists node/checkID, leaving out the dev agent's own checks
// (TestDevAgentNodeStaysHealthy covers those).
func checkIDs(cs consulapi.HealthChecks) []string {
	var out []string
	for _, c := range cs {
		if c.Node != devNode {
			out = append(out, c.Node+"/"+c.CheckID)
		}
	}
	sort.Strings(out)
	return out
}

func TestConsulAPICatalogAndHealth(t *testing.T) {
	t.Parallel()
	_, c := startAgent(t)
	cat, health := c.Catalog(), c.Health()

	register(t, c, webInstance("n1", "10.0.0.1", "web-1", []string{"rails", "v1"}, map[string]string{"version": "1"}, consulapi.HealthPassing))
	register(t, c, webInstance("n2", "10.0.0.2", "web-2", []string{"v2"}, map[string]string{"version": "2"}, consulapi.HealthPassing))
	register(t, c, webInstance("n3", "10.0.0.3", "web-3", []string{"rails"}, map[string]string{"version": "1"}, consulapi.HealthCritical))
	register(t, c, &consulapi.CatalogRegistration{
		Node: "n1", Address: "10.0.0.1", NodeMeta: map[string]string{"rack": "r-n1"},
		Service: &consulapi.AgentService{ID: "db", Service: "db", Port: 5432},
	})

	dcs, err := cat.Datacenters()
	if err != nil || !slices.Equal(dcs, []string{"dc1"}) {
		t.Errorf("Datacenters() = %v, %v; want [dc1]", dcs, err)
	}

	nodes, meta, err := cat.Nodes(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := nodeNames(nodes), []string{devNode, "n1", "n2", "n3"}; !slices.Equal(got, want) {
		t.Errorf("Nodes() = %v, want %v", got, want)
	}
	if meta.LastIndex == 0 || !meta.KnownLeader {
		t.Errorf("Nodes() meta = %+v, want an index and a known leader", meta)
	}
	nodes, _, err = cat.Nodes(&consulapi.QueryOptions{NodeMeta: map[string]string{"rack": "r-n2"}})
	if err != nil || !slices.Equal(nodeNames(nodes), []string{"n2"}) {
		t.Errorf("Nodes(node-meta rack:r-n2) = %v, %v; want [n2]", nodeNames(nodes), err)
	}
	nodes, _, err = cat.Nodes(&consulapi.QueryOptions{Filter: `Address == "10.0.0.3" or Node == "n1"`})
	if err != nil || !slices.Equal(nodeNames(nodes), []string{"n1", "n3"}) {
		t.Errorf("Nodes(filter) = %v, %v; want [n1 n3]", nodeNames(nodes), err)
	}

	svcs, _, err := cat.Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	if tags := svcs["web"]; !slices.Equal(tags, []string{"rails", "v1", "v2"}) {
		t.Errorf("Services()[web] = %v, want [rails v1 v2]", tags)
	}
	if _, ok := svcs["db"]; !ok {
		t.Errorf("Services() = %v, want db listed", svcs)
	}
	svcs, _, err = cat.Services(&consulapi.QueryOptions{Filter: `ServiceTags contains "v2"`})
	if err != nil || len(svcs) != 1 || !slices.Equal(svcs["web"], []string{"v2"}) {
		t.Errorf("Services(filter v2) = %v, %v; want map[web:[v2]]", svcs, err)
	}

	rows, _, err := cat.Service("web", "rails", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.ServiceID)
		if r.ServicePort != 8080 || r.Datacenter != "dc1" || r.Address == "" {
			t.Errorf("Service(web) row = %+v", r)
		}
	}
	sort.Strings(ids)
	if !slices.Equal(ids, []string{"web-1", "web-3"}) {
		t.Errorf("Service(web, tag rails) = %v, want [web-1 web-3]", ids)
	}
	rows, _, err = cat.Service("web", "", &consulapi.QueryOptions{Filter: `ServiceMeta.version == "2"`})
	if err != nil || len(rows) != 1 || rows[0].ServiceID != "web-2" {
		t.Errorf("Service(web, filter version 2) = %d rows, %v; want web-2", len(rows), err)
	}
	rows, _, err = cat.Service("nope", "", nil)
	if err != nil || len(rows) != 0 {
		t.Errorf("Service(nope) = %v, %v; want none", rows, err)
	}

	node, _, err := cat.Node("n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if node == nil || node.Node.Address != "10.0.0.1" || node.Node.Meta["rack"] != "r-n1" || len(node.Services) != 2 ||
		node.Services["web-1"] == nil || node.Services["db"] == nil {
		t.Errorf("Node(n1) = %+v", node)
	}
	if node, _, err := cat.Node("nope", nil); err != nil || node != nil {
		t.Errorf("Node(nope) = %+v, %v; want nil", node, err)
	}
	list, _, err := cat.NodeServiceList("n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if list.Node == nil || list.Node.Node != "n1" || len(list.Services) != 2 {
		t.Errorf("NodeServiceList(n1) = %+v", list)
	}

	// Health.
	checks, _, err := health.Node("n3", nil)
	if err != nil || !slices.Equal(checkIDs(checks), []string{"n3/check-web-3"}) || checks[0].Status != consulapi.HealthCritical {
		t.Errorf("Health().Node(n3) = %v, %v", checkIDs(checks), err)
	}
	checks, _, err = health.Checks("web", nil)
	if err != nil || !slices.Equal(checkIDs(checks), []string{"n1/check-web-1", "n2/check-web-2", "n3/check-web-3"}) {
		t.Errorf("Health().Checks(web) = %v, %v", checkIDs(checks), err)
	}
	entries, _, err := health.Service("web", "", false, nil)
	if err != nil || !slices.Equal(entryNodes(entries), []string{"n1", "n2", "n3"}) {
		t.Errorf("Health().Service(web) = %v, %v", entryNodes(entries), err)
	}
	entries, _, err = health.Service("web", "", true, nil)
	if err != nil || !slices.Equal(entryNodes(entries), []string{"n1", "n2"}) {
		t.Errorf("Health().Service(web, passing) = %v, %v; want [n1 n2]", entryNodes(entries), err)
	}
	entries, _, err = health.Service("web", "rails", true, nil)
	if err != nil || !slices.Equal(entryNodes(entries), []string{"n1"}) {
		t.Errorf("Health().Service(web, rails, passing) = %v, %v; want [n1]", entryNodes(entries), err)
	}
	entries, _, err = health.Service("web", "", false, &consulapi.QueryOptions{Filter: `Service.Meta.version == "1"`})
	if err != nil || !slices.Equal(entryNodes(entries), []string{"n1", "n3"}) {
		t.Errorf("Health().Service(web, filter version 1) = %v, %v; want [n1 n3]", entryNodes(entries), err)
	}
	for _, e := range entries {
		if e.Checks.AggregatedStatus() == "" || len(e.Checks) == 0 {
			t.Errorf("entry %s has no checks: %+v", e.Node.Node, e.Checks)
		}
	}
	checks, _, err = health.State(consulapi.HealthAny, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := checkIDs(checks); !slices.Contains(got, "n1/check-web-1") || !slices.Contains(got, "n3/check-web-3") {
		t.Errorf("Health().State(any) = %v", got)
	}
	checks, _, err = health.State(consulapi.HealthCritical, nil)
	if err != nil || !slices.Equal(checkIDs(checks), []string{"n3/check-web-3"}) {
		t.Errorf("Health().State(critical) = %v, %v; want [n3/check-web-3]", checkIDs(checks), err)
	}

	// Deregistration: a service, then a whole node.
	if _, err := cat.Deregister(&consulapi.CatalogDeregistration{Node: "n1", ServiceID: "db"}, nil); err != nil {
		t.Fatal(err)
	}
	if rows, _, err := cat.Service("db", "", nil); err != nil || len(rows) != 0 {
		t.Errorf("db after deregistration: %d rows, %v", len(rows), err)
	}
	if _, err := cat.Deregister(&consulapi.CatalogDeregistration{Node: "n3"}, nil); err != nil {
		t.Fatal(err)
	}
	nodes, _, err = cat.Nodes(nil)
	if err != nil || !slices.Equal(nodeNames(nodes), []string{devNode, "n1", "n2"}) {
		t.Errorf("Nodes() after deregistering n3 = %v, %v", nodeNames(nodes), err)
	}
	checks, _, err = health.State(consulapi.HealthCritical, nil)
	if err != nil || len(checkIDs(checks)) != 0 {
		t.Errorf("critical checks after deregistering n3 = %v, %v; want none (they go with the node)", checkIDs(checks), err)
	}
}

// TestRegisterSkipNodeUpdate checks SkipNodeUpdate through the real
// catalog: a registration of an existing node without its address adds the
// service and leaves the node as it was; for a node that does not exist it
// is refused with a 400 that says why.
func TestRegisterSkipNodeUpdate(t *testing.T) {
	t.Parallel()
	_, c := startAgent(t)
	register(t, c, &consulapi.CatalogRegistration{Node: "skip-node", Address: "10.1.2.3", NodeMeta: map[string]string{"k": "v"}})
	register(t, c, &consulapi.CatalogRegistration{Node: "skip-node", SkipNodeUpdate: true,
		Service: &consulapi.AgentService{ID: "skip-1", Service: "skip", Port: 1}})
	node, _, err := c.Catalog().Node("skip-node", nil)
	if err != nil {
		t.Fatal(err)
	}
	if node == nil || node.Node.Address != "10.1.2.3" || node.Node.Meta["k"] != "v" || node.Services["skip-1"] == nil {
		t.Fatalf("after a SkipNodeUpdate registration: %+v", node)
	}
	_, err = c.Catalog().Register(&consulapi.CatalogRegistration{Node: "no-such-node", SkipNodeUpdate: true,
		Service: &consulapi.AgentService{ID: "skip-2", Service: "skip", Port: 1}}, nil)
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "address is required") {
		t.Errorf("SkipNodeUpdate registration of an unknown node: %v, want a 400 naming the address", err)
	}
}
