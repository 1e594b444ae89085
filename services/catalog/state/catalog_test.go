package state

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/go-memdb"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
)

func hc(nodeName, id, serviceID, serviceName string, tags []string, status catalogv1.HealthStatus, create, modify uint64) *catalogv1.HealthCheck {
	return &catalogv1.HealthCheck{
		Node: nodeName, CheckId: id, Name: id, ServiceId: serviceID, ServiceName: serviceName,
		ServiceTags: tags, Status: status, CreateIndex: create, ModifyIndex: modify,
	}
}

func stamped[T interface {
	*catalogv1.Node | *catalogv1.Service
}](m T, create, modify uint64) T {
	switch v := any(m).(type) {
	case *catalogv1.Node:
		v.CreateIndex, v.ModifyIndex = create, modify
	case *catalogv1.Service:
		v.CreateIndex, v.ModifyIndex = create, modify
	}
	return m
}

func TestRegisterStampsIndexes(t *testing.T) {
	s := fixture(t)
	idx, n, svcs, err := s.NodeServices(nil, "N2")
	if err != nil {
		t.Fatal(err)
	}
	if idx != 4 {
		t.Errorf("index = %d, want 4 (nodes table)", idx)
	}
	if d := diff(stamped(node("n2", "10.0.0.2", map[string]string{"rack": "b"}), 2, 2), n); d != "" {
		t.Errorf("node (-want +got):\n%s", d)
	}
	want := []*catalogv1.Service{stamped(svc("db1", "db", 5432), 3, 3), stamped(svc("web2", "web", 80, "v2"), 2, 2)}
	if d := diff(want, svcs); d != "" {
		t.Errorf("services (-want +got):\n%s", d)
	}
	_, checks, err := s.NodeChecks(nil, "n2")
	if err != nil {
		t.Fatal(err)
	}
	wantChecks := []*catalogv1.HealthCheck{
		hc("n2", "db1-tcp", "db1", "db", nil, passing, 3, 3),
		hc("n2", "serfHealth", "", "", nil, passing, 2, 2),
		hc("n2", "web2-http", "web2", "web", []string{"v2"}, critical, 2, 2),
	}
	if d := diff(wantChecks, checks); d != "" {
		t.Errorf("checks (-want +got):\n%s", d)
	}
	for table, want := range map[string]uint64{tableNodes: 4, tableServices: 3, tableChecks: 3, "service.web": 2, "service.db": 3} {
		tx := s.db.Txn(false)
		if got := indexOf(tx, table); got != want {
			t.Errorf("index of %s = %d, want %d", table, got, want)
		}
		tx.Abort()
	}
}

func TestRegisterDefaults(t *testing.T) {
	s := New()
	mustRegister(t, s, 7, &catalogv1.RegisterRequest{
		Node:    node("n1", "10.0.0.1", nil),
		Service: &catalogv1.Service{Service: "redis", Tags: []string{"cache"}},
		Checks: []*catalogv1.HealthCheck{
			{CheckId: "redis-tcp", ServiceId: "REDIS"},
			{Node: "N1", CheckId: "mem", Status: warning},
		},
	})
	_, _, svcs, err := s.NodeServices(nil, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 1 || svcs[0].GetId() != "redis" {
		t.Fatalf("services = %v, want one with ID redis", svcs)
	}
	_, checks, err := s.NodeChecks(nil, "n1")
	if err != nil {
		t.Fatal(err)
	}
	want := []*catalogv1.HealthCheck{
		{Node: "N1", CheckId: "mem", Status: warning, CreateIndex: 7, ModifyIndex: 7},
		{Node: "n1", CheckId: "redis-tcp", ServiceId: "redis", ServiceName: "redis", ServiceTags: []string{"cache"},
			Status: critical, CreateIndex: 7, ModifyIndex: 7},
	}
	if d := diff(want, checks); d != "" {
		t.Errorf("checks (-want +got):\n%s", d)
	}
}

func TestRegisterErrorsWriteNothing(t *testing.T) {
	tests := []struct {
		name string
		req  *catalogv1.RegisterRequest
		want error
	}{
		{"nil request", nil, ErrInvalidRequest},
		{"no node", &catalogv1.RegisterRequest{Service: svc("x", "x", 1)}, ErrMissingNode},
		{"service without name", &catalogv1.RegisterRequest{
			Node: node("n9", "10.0.0.9", nil), Service: &catalogv1.Service{Id: "x"},
		}, ErrMissingServiceName},
		{"check without id", &catalogv1.RegisterRequest{
			Node: node("n9", "10.0.0.9", nil), Service: svc("x", "x", 1),
			Checks: []*catalogv1.HealthCheck{{Name: "nameless"}},
		}, ErrMissingCheckID},
		{"check on unknown service", &catalogv1.RegisterRequest{
			Node: node("n9", "10.0.0.9", nil), Service: svc("x", "x", 1),
			Checks: []*catalogv1.HealthCheck{check("c", "web1", passing)},
		}, ErrUnknownService},
		{"check on another node", &catalogv1.RegisterRequest{
			Node: node("n9", "10.0.0.9", nil), Service: svc("x", "x", 1),
			Checks: []*catalogv1.HealthCheck{{Node: "n1", CheckId: "c"}},
		}, ErrCheckNodeMismatch},
		{"nil check", &catalogv1.RegisterRequest{
			Node: node("n9", "10.0.0.9", nil), Service: svc("x", "x", 1),
			Checks: []*catalogv1.HealthCheck{check("ok", "", passing), nil},
		}, ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture(t)
			before, sizes := s.MaxIndex(), s.TableSizes()
			err := s.Register(10, tt.req)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Register error = %v, want %v", err, tt.want)
			}
			if got := s.MaxIndex(); got != before {
				t.Errorf("MaxIndex = %d after a failed write, want %d", got, before)
			}
			if d := diff(sizes, s.TableSizes()); d != "" {
				t.Errorf("table sizes changed (-before +after):\n%s", d)
			}
		})
	}
}

// readAll runs every catalog read that concerns n1 and web, adding to ws.
func readAll(t *testing.T, s *Store, ws memdb.WatchSet) {
	t.Helper()
	for _, read := range []func() error{
		func() error { _, _, err := s.Nodes(ws, nil); return err },
		func() error { _, _, err := s.Services(ws, nil, ""); return err },
		func() error { _, _, err := s.ServiceNodes(ws, "web", nil, nil, false); return err },
		func() error { _, _, err := s.ServiceHealth(ws, "web", nil, nil, false, false); return err },
		func() error { _, _, _, err := s.NodeServices(ws, "n1"); return err },
		func() error { _, _, err := s.NodeChecks(ws, "n1"); return err },
		func() error { _, _, err := s.ChecksInState(ws, 0, nil); return err },
		func() error { _, _, _, _, err := s.AllServiceHealth(ws); return err },
	} {
		if err := read(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIdenticalRegistrationChangesNothing(t *testing.T) {
	s := fixture(t)
	ws := memdb.NewWatchSet()
	readAll(t, s, ws)
	before := s.Snapshot()
	// The same registration as the fixture's first, as an agent re-syncs it.
	mustRegister(t, s, 10, &catalogv1.RegisterRequest{
		Node:    node("n1", "10.0.0.1", map[string]string{"rack": "a"}),
		Service: svc("web1", "web", 80, "v1", "primary"),
		Checks: []*catalogv1.HealthCheck{
			check("serfHealth", "", passing),
			check("web1-http", "web1", passing),
		},
	})
	if fired(ws) {
		t.Error("identical registration fired a watch")
	}
	if got := s.MaxIndex(); got != 4 {
		t.Errorf("MaxIndex = %d, want 4", got)
	}
	idx, _, err := s.ServiceHealth(nil, "web", nil, nil, false, false)
	if err != nil || idx != 2 {
		t.Errorf("ServiceHealth index = %d, %v; want 2", idx, err)
	}
	if before.Index() != s.Snapshot().Index() {
		t.Error("snapshot index moved")
	}
}

func TestRegisterSkipNodeUpdate(t *testing.T) {
	s := fixture(t)
	mustRegister(t, s, 10, &catalogv1.RegisterRequest{
		Node:           node("n1", "192.168.0.1", nil),
		Service:        svc("api1", "api", 9090),
		SkipNodeUpdate: true,
	})
	_, n, svcs, err := s.NodeServices(nil, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if n.GetAddress() != "10.0.0.1" || n.GetModifyIndex() != 1 {
		t.Errorf("node = %v, want it untouched", n)
	}
	if len(svcs) != 2 {
		t.Errorf("services = %v, want api1 added", svcs)
	}
	// A missing node is still created.
	mustRegister(t, s, 11, &catalogv1.RegisterRequest{Node: node("n7", "10.0.0.7", nil), SkipNodeUpdate: true})
	if _, n, _, _ := s.NodeServices(nil, "n7"); n == nil {
		t.Error("skip_node_update did not create a missing node")
	}
}

func TestRegisterServiceUpdatesItsChecks(t *testing.T) {
	s := fixture(t)
	mustRegister(t, s, 10, &catalogv1.RegisterRequest{
		Node:    node("n1", "10.0.0.1", map[string]string{"rack": "a"}),
		Service: svc("web1", "web", 80, "v3"),
	})
	_, checks, err := s.NodeChecks(nil, "n1")
	if err != nil {
		t.Fatal(err)
	}
	want := []*catalogv1.HealthCheck{
		hc("n1", "serfHealth", "", "", nil, passing, 1, 1),
		hc("n1", "web1-http", "web1", "web", []string{"v3"}, passing, 1, 10),
	}
	if d := diff(want, checks); d != "" {
		t.Errorf("checks (-want +got):\n%s", d)
	}
}

func TestNodeChangeMovesIndexOfItsServicesOnly(t *testing.T) {
	s := fixture(t)
	mustRegister(t, s, 10, &catalogv1.RegisterRequest{Node: node("n1", "10.1.1.1", map[string]string{"rack": "a"})})
	if idx, _, _ := s.ServiceNodes(nil, "web", nil, nil, false); idx != 10 {
		t.Errorf("web index = %d, want 10", idx)
	}
	if idx, _, _ := s.ServiceNodes(nil, "db", nil, nil, false); idx != 3 {
		t.Errorf("db index = %d, want 3", idx)
	}
}

func TestNodes(t *testing.T) {
	s := fixture(t)
	tests := []struct {
		meta map[string]string
		want []string
	}{
		{nil, []string{"n1", "n2", "n3"}},
		{map[string]string{"rack": "a"}, []string{"n1", "n3"}},
		{map[string]string{"rack": "a", "zone": "x"}, nil},
		{map[string]string{"rack": "c"}, nil},
	}
	for _, tt := range tests {
		idx, nodes, err := s.Nodes(nil, tt.meta)
		if err != nil {
			t.Fatal(err)
		}
		if idx != 4 {
			t.Errorf("Nodes(%v) index = %d, want 4", tt.meta, idx)
		}
		var got []string
		for _, n := range nodes {
			got = append(got, n.GetNode())
		}
		if d := diff(tt.want, got); d != "" {
			t.Errorf("Nodes(%v) (-want +got):\n%s", tt.meta, d)
		}
	}
}

func TestServices(t *testing.T) {
	s := fixture(t)
	db := &catalogv1.ServiceSummary{Name: "db"}
	tests := []struct {
		name    string
		meta    map[string]string
		node    string
		want    []*catalogv1.ServiceSummary
		wantIdx uint64
	}{
		{"all", nil, "", []*catalogv1.ServiceSummary{db, {Name: "web", Tags: []string{"primary", "v1", "v2"}}}, 3},
		{"node", nil, "N1", []*catalogv1.ServiceSummary{{Name: "web", Tags: []string{"primary", "v1"}}}, 4},
		{"meta", map[string]string{"rack": "b"}, "", []*catalogv1.ServiceSummary{db, {Name: "web", Tags: []string{"v2"}}}, 4},
		{"node and meta mismatch", map[string]string{"rack": "b"}, "n1", []*catalogv1.ServiceSummary{}, 4},
		{"unknown node", nil, "n9", []*catalogv1.ServiceSummary{}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, got, err := s.Services(nil, tt.meta, tt.node)
			if err != nil {
				t.Fatal(err)
			}
			if idx != tt.wantIdx {
				t.Errorf("index = %d, want %d", idx, tt.wantIdx)
			}
			if d := diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func instanceIDs(insts []*catalogv1.ServiceInstance) []string {
	var out []string
	for _, in := range insts {
		out = append(out, in.GetNode().GetNode()+"/"+in.GetService().GetId())
	}
	return out
}

func TestServiceNodes(t *testing.T) {
	s := fixture(t)
	// A sidecar for web1, a Connect-native api and a proxy for api.
	mustRegister(t, s, 10, &catalogv1.RegisterRequest{
		Node: node("n1", "10.0.0.1", map[string]string{"rack": "a"}),
		Service: &catalogv1.Service{Id: "web1-sidecar", Service: "web-sidecar-proxy", Port: 21000,
			Kind:  catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY,
			Proxy: &catalogv1.ConnectProxyConfig{DestinationServiceName: "web", DestinationServiceId: "web1"}},
	})
	mustRegister(t, s, 11, &catalogv1.RegisterRequest{
		Node:    node("n3", "10.0.0.3", map[string]string{"rack": "a"}),
		Service: &catalogv1.Service{Id: "api1", Service: "api", Connect: &catalogv1.ServiceConnect{Native: true}},
	})
	tests := []struct {
		name    string
		service string
		tags    []string
		meta    map[string]string
		connect bool
		want    []string
		wantIdx uint64
	}{
		{"all", "web", nil, nil, false, []string{"n1/web1", "n2/web2"}, 2},
		{"case-insensitive name", "WEB", nil, nil, false, []string{"n1/web1", "n2/web2"}, 2},
		{"tag", "web", []string{"V1"}, nil, false, []string{"n1/web1"}, 2},
		{"every tag", "web", []string{"v1", "v2"}, nil, false, nil, 2},
		{"meta", "web", nil, map[string]string{"rack": "b"}, false, []string{"n2/web2"}, 2},
		{"unknown", "nope", nil, nil, false, nil, 11},
		{"connect proxy", "web", nil, nil, true, []string{"n1/web1-sidecar"}, 10},
		{"connect native", "api", nil, nil, true, []string{"n3/api1"}, 11},
		{"connect none", "db", nil, nil, true, nil, 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, got, err := s.ServiceNodes(nil, tt.service, tt.tags, tt.meta, tt.connect)
			if err != nil {
				t.Fatal(err)
			}
			if idx != tt.wantIdx {
				t.Errorf("index = %d, want %d", idx, tt.wantIdx)
			}
			if d := diff(tt.want, instanceIDs(got)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestNodeServicesUnknown(t *testing.T) {
	s := fixture(t)
	idx, n, svcs, err := s.NodeServices(nil, "n9")
	if err != nil || n != nil || svcs != nil || idx != 4 {
		t.Errorf("NodeServices(n9) = %d, %v, %v, %v; want 4, nil, nil, nil", idx, n, svcs, err)
	}
}

func checkIDs(checks []*catalogv1.HealthCheck) []string {
	var out []string
	for _, c := range checks {
		out = append(out, c.GetNode()+"/"+c.GetCheckId())
	}
	return out
}

func TestCheckReads(t *testing.T) {
	s := fixture(t)
	rackA := map[string]string{"rack": "a"}
	tests := []struct {
		name    string
		read    func() (uint64, []*catalogv1.HealthCheck, error)
		want    []string
		wantIdx uint64
	}{
		{"node", func() (uint64, []*catalogv1.HealthCheck, error) { return s.NodeChecks(nil, "n2") },
			[]string{"n2/db1-tcp", "n2/serfHealth", "n2/web2-http"}, 3},
		{"service", func() (uint64, []*catalogv1.HealthCheck, error) { return s.ServiceChecks(nil, "web", nil) },
			[]string{"n1/web1-http", "n2/web2-http"}, 3},
		{"service meta", func() (uint64, []*catalogv1.HealthCheck, error) { return s.ServiceChecks(nil, "web", rackA) },
			[]string{"n1/web1-http"}, 4},
		{"critical", func() (uint64, []*catalogv1.HealthCheck, error) { return s.ChecksInState(nil, critical, nil) },
			[]string{"n2/web2-http"}, 3},
		{"passing", func() (uint64, []*catalogv1.HealthCheck, error) { return s.ChecksInState(nil, passing, nil) },
			[]string{"n1/serfHealth", "n1/web1-http", "n2/db1-tcp", "n2/serfHealth"}, 3},
		{"warning", func() (uint64, []*catalogv1.HealthCheck, error) { return s.ChecksInState(nil, warning, nil) },
			nil, 3},
		{"any", func() (uint64, []*catalogv1.HealthCheck, error) {
			return s.ChecksInState(nil, catalogv1.HealthStatus_HEALTH_STATUS_UNSPECIFIED, nil)
		}, []string{"n1/serfHealth", "n1/web1-http", "n2/db1-tcp", "n2/serfHealth", "n2/web2-http"}, 3},
		{"passing meta", func() (uint64, []*catalogv1.HealthCheck, error) { return s.ChecksInState(nil, passing, rackA) },
			[]string{"n1/serfHealth", "n1/web1-http"}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, got, err := tt.read()
			if err != nil {
				t.Fatal(err)
			}
			if idx != tt.wantIdx {
				t.Errorf("index = %d, want %d", idx, tt.wantIdx)
			}
			if d := diff(tt.want, checkIDs(got)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestServiceHealth(t *testing.T) {
	s := fixture(t)
	idx, got, err := s.ServiceHealth(nil, "web", nil, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if idx != 2 {
		t.Errorf("index = %d, want 2", idx)
	}
	want := []*catalogv1.ServiceHealth{
		{
			Node:    stamped(node("n1", "10.0.0.1", map[string]string{"rack": "a"}), 1, 1),
			Service: stamped(svc("web1", "web", 80, "v1", "primary"), 1, 1),
			Checks: []*catalogv1.HealthCheck{
				hc("n1", "serfHealth", "", "", nil, passing, 1, 1),
				hc("n1", "web1-http", "web1", "web", []string{"v1", "primary"}, passing, 1, 1),
			},
		},
		{
			Node:    stamped(node("n2", "10.0.0.2", map[string]string{"rack": "b"}), 2, 2),
			Service: stamped(svc("web2", "web", 80, "v2"), 2, 2),
			Checks: []*catalogv1.HealthCheck{
				hc("n2", "serfHealth", "", "", nil, passing, 2, 2),
				hc("n2", "web2-http", "web2", "web", []string{"v2"}, critical, 2, 2),
			},
		},
	}
	if d := diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	_, got, err = s.ServiceHealth(nil, "web", nil, nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(want[:1], got); d != "" {
		t.Errorf("passing only (-want +got):\n%s", d)
	}
	// A warning node check drops every instance of the node from ?passing.
	mustRegister(t, s, 10, &catalogv1.RegisterRequest{
		Node:   node("n1", "10.0.0.1", map[string]string{"rack": "a"}),
		Checks: []*catalogv1.HealthCheck{check("serfHealth", "", warning)},
	})
	idx, got, err = s.ServiceHealth(nil, "web", nil, nil, true, false)
	if err != nil || len(got) != 0 || idx != 10 {
		t.Errorf("passing only after warning = %d, %v, %v; want 10, none", idx, got, err)
	}
}

func TestServiceHealthConnect(t *testing.T) {
	s := fixture(t)
	mustRegister(t, s, 10, &catalogv1.RegisterRequest{
		Node: node("n1", "10.0.0.1", map[string]string{"rack": "a"}),
		Service: &catalogv1.Service{Id: "web1-sidecar", Service: "web-sidecar-proxy",
			Kind:  catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY,
			Proxy: &catalogv1.ConnectProxyConfig{DestinationServiceName: "web"}},
		Checks: []*catalogv1.HealthCheck{check("sidecar-tcp", "web1-sidecar", passing)},
	})
	idx, got, err := s.ServiceHealth(nil, "web", nil, nil, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if idx != 10 || len(got) != 1 {
		t.Fatalf("ServiceHealth(web, connect) = %d, %v; want index 10, one entry", idx, got)
	}
	if d := diff([]string{"n1/serfHealth", "n1/sidecar-tcp"}, checkIDs(got[0].GetChecks())); d != "" {
		t.Errorf("checks (-want +got):\n%s", d)
	}
}

func TestAllServiceHealth(t *testing.T) {
	s := fixture(t)
	idx, nodes, nodeChecks, insts, err := s.AllServiceHealth(nil)
	if err != nil {
		t.Fatal(err)
	}
	if idx != 4 || len(nodes) != 3 {
		t.Errorf("index = %d, nodes = %d; want 4, 3", idx, len(nodes))
	}
	if d := diff([]string{"n1/serfHealth", "n2/serfHealth"}, checkIDs(nodeChecks)); d != "" {
		t.Errorf("node checks (-want +got):\n%s", d)
	}
	var got []string
	for _, in := range insts {
		got = append(got, in.GetService().GetId())
		got = append(got, checkIDs(in.GetChecks())...)
		if in.GetNode() == nil {
			t.Errorf("instance %s without node", in.GetService().GetId())
		}
	}
	want := []string{
		"db1", "n2/serfHealth", "n2/db1-tcp",
		"web1", "n1/serfHealth", "n1/web1-http",
		"web2", "n2/serfHealth", "n2/web2-http",
	}
	if d := diff(want, got); d != "" {
		t.Errorf("instances (-want +got):\n%s", d)
	}
}

func TestDeregister(t *testing.T) {
	tests := []struct {
		name       string
		req        *catalogv1.DeregisterRequest
		wantChecks []string // every check left
		wantSvcs   []string // every instance left, by service name
		wantWebIdx uint64
		wantDBIdx  uint64
	}{
		{"check", &catalogv1.DeregisterRequest{Node: "n2", CheckId: "WEB2-http"},
			[]string{"n1/serfHealth", "n1/web1-http", "n2/db1-tcp", "n2/serfHealth"},
			[]string{"n2/db1", "n1/web1", "n2/web2"}, 10, 3},
		{"service", &catalogv1.DeregisterRequest{Node: "n2", ServiceId: "web2"},
			[]string{"n1/serfHealth", "n1/web1-http", "n2/db1-tcp", "n2/serfHealth"},
			[]string{"n2/db1", "n1/web1"}, 10, 3},
		{"node", &catalogv1.DeregisterRequest{Node: "N2"},
			[]string{"n1/serfHealth", "n1/web1-http"},
			[]string{"n1/web1"}, 10, 10},
		{"missing check", &catalogv1.DeregisterRequest{Node: "n2", CheckId: "nope"},
			[]string{"n1/serfHealth", "n1/web1-http", "n2/db1-tcp", "n2/serfHealth", "n2/web2-http"},
			[]string{"n2/db1", "n1/web1", "n2/web2"}, 2, 3},
		{"missing service", &catalogv1.DeregisterRequest{Node: "n3", ServiceId: "nope"},
			[]string{"n1/serfHealth", "n1/web1-http", "n2/db1-tcp", "n2/serfHealth", "n2/web2-http"},
			[]string{"n2/db1", "n1/web1", "n2/web2"}, 2, 3},
		{"missing node", &catalogv1.DeregisterRequest{Node: "n9"},
			[]string{"n1/serfHealth", "n1/web1-http", "n2/db1-tcp", "n2/serfHealth", "n2/web2-http"},
			[]string{"n2/db1", "n1/web1", "n2/web2"}, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture(t)
			if err := s.Deregister(10, tt.req); err != nil {
				t.Fatal(err)
			}
			_, checks, _ := s.ChecksInState(nil, 0, nil)
			if d := diff(tt.wantChecks, checkIDs(checks)); d != "" {
				t.Errorf("checks (-want +got):\n%s", d)
			}
			_, _, _, insts, _ := s.AllServiceHealth(nil)
			var svcs []string
			for _, in := range insts {
				svcs = append(svcs, in.GetNode().GetNode()+"/"+in.GetService().GetId())
			}
			if d := diff(tt.wantSvcs, svcs); d != "" {
				t.Errorf("services (-want +got):\n%s", d)
			}
			if idx, _, _ := s.ServiceHealth(nil, "web", nil, nil, false, false); idx != tt.wantWebIdx {
				t.Errorf("web index = %d, want %d", idx, tt.wantWebIdx)
			}
			if idx, _, _ := s.ServiceHealth(nil, "db", nil, nil, false, false); idx != tt.wantDBIdx {
				t.Errorf("db index = %d, want %d", idx, tt.wantDBIdx)
			}
		})
	}
}

func TestDeregisterErrors(t *testing.T) {
	s := fixture(t)
	if err := s.Deregister(10, nil); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("nil request: %v, want ErrInvalidRequest", err)
	}
	if err := s.Deregister(10, &catalogv1.DeregisterRequest{ServiceId: "web1"}); !errors.Is(err, ErrMissingNode) {
		t.Errorf("no node: %v, want ErrMissingNode", err)
	}
}

func TestReadsNeverReturnIndexZero(t *testing.T) {
	s := New()
	idxs := map[string]func() (uint64, error){
		"Nodes":         func() (uint64, error) { i, _, err := s.Nodes(nil, nil); return i, err },
		"Services":      func() (uint64, error) { i, _, err := s.Services(nil, nil, ""); return i, err },
		"ServiceNodes":  func() (uint64, error) { i, _, err := s.ServiceNodes(nil, "x", nil, nil, false); return i, err },
		"NodeServices":  func() (uint64, error) { i, _, _, err := s.NodeServices(nil, "x"); return i, err },
		"NodeChecks":    func() (uint64, error) { i, _, err := s.NodeChecks(nil, "x"); return i, err },
		"ServiceChecks": func() (uint64, error) { i, _, err := s.ServiceChecks(nil, "x", nil); return i, err },
		"ChecksInState": func() (uint64, error) { i, _, err := s.ChecksInState(nil, 0, nil); return i, err },
		"ServiceHealth": func() (uint64, error) {
			i, _, err := s.ServiceHealth(nil, "x", nil, nil, false, true)
			return i, err
		},
		"AllServiceHealth": func() (uint64, error) { i, _, _, _, err := s.AllServiceHealth(nil); return i, err },
		"KVGet":            func() (uint64, error) { i, _, err := s.KVGet(nil, "x"); return i, err },
		"KVList":           func() (uint64, error) { i, _, err := s.KVList(nil, ""); return i, err },
		"KVKeys":           func() (uint64, error) { i, _, err := s.KVKeys(nil, "", "/"); return i, err },
		"SessionGet":       func() (uint64, error) { i, _, err := s.SessionGet(nil, "x"); return i, err },
		"SessionList":      func() (uint64, error) { i, _, err := s.SessionList(nil); return i, err },
		"NodeSessions":     func() (uint64, error) { i, _, err := s.NodeSessions(nil, "x"); return i, err },
		"TxnRead":          func() (uint64, error) { i, _, _ := s.TxnRead(nil, nil); return i, nil },
		"MaxIndex":         func() (uint64, error) { return s.MaxIndex(), nil },
	}
	for name, read := range idxs {
		if idx, err := read(); err != nil || idx == 0 {
			t.Errorf("%s on an empty store = %d, %v; want index >= 1", name, idx, err)
		}
	}
}

func TestCatalogWatches(t *testing.T) {
	readers := map[string]func(s *Store, ws memdb.WatchSet){
		"health web": func(s *Store, ws memdb.WatchSet) { s.ServiceHealth(ws, "web", nil, nil, false, false) },
		"health db":  func(s *Store, ws memdb.WatchSet) { s.ServiceHealth(ws, "db", nil, nil, true, false) },
		"nodes web":  func(s *Store, ws memdb.WatchSet) { s.ServiceNodes(ws, "web", nil, nil, false) },
		"node n3":    func(s *Store, ws memdb.WatchSet) { s.NodeServices(ws, "n3") },
		"kv":         func(s *Store, ws memdb.WatchSet) { s.KVList(ws, "") },
	}
	n1 := func() *catalogv1.Node { return node("n1", "10.0.0.1", map[string]string{"rack": "a"}) }
	n2 := func() *catalogv1.Node { return node("n2", "10.0.0.2", map[string]string{"rack": "b"}) }
	tests := []struct {
		name  string
		write func(s *Store) error
		// fired lists the watchers that must fire; a "?" suffix marks one
		// that may; all others must not.
		fired []string
	}{
		{"web check", func(s *Store) error {
			return s.Register(10, &catalogv1.RegisterRequest{Node: n2(), Checks: []*catalogv1.HealthCheck{check("web2-http", "web2", passing)}})
		}, []string{"health web"}},
		{"db check", func(s *Store) error {
			return s.Register(10, &catalogv1.RegisterRequest{Node: n2(), Checks: []*catalogv1.HealthCheck{check("db1-tcp", "db1", critical)}})
		}, []string{"health db"}},
		{"node check", func(s *Store) error {
			return s.Register(10, &catalogv1.RegisterRequest{Node: n2(), Checks: []*catalogv1.HealthCheck{check("serfHealth", "", critical)}})
		}, []string{"health web", "health db"}},
		{"node address", func(s *Store) error {
			n := n1()
			n.Address = "10.9.9.9"
			return s.Register(10, &catalogv1.RegisterRequest{Node: n})
		}, []string{"health web", "nodes web"}},
		{"new service elsewhere", func(s *Store) error {
			return s.Register(10, &catalogv1.RegisterRequest{Node: node("n3", "10.0.0.3", map[string]string{"rack": "a"}),
				Service: svc("api1", "api", 80)})
		}, []string{"node n3"}},
		// n3 has no services, so its watch is on the radix node above
		// where they would be, which this delete restructures.
		{"web deregistered", func(s *Store) error {
			return s.Deregister(10, &catalogv1.DeregisterRequest{Node: "n1", ServiceId: "web1"})
		}, []string{"health web", "nodes web", "node n3?"}},
		{"kv", func(s *Store) error { _, err := s.KVPut(10, &kvv1.PutRequest{Key: "k"}); return err },
			[]string{"kv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fixture(t)
			sets := map[string]memdb.WatchSet{}
			for name, read := range readers {
				sets[name] = memdb.NewWatchSet()
				read(s, sets[name])
			}
			if err := tt.write(s); err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for _, name := range tt.fired {
				want[name] = true
			}
			for name, ws := range sets {
				if want[name+"?"] {
					continue
				}
				if got := fired(ws); got != want[name] {
					t.Errorf("%q fired = %v, want %v", name, got, want[name])
				}
			}
		})
	}
}

func TestWatchLimitFallsBackToTable(t *testing.T) {
	s := New()
	for i := range watchLimit + 10 {
		mustRegister(t, s, uint64(i+1), &catalogv1.RegisterRequest{
			Node:    node(fmt.Sprintf("n%05d", i), "10.0.0.1", nil),
			Service: svc("web", "web", 80),
		})
	}
	ws := memdb.NewWatchSet()
	if _, _, err := s.ServiceHealth(ws, "web", nil, nil, false, false); err != nil {
		t.Fatal(err)
	}
	if len(ws) > watchLimit+4 {
		t.Errorf("%d channels in the watch set, want at most about %d", len(ws), watchLimit)
	}
	// A change to a node past the limit still wakes the query.
	mustRegister(t, s, 1<<20, &catalogv1.RegisterRequest{Node: node(fmt.Sprintf("n%05d", watchLimit+5), "10.9.9.9", nil)})
	if !fired(ws) {
		t.Error("a node change past the watch limit did not fire")
	}
}

// ServiceHealthIndex and ServiceNodesIndex give what the full queries
// return, for a service and its mesh endpoints, through changes to an
// instance, its node and its checks, a service that is gone and one that
// never was.
func TestServiceQueryIndexesMatchQueries(t *testing.T) {
	s := fixture(t)
	agree := func(step string) {
		t.Helper()
		for _, name := range []string{"web", "db", "none"} {
			for _, connect := range []bool{false, true} {
				hIdx, _, err := s.ServiceHealth(nil, name, nil, nil, true, connect)
				if err != nil {
					t.Fatal(err)
				}
				nIdx, _, err := s.ServiceNodes(nil, name, nil, nil, connect)
				if err != nil {
					t.Fatal(err)
				}
				if got := s.ServiceHealthIndex(name, connect); got != hIdx {
					t.Errorf("%s: ServiceHealthIndex(%s, connect %v) = %d, ServiceHealth says %d", step, name, connect, got, hIdx)
				}
				if got := s.ServiceNodesIndex(name, connect); got != nIdx {
					t.Errorf("%s: ServiceNodesIndex(%s, connect %v) = %d, ServiceNodes says %d", step, name, connect, got, nIdx)
				}
			}
		}
	}
	agree("fixture")
	mustRegister(t, s, 10, &catalogv1.RegisterRequest{
		Node:   node("n1", "10.0.0.1", map[string]string{"rack": "c"}),
		Checks: []*catalogv1.HealthCheck{check("serfHealth", "", warning)},
	})
	agree("node meta and node check changed")
	mustRegister(t, s, 11, &catalogv1.RegisterRequest{
		Node: node("n2", "10.0.0.2", map[string]string{"rack": "b"}),
		Service: &catalogv1.Service{Id: "web2-sidecar", Service: "web-sidecar-proxy",
			Kind:  catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY,
			Proxy: &catalogv1.ConnectProxyConfig{DestinationServiceName: "web"}},
	})
	agree("a mesh endpoint registered")
	if idx := s.ServiceHealthIndex("web", true); idx != 11 {
		t.Errorf("ServiceHealthIndex(web, connect) after the sidecar = %d, want 11", idx)
	}
}
