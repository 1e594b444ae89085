package answer

import (
	"fmt"
	"testing"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/dnsgw/internal/fakecatalog"
	"github.com/beaconmesh/beacon/services/dnsgw/view"
	"github.com/miekg/dns"
)

// manyView has n instances of "big", one per node, all passing.
func manyView(n int) *view.View {
	var st fakecatalog.State
	for i := range n {
		node := fmt.Sprintf("node-%03d", i)
		st.Nodes = append(st.Nodes, fakecatalog.Node(node, fmt.Sprintf("10.2.%d.%d", i/250, i%250+1)))
		st.Instances = append(st.Instances, fakecatalog.Instance{Node: node, Status: passing,
			Service: &catalogv1.Service{Id: "big", Service: "big", Port: 7000}})
	}
	return view.Build(fakecatalog.Response(st, 7), time.Now())
}

func withEDNS(m *dns.Msg, size uint16) *dns.Msg {
	m.SetEdns0(size, false)
	return m
}

func TestSizeLimits(t *testing.T) {
	v50, v300 := manyView(50), manyView(300)
	tests := []struct {
		name       string
		v          *view.View
		req        *dns.Msg
		tcp        bool
		mutate     func(*Config)
		wantAnswer int // -1: more than 3 and fewer than all
		wantTC     bool
		maxSize    int
	}{
		{name: "udp without EDNS: udp answer limit, TC", v: v50, req: query("big.service.consul.", dns.TypeA),
			wantAnswer: 3, wantTC: true, maxSize: 512},
		{name: "udp EDNS 512 counts as no EDNS", v: v50, req: withEDNS(query("big.service.consul.", dns.TypeA), 512),
			wantAnswer: 3, wantTC: true, maxSize: 512},
		{name: "udp answer limit above 8 counts as 8", v: v50, req: query("big.service.consul.", dns.TypeA), mutate: func(c *Config) { c.UDPAnswerLimit = 20 },
			wantAnswer: 8, wantTC: true, maxSize: 512},
		{name: "udp answer limit 0: only bytes count", v: v50, req: query("big.service.consul.", dns.TypeA), mutate: func(c *Config) { c.UDPAnswerLimit = 0 },
			wantAnswer: -1, wantTC: true, maxSize: 512},
		{name: "udp EDNS 4096 fits all A records", v: v50, req: withEDNS(query("big.service.consul.", dns.TypeA), 4096),
			wantAnswer: 50, maxSize: 4096},
		{name: "tcp returns all", v: v50, req: query("big.service.consul.", dns.TypeA), tcp: true,
			wantAnswer: 50},
		{name: "udp EDNS 4096 SRV: as many as fit, TC", v: v300, req: withEDNS(query("big.service.consul.", dns.TypeSRV), 4096),
			wantAnswer: -1, wantTC: true, maxSize: 4096},
		{name: "udp EDNS 1232 SRV", v: v300, req: withEDNS(query("big.service.consul.", dns.TypeSRV), 1232),
			wantAnswer: -1, wantTC: true, maxSize: 1232},
		{name: "tcp SRV returns all 300 with glue", v: v300, req: query("big.service.consul.", dns.TypeSRV), tcp: true,
			wantAnswer: 300, maxSize: dns.MaxMsgSize},
		{name: "a record limit caps tcp too", v: v50, req: query("big.service.consul.", dns.TypeA), tcp: true, mutate: func(c *Config) { c.ARecordLimit = 2 },
			wantAnswer: 2},
		{name: "a record limit leaves SRV alone", v: v50, req: query("big.service.consul.", dns.TypeSRV), tcp: true, mutate: func(c *Config) { c.ARecordLimit = 2 },
			wantAnswer: 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t, tt.mutate)
			resp := h.Respond(tt.v, tt.req, tt.tcp)
			buf, err := resp.Pack()
			if err != nil {
				t.Fatalf("pack: %v", err)
			}
			if tt.maxSize > 0 && len(buf) > tt.maxSize {
				t.Errorf("reply is %d bytes, limit %d", len(buf), tt.maxSize)
			}
			n := len(resp.Answer)
			switch {
			case tt.wantAnswer >= 0 && n != tt.wantAnswer:
				t.Errorf("%d answers, want %d", n, tt.wantAnswer)
			case tt.wantAnswer < 0 && (n <= 3 || n >= tt.v.InstanceCount()):
				t.Errorf("%d answers, want more than 3 and fewer than %d", n, tt.v.InstanceCount())
			}
			if resp.Truncated != tt.wantTC {
				t.Errorf("TC %v, want %v", resp.Truncated, tt.wantTC)
			}
			if (tt.req.IsEdns0() != nil) != (resp.IsEdns0() != nil) {
				t.Errorf("request OPT %v, reply OPT %v", tt.req.IsEdns0(), resp.IsEdns0())
			}
			checkGlue(t, resp)
		})
	}
}

// checkGlue asserts the additional section holds exactly the glue of the
// SRV targets left in the answer.
func checkGlue(t *testing.T, resp *dns.Msg) {
	t.Helper()
	targets := map[string]bool{}
	for _, rr := range resp.Answer {
		if srv, ok := rr.(*dns.SRV); ok {
			targets[srv.Target] = true
		}
	}
	glued := map[string]bool{}
	for _, rr := range resp.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		if !targets[rr.Header().Name] {
			t.Errorf("glue %v for no SRV target in the answer", rr)
		}
		glued[rr.Header().Name] = true
	}
	for target := range targets {
		if !glued[target] {
			t.Errorf("SRV target %s has no glue", target)
		}
	}
}

func TestEDNSEcho(t *testing.T) {
	h := newHandler(t, nil)
	v := fixtureView(t)
	req := withEDNS(query("web.service.consul.", dns.TypeA), 1232)
	req.IsEdns0().Option = append(req.IsEdns0().Option, &dns.EDNS0_SUBNET{
		Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: []byte{192, 0, 2, 0},
	})
	resp := h.Respond(v, req, false)
	opt := resp.IsEdns0()
	if opt == nil {
		t.Fatal("reply has no OPT")
	}
	if opt.UDPSize() != 1232 || opt.Version() != 0 {
		t.Errorf("OPT size %d version %d, want 1232 and 0", opt.UDPSize(), opt.Version())
	}
	if len(opt.Option) != 1 {
		t.Fatalf("OPT options %v, want the client subnet echoed", opt.Option)
	}
	ecs := opt.Option[0].(*dns.EDNS0_SUBNET)
	if ecs.SourceNetmask != 24 || ecs.SourceScope != 0 {
		t.Errorf("client subnet %v, want source 24 scope 0", ecs)
	}
	if _, err := resp.Pack(); err != nil {
		t.Errorf("pack: %v", err)
	}

	// Without OPT in the query, none in the reply.
	if resp := h.Respond(v, query("web.service.consul.", dns.TypeA), false); resp.IsEdns0() != nil {
		t.Errorf("OPT in reply to a query without one")
	}
}
