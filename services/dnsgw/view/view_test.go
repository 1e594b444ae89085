package view_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/dnsgw/internal/fakecatalog"
	"github.com/beaconmesh/beacon/services/dnsgw/view"
	"github.com/google/go-cmp/cmp"
)

var (
	passing  = catalogv1.HealthStatus_HEALTH_STATUS_PASSING
	warning  = catalogv1.HealthStatus_HEALTH_STATUS_WARNING
	critical = catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL
)

func state() fakecatalog.State {
	return fakecatalog.State{
		Nodes: []*catalogv1.Node{
			fakecatalog.Node("alpha", "10.0.0.1", "rack", "r1", "rfc1035-note", "plain"),
			fakecatalog.Node("Beta", "10.0.0.2"),
			fakecatalog.Node("gamma", "::ffff:10.0.0.3"),
			fakecatalog.Node("idle", "10.0.0.9"),
		},
		NodeChecks: []*catalogv1.HealthCheck{fakecatalog.Serf("gamma", critical)},
		Instances: []fakecatalog.Instance{
			{Node: "alpha", Status: passing, Service: &catalogv1.Service{Id: "web-a", Service: "Web", Tags: []string{"V1"}, Port: 80}},
			{Node: "Beta", Status: warning, Service: &catalogv1.Service{Id: "web-b", Service: "web", Tags: []string{"v2"}, Port: 80, Weights: &catalogv1.Weights{Passing: 5, Warning: 2}}},
			{Node: "gamma", Status: passing, Service: &catalogv1.Service{Id: "web-c", Service: "web", Tags: []string{"v1"}, Port: 80}},
			{Node: "Beta", Service: &catalogv1.Service{Id: "db", Service: "db", Address: "10.9.9.9", Port: 70000}},
			{Node: "alpha", Status: catalogv1.HealthStatus_HEALTH_STATUS_UNSPECIFIED, Service: &catalogv1.Service{Id: "nochecks", Service: "quiet"}},
			{Node: "alpha", Status: passing, Service: &catalogv1.Service{
				Id: "web-proxy", Service: "web-sidecar-proxy", Port: 21000,
				Kind:  catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY,
				Proxy: &catalogv1.ConnectProxyConfig{DestinationServiceName: "web"},
			}},
			{Node: "Beta", Status: passing, Service: &catalogv1.Service{Id: "pay", Service: "pay", Connect: &catalogv1.ServiceConnect{Native: true}}},
		},
	}
}

func ids(insts []*view.Instance) []string {
	var out []string
	for _, i := range insts {
		out = append(out, i.ID)
	}
	slices.Sort(out)
	return out
}

func TestBuild(t *testing.T) {
	resp := fakecatalog.Response(state(), 17)
	// A check with no status at all counts as critical.
	for _, sh := range resp.Instances {
		if sh.Service.Id == "nochecks" {
			sh.Checks = append(sh.Checks, &catalogv1.HealthCheck{Node: "alpha", CheckId: "unset", ServiceId: "nochecks"})
		}
	}
	v := view.Build(resp, time.Unix(100, 0))

	if v.Index() != 17 || v.NodeCount() != 4 || v.InstanceCount() != 7 {
		t.Errorf("index %d nodes %d instances %d, want 17 4 7", v.Index(), v.NodeCount(), v.InstanceCount())
	}
	if n := v.Node("ALPHA"); n == nil || n.Name != "alpha" || !slices.Equal(n.TXT, []string{"plain", "rack=r1"}) {
		t.Errorf("node ALPHA = %+v", n)
	}
	if n := v.Node("gamma"); n == nil || n.IP != netip.MustParseAddr("10.0.0.3") {
		t.Errorf("gamma's v4-mapped address is not unmapped: %+v", n)
	}

	web := v.Service("WEB")
	if web == nil || web.Total != 3 {
		t.Fatalf("service web = %+v", web)
	}
	tests := []struct {
		name        string
		tag         string
		onlyPassing bool
		want        []string
	}{
		{"usable: critical node left out", "", false, []string{"web-a", "web-b"}},
		{"only passing", "", true, []string{"web-a"}},
		{"tag, any case", "v1", false, []string{"web-a"}},
		{"tag v2", "V2", false, []string{"web-b"}},
		{"tag v2 only passing", "v2", true, nil},
		{"unknown tag", "v3", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ids(web.Select(tt.tag, tt.onlyPassing))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	b := web.Select("v2", false)[0]
	if b.Health != view.Warning || b.Weight() != 2 || b.WeightPassing != 5 {
		t.Errorf("web-b health %v weight %d passing weight %d", b.Health, b.Weight(), b.WeightPassing)
	}
	if a := web.Select("v1", false)[0]; a.Weight() != 1 || a.Address != "10.0.0.1" || a.OwnAddress {
		t.Errorf("web-a defaults: %+v", a)
	}
	db := v.Service("db").Select("", false)[0]
	if !db.OwnAddress || db.IP != netip.MustParseAddr("10.9.9.9") || db.Port != 65535 {
		t.Errorf("db: %+v", db)
	}
	if got := v.Service("quiet").Select("", false); len(got) != 0 {
		t.Errorf("instance with an unset check status is usable: %v", ids(got))
	}
	if diff := cmp.Diff([]string{"pay"}, ids(v.Connect("PAY").Select("", false))); diff != "" {
		t.Errorf("connect pay (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"web-proxy"}, ids(v.Connect("web").Select("", false))); diff != "" {
		t.Errorf("connect web (-want +got):\n%s", diff)
	}
	if v.Connect("db") != nil {
		t.Errorf("db has mesh endpoints")
	}

	for _, tc := range []struct {
		ip   string
		want []string
	}{
		{"10.0.0.1", []string{"alpha"}},
		{"10.9.9.9", []string{"Beta"}},
		{"::ffff:10.0.0.2", []string{"Beta"}},
		{"10.0.0.9", []string{"idle"}},
		{"10.0.0.8", nil},
	} {
		var got []string
		for _, n := range v.NodesByIP(netip.MustParseAddr(tc.ip)) {
			got = append(got, n.Name)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("NodesByIP(%s) (-want +got):\n%s", tc.ip, diff)
		}
	}
	for _, tc := range []struct {
		prefix string
		want   bool
	}{
		{"10.0.0.0/24", true},
		{"10.9.0.0/16", true},
		{"10.1.0.0/16", false},
		{"0.0.0.0/0", true},
		{"::/0", false},
	} {
		if got := v.HasIPUnder(netip.MustParsePrefix(tc.prefix)); got != tc.want {
			t.Errorf("HasIPUnder(%s) = %v, want %v", tc.prefix, got, tc.want)
		}
	}
}

func TestBuildSkipsNamelessEntries(t *testing.T) {
	resp := fakecatalog.Response(fakecatalog.State{
		Nodes: []*catalogv1.Node{{Node: "", Address: "10.0.0.1"}, fakecatalog.Node("ok", "10.0.0.2")},
		Instances: []fakecatalog.Instance{
			{Node: "ok", Service: &catalogv1.Service{Id: "x"}},
			{Node: "", Service: &catalogv1.Service{Id: "y", Service: "y"}},
			{Node: "ok", Service: &catalogv1.Service{Id: "z", Service: "z"}},
		},
	}, 3)
	v := view.Build(resp, time.Now())
	if v.NodeCount() != 1 || v.InstanceCount() != 1 || v.Service("z") == nil {
		t.Errorf("nodes %d instances %d", v.NodeCount(), v.InstanceCount())
	}
}
