package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/dnsgw/daemon"
	"github.com/beaconmesh/beacon/services/dnsgw/internal/fakecatalog"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

const deadline = 5 * time.Second

var (
	passing  = catalogv1.HealthStatus_HEALTH_STATUS_PASSING
	warning  = catalogv1.HealthStatus_HEALTH_STATUS_WARNING
	critical = catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL
)

// gateway is a daemon.Run on 127.0.0.1:0 for one test.
type gateway struct {
	udp, tcp string
	reg      *prometheus.Registry
}

// startGateway runs the gateway against catalogAddr and stops it when the
// test ends, failing the test if Run errs or overruns its 5 s budget.
// With waitView it returns once the first catalog view answers.
func startGateway(t *testing.T, catalogAddr string, waitView bool, mutate func(*daemon.Config)) *gateway {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{udp: pc.LocalAddr().String(), tcp: ln.Addr().String(), reg: prometheus.NewRegistry()}
	cfg := daemon.DefaultConfig()
	cfg.UDPConn, cfg.TCPListener = pc, ln
	cfg.CatalogAddrs = []string{catalogAddr}
	cfg.AltDomain = "example.internal"
	cfg.Logger = testLogger(t)
	cfg.Registerer = g.reg
	cfg.RecursorTimeout = 500 * time.Millisecond
	if mutate != nil {
		mutate(&cfg)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		start := time.Now()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Run took %s to stop", d)
			}
		case <-time.After(6 * time.Second):
			t.Errorf("Run did not stop within 6s")
		}
	})
	if waitView {
		eventually(t, "the first view", func() bool {
			m, err := g.exchange("tcp", question("consul.", dns.TypeSOA))
			return err == nil && m.Rcode == dns.RcodeSuccess
		})
	}
	return g
}

func (g *gateway) exchange(network string, m *dns.Msg) (*dns.Msg, error) {
	addr := g.udp
	if network == "tcp" {
		addr = g.tcp
	}
	c := &dns.Client{Net: network, Timeout: 2 * time.Second, UDPSize: dns.MaxMsgSize}
	resp, _, err := c.Exchange(m, addr)
	return resp, err
}

func (g *gateway) mustExchange(t *testing.T, network string, m *dns.Msg) *dns.Msg {
	t.Helper()
	resp, err := g.exchange(network, m)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], network, err)
	}
	return resp
}

func question(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

// eventually waits for cond, checking every few milliseconds, and fails the
// test at the deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(deadline)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-timeout:
			t.Fatalf("no %s within %s", what, deadline)
		case <-tick.C:
		}
	}
}

// gauge reads a metric without labels from reg; ok is false if absent.
func gauge(t *testing.T, reg *prometheus.Registry, name string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// counter reads one labelled counter from reg.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// fixture is the datacenter the socket tests resolve in.
func fixture() fakecatalog.State {
	return fakecatalog.State{
		Nodes: []*catalogv1.Node{
			fakecatalog.Node("n1", "10.0.0.1", "rack", "r1"),
			fakecatalog.Node("n2", "10.0.0.2"),
			fakecatalog.Node("n6", "2001:db8::6"),
		},
		NodeChecks: []*catalogv1.HealthCheck{fakecatalog.Serf("n1", passing), fakecatalog.Serf("n2", passing)},
		Instances: []fakecatalog.Instance{
			{Node: "n1", Status: passing, Service: &catalogv1.Service{Id: "web1", Service: "web", Port: 80, Tags: []string{"v1"}}},
			{Node: "n2", Status: warning, Service: &catalogv1.Service{Id: "web2", Service: "web", Port: 80, Tags: []string{"v2"}}},
			{Node: "n1", Status: passing, Service: &catalogv1.Service{Id: "db1", Service: "db", Port: 5432, Address: "10.1.0.9"}},
			{Node: "n2", Status: critical, Service: &catalogv1.Service{Id: "api1", Service: "api", Port: 9090}},
			{Node: "n1", Status: passing, Service: &catalogv1.Service{
				Id: "web-sidecar-proxy", Service: "web-sidecar-proxy", Port: 21000,
				Kind:  catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY,
				Proxy: &catalogv1.ConnectProxyConfig{DestinationServiceName: "web"},
			}},
			{Node: "n6", Status: passing, Service: &catalogv1.Service{Id: "v6", Service: "v6svc", Port: 8443}},
		},
	}
}

// serveFixture starts a fake catalog holding st.
func serveFixture(t *testing.T, st fakecatalog.State) (*fakecatalog.Catalog, string, func()) {
	cat := fakecatalog.New(st)
	addr, stop := fakecatalog.Serve(t, cat)
	return cat, addr, stop
}

// deadAddr is a 127.0.0.1 port nothing listens on (over UDP or TCP).
func deadAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, fmt.Sprint(rr))
	}
	return out
}
