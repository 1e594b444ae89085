package answer

import (
	"fmt"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

// packedSummary unpacks a wire reply from the packed cache and checks the
// header fields Handle copies from the request.
func packedSummary(t *testing.T, req *dns.Msg, wire []byte) (*dns.Msg, summary) {
	t.Helper()
	got := new(dns.Msg)
	if err := got.Unpack(wire); err != nil {
		t.Fatalf("unpack packed reply: %v", err)
	}
	if got.Id != req.Id || !got.Response || got.RecursionDesired != req.RecursionDesired ||
		got.CheckingDisabled != req.CheckingDisabled || got.Question[0] != req.Question[0] {
		t.Fatalf("packed reply header/question = id %d rd %v cd %v %v; request id %d rd %v cd %v %v",
			got.Id, got.RecursionDesired, got.CheckingDisabled, got.Question[0],
			req.Id, req.RecursionDesired, req.CheckingDisabled, req.Question[0])
	}
	return got, summarize(got)
}

// A packed reply is the reply Handle gives, in every shape a request can
// take: transport, EDNS0 size, header bits, the case of the name.
func TestPackedRepliesMatchHandle(t *testing.T) {
	h := newHandler(t, nil)
	v := fixtureView(t)
	h.cfg.Views = staticViews{v: v}
	shapes := []struct {
		name string
		tcp  bool
		make func(*dns.Msg) *dns.Msg
	}{
		{"udp", false, func(m *dns.Msg) *dns.Msg { return m }},
		{"tcp", true, func(m *dns.Msg) *dns.Msg { return m }},
		{"udp edns 1232", false, func(m *dns.Msg) *dns.Msg { return withEDNS(m, 1232) }},
		{"tcp edns 4096", true, func(m *dns.Msg) *dns.Msg { return withEDNS(m, 4096) }},
		{"no rd, cd", false, func(m *dns.Msg) *dns.Msg { m.RecursionDesired, m.CheckingDisabled = false, true; return m }},
		{"cookie", false, func(m *dns.Msg) *dns.Msg {
			m = withEDNS(m, 1232)
			opt := m.IsEdns0()
			opt.Option = append(opt.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
			return m
		}},
	}
	questions := []question{
		{"web.service.consul.", dns.TypeA},
		{"WEB.Service.Consul.", dns.TypeSRV},
		{"web.service.consul.", dns.TypeANY},
		{"v1.web.service.dc1.consul.", dns.TypeSRV},
		{"_web._tcp.service.consul.", dns.TypeSRV},
		{"n1.node.example.internal.", dns.TypeTXT},
		{"db.service.consul.", dns.TypeSRV},
		{"web.connect.consul.", dns.TypeA},
		{"1.0.0.10.in-addr.arpa.", dns.TypePTR},
	}
	for _, s := range shapes {
		for _, q := range questions {
			t.Run(fmt.Sprintf("%s/%s/%s", s.name, q.name, dns.TypeToString[q.qtype]), func(t *testing.T) {
				for id := range uint16(3) { // a hit after the miss
					req := s.make(query(q.name, q.qtype))
					req.Id = 1000 + id
					wire, rcode, ok := h.packed(v, req, s.tcp)
					if !ok {
						t.Fatal("not answered from the packed cache")
					}
					want := h.Handle(t.Context(), req, s.tcp)
					got, sum := packedSummary(t, req, wire)
					if rcode != want.Rcode {
						t.Errorf("rcode %d, want %d", rcode, want.Rcode)
					}
					if diff := cmp.Diff(summarize(want), sum); diff != "" {
						t.Fatalf("packed reply differs from Handle's (-want +got):\n%s", diff)
					}
					wantOpt, gotOpt := want.IsEdns0(), got.IsEdns0()
					if (wantOpt == nil) != (gotOpt == nil) || wantOpt != nil && gotOpt.UDPSize() != wantOpt.UDPSize() {
						t.Errorf("OPT %v, want %v", gotOpt, wantOpt)
					}
				}
			})
		}
	}
}

// Replies that depend on more than the question and its shape go through
// Handle: negative answers (their SOA serial is the time), names outside
// the domains, an EDNS0 client subnet echoed back, malformed requests.
func TestPackedLeavesOthersToHandle(t *testing.T) {
	h := newHandler(t, nil)
	v := fixtureView(t)
	ecs := withEDNS(query("web.service.consul.", dns.TypeA), 1232)
	ecs.IsEdns0().Option = append(ecs.IsEdns0().Option, &dns.EDNS0_SUBNET{
		Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(192, 0, 2, 0).To4()})
	twoQuestions := query("web.service.consul.", dns.TypeA)
	twoQuestions.Question = append(twoQuestions.Question, twoQuestions.Question[0])
	reply := query("web.service.consul.", dns.TypeA)
	reply.Response = true
	for name, req := range map[string]*dns.Msg{
		"nxdomain":      query("nope.service.consul.", dns.TypeA),
		"nodata":        query("web.service.consul.", dns.TypeTXT),
		"critical only": query("api.service.consul.", dns.TypeA),
		"outside":       query("www.example.com.", dns.TypeA),
		"client subnet": ecs,
		"two questions": twoQuestions,
		"a reply":       reply,
	} {
		for range 2 {
			if _, _, ok := h.packed(v, req, false); ok {
				t.Errorf("%s: answered from the packed cache", name)
			}
		}
	}
	if _, _, ok := h.packed(nil, query("web.service.consul.", dns.TypeA), false); ok {
		t.Error("answered without a view")
	}
}

// The packed orders are rotations: every instance leads some replies, and
// a reply cut to the UDP answer limit still reaches every instance.
func TestPackedRepliesSpreadInstances(t *testing.T) {
	for _, n := range []int{3, maxVariants, 40} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			h := newHandler(t, nil) // UDP answer limit 3
			v := manyView(n)
			first, anywhere := map[string]bool{}, map[string]bool{}
			for range 400 * n {
				wire, _, ok := h.packed(v, query("big.service.consul.", dns.TypeA), false)
				if !ok {
					t.Fatal("not answered from the packed cache")
				}
				got := new(dns.Msg)
				if err := got.Unpack(wire); err != nil {
					t.Fatal(err)
				}
				if len(got.Answer) != min(n, 3) {
					t.Fatalf("%d answers, want %d", len(got.Answer), min(n, 3))
				}
				first[got.Answer[0].(*dns.A).A.String()] = true
				for _, rr := range got.Answer {
					anywhere[rr.(*dns.A).A.String()] = true
				}
			}
			if wantFirst := min(n, maxVariants); len(first) != wantFirst {
				t.Errorf("%d instances led a reply, want %d", len(first), wantFirst)
			}
			if len(anywhere) != n && n <= 3*maxVariants {
				t.Errorf("%d of %d instances appeared in replies", len(anywhere), n)
			}
		})
	}
}

// A new view is answered from its own packed replies at once.
func TestPackedRepliesFollowTheView(t *testing.T) {
	h := newHandler(t, nil)
	for _, step := range []struct{ v, want int }{{2, 2}, {5, 3}, {2, 2}} {
		wire, _, ok := h.packed(manyView(step.v), query("big.service.consul.", dns.TypeA), false)
		if !ok {
			t.Fatal("not answered from the packed cache")
		}
		got := new(dns.Msg)
		if err := got.Unpack(wire); err != nil {
			t.Fatal(err)
		}
		if len(got.Answer) != step.want {
			t.Errorf("view of %d: %d answers, want %d", step.v, len(got.Answer), step.want)
		}
	}
}
