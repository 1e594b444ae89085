package answer

import (
	"testing"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/dnsgw/internal/fakecatalog"
	"github.com/beaconmesh/beacon/services/dnsgw/view"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/miekg/dns"
)

func TestRespondNameForms(t *testing.T) {
	consulSOA := []string{soaLine("consul.")}
	altSOA := []string{soaLine("example.internal.")}
	v6rev, _ := dns.ReverseAddr("2001:db8::6")

	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		mutate func(*Config)
		want   summary
	}{
		// <node>.node[.<dc>].<domain>
		{name: "node A", qname: "n1.node.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"n1.node.consul. 0 IN A 10.0.0.1"}}},
		{name: "node A with dc", qname: "n1.node.dc1.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"n1.node.dc1.consul. 0 IN A 10.0.0.1"}}},
		{name: "node A with dc.dc", qname: "n1.node.dc1.dc.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"n1.node.dc1.dc.consul. 0 IN A 10.0.0.1"}}},
		{name: "node name case-insensitive, owner as asked", qname: "N1.NoDe.DC1.CONSUL.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"N1.NoDe.DC1.CONSUL. 0 IN A 10.0.0.1"}}},
		{name: "mixed-case node name", qname: "mixed-case.node.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"mixed-case.node.consul. 0 IN A 10.0.0.4"}}},
		{name: "node AAAA of IPv4 node is NODATA", qname: "n1.node.consul.", qtype: dns.TypeAAAA,
			want: summary{Rcode: "NOERROR", AA: true, Ns: consulSOA}},
		{name: "node TXT from meta", qname: "n1.node.consul.", qtype: dns.TypeTXT,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{`n1.node.consul. 0 IN TXT "env=prod"`, `n1.node.consul. 0 IN TXT "rack=r1"`}}},
		{name: "node TXT without meta is NODATA", qname: "n2.node.consul.", qtype: dns.TypeTXT,
			want: summary{Rcode: "NOERROR", AA: true, Ns: consulSOA}},
		{name: "node ANY", qname: "n1.node.consul.", qtype: dns.TypeANY,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"n1.node.consul. 0 IN A 10.0.0.1", `n1.node.consul. 0 IN TXT "env=prod"`, `n1.node.consul. 0 IN TXT "rack=r1"`}}},
		{name: "node AAAA", qname: "n6.node.consul.", qtype: dns.TypeAAAA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"n6.node.consul. 0 IN AAAA 2001:db8::6"}}},
		{name: "node with host name address", qname: "nh.node.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"nh.node.consul. 0 IN CNAME host.example.com."}}},
		{name: "node with critical serf is still a node", qname: "n3.node.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"n3.node.consul. 0 IN A 10.0.0.3"}}},
		{name: "unknown node", qname: "nope.node.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NXDOMAIN", AA: true, Ns: consulSOA}},
		{name: "other datacenter", qname: "n1.node.dc2.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NXDOMAIN", AA: true, Ns: consulSOA}},
		{name: "node TTL", qname: "n1.node.consul.", qtype: dns.TypeA, mutate: func(c *Config) { c.NodeTTL = 30e9 },
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"n1.node.consul. 30 IN A 10.0.0.1"}}},

		// [<tag>.]<service>.service[.<dc>].<domain>
		{name: "service A skips critical, keeps warning", qname: "web.service.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"web.service.consul. 0 IN A 10.0.0.1", "web.service.consul. 0 IN A 10.0.0.2"}}},
		{name: "service A only passing", qname: "web.service.consul.", qtype: dns.TypeA, mutate: func(c *Config) { c.OnlyPassing = true },
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"web.service.consul. 0 IN A 10.0.0.1"}}},
		{name: "service SRV with glue and weights by health", qname: "web.service.dc1.consul.", qtype: dns.TypeSRV,
			want: summary{Rcode: "NOERROR", AA: true,
				Answer: []string{"web.service.dc1.consul. 0 IN SRV 1 1 8080 n2.node.dc1.consul.", "web.service.dc1.consul. 0 IN SRV 1 10 80 n1.node.dc1.consul."},
				Extra:  []string{"n1.node.dc1.consul. 0 IN A 10.0.0.1", "n2.node.dc1.consul. 0 IN A 10.0.0.2"}}},
		{name: "service TTL", qname: "db.service.consul.", qtype: dns.TypeA, mutate: func(c *Config) { c.ServiceTTL = 5e9 },
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"db.service.consul. 5 IN A 10.1.0.9"}}},
		{name: "tag filter leaves out critical n3", qname: "v1.web.service.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"v1.web.service.consul. 0 IN A 10.0.0.1"}}},
		{name: "tag case-insensitive", qname: "PRIMARY.web.service.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"PRIMARY.web.service.consul. 0 IN A 10.0.0.1"}}},
		{name: "unknown tag", qname: "v3.web.service.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NXDOMAIN", AA: true, Ns: consulSOA}},
		{name: "service with own address: addr target and glue", qname: "db.service.consul.", qtype: dns.TypeSRV,
			want: summary{Rcode: "NOERROR", AA: true,
				Answer: []string{"db.service.consul. 0 IN SRV 1 1 5432 0a010009.addr.dc1.consul."},
				Extra:  []string{"0a010009.addr.dc1.consul. 0 IN A 10.1.0.9"}}},
		{name: "service own address A", qname: "db.service.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"db.service.consul. 0 IN A 10.1.0.9"}}},
		{name: "service with only critical instances", qname: "api.service.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NXDOMAIN", AA: true, Ns: consulSOA}},
		{name: "unknown service", qname: "nope.service.consul.", qtype: dns.TypeSRV,
			want: summary{Rcode: "NXDOMAIN", AA: true, Ns: consulSOA}},
		{name: "service TXT is NODATA", qname: "web.service.consul.", qtype: dns.TypeTXT,
			want: summary{Rcode: "NOERROR", AA: true, Ns: consulSOA}},
		{name: "service AAAA of IPv4 instances is NODATA", qname: "web.service.consul.", qtype: dns.TypeAAAA,
			want: summary{Rcode: "NOERROR", AA: true, Ns: consulSOA}},
		{name: "service AAAA", qname: "v6svc.service.consul.", qtype: dns.TypeAAAA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"v6svc.service.consul. 0 IN AAAA 2001:db8::6"}}},
		{name: "service SRV AAAA glue", qname: "v6svc.service.consul.", qtype: dns.TypeSRV,
			want: summary{Rcode: "NOERROR", AA: true,
				Answer: []string{"v6svc.service.consul. 0 IN SRV 1 1 8443 n6.node.dc1.consul."},
				Extra:  []string{"n6.node.dc1.consul. 0 IN AAAA 2001:db8::6"}}},
		{name: "service on host-name node", qname: "ext.service.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"ext.service.consul. 0 IN CNAME host.example.com."}}},
		{name: "service ANY", qname: "db.service.consul.", qtype: dns.TypeANY,
			want: summary{Rcode: "NOERROR", AA: true,
				Answer: []string{"db.service.consul. 0 IN A 10.1.0.9", "db.service.consul. 0 IN SRV 1 1 5432 0a010009.addr.dc1.consul."},
				Extra:  []string{"0a010009.addr.dc1.consul. 0 IN A 10.1.0.9"}}},

		// RFC 2782
		{name: "rfc2782 _tcp is any tag", qname: "_web._tcp.service.consul.", qtype: dns.TypeSRV,
			want: summary{Rcode: "NOERROR", AA: true,
				Answer: []string{"_web._tcp.service.consul. 0 IN SRV 1 1 8080 n2.node.dc1.consul.", "_web._tcp.service.consul. 0 IN SRV 1 10 80 n1.node.dc1.consul."},
				Extra:  []string{"n1.node.dc1.consul. 0 IN A 10.0.0.1", "n2.node.dc1.consul. 0 IN A 10.0.0.2"}}},
		{name: "rfc2782 _udp is any tag", qname: "_db._udp.service.dc1.consul.", qtype: dns.TypeSRV,
			want: summary{Rcode: "NOERROR", AA: true,
				Answer: []string{"_db._udp.service.dc1.consul. 0 IN SRV 1 1 5432 0a010009.addr.dc1.consul."},
				Extra:  []string{"0a010009.addr.dc1.consul. 0 IN A 10.1.0.9"}}},
		{name: "rfc2782 tag", qname: "_web._v2.service.consul.", qtype: dns.TypeSRV,
			want: summary{Rcode: "NOERROR", AA: true,
				Answer: []string{"_web._v2.service.consul. 0 IN SRV 1 1 8080 n2.node.dc1.consul."},
				Extra:  []string{"n2.node.dc1.consul. 0 IN A 10.0.0.2"}}},
		{name: "rfc2782 without service label", qname: "_db._tcp.consul.", qtype: dns.TypeSRV,
			want: summary{Rcode: "NOERROR", AA: true,
				Answer: []string{"_db._tcp.consul. 0 IN SRV 1 1 5432 0a010009.addr.dc1.consul."},
				Extra:  []string{"0a010009.addr.dc1.consul. 0 IN A 10.1.0.9"}}},

		// <service>.connect.<domain>
		{name: "connect: the sidecar at its own port", qname: "web.connect.consul.", qtype: dns.TypeSRV,
			want: summary{Rcode: "NOERROR", AA: true,
				Answer: []string{"web.connect.consul. 0 IN SRV 1 1 21000 n1.node.dc1.consul."},
				Extra:  []string{"n1.node.dc1.consul. 0 IN A 10.0.0.1"}}},
		{name: "connect: native instance", qname: "pay.connect.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"pay.connect.consul. 0 IN A 10.0.0.2"}}},
		{name: "connect: no mesh endpoint", qname: "db.connect.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NXDOMAIN", AA: true, Ns: consulSOA}},

		// <hex>.addr[.<dc>].<domain>
		{name: "addr v4", qname: "0a000001.addr.dc1.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"0a000001.addr.dc1.consul. 0 IN A 10.0.0.1"}}},
		{name: "addr v6", qname: "20010db8000000000000000000000006.addr.consul.", qtype: dns.TypeAAAA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"20010db8000000000000000000000006.addr.consul. 0 IN AAAA 2001:db8::6"}}},
		{name: "addr v4 asked AAAA", qname: "0a000001.addr.consul.", qtype: dns.TypeAAAA,
			want: summary{Rcode: "NOERROR", AA: true, Ns: consulSOA}},
		{name: "addr not hex", qname: "zz.addr.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NXDOMAIN", AA: true, Ns: consulSOA}},

		// PTR
		{name: "ptr node address", qname: "1.0.0.10.in-addr.arpa.", qtype: dns.TypePTR,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"1.0.0.10.in-addr.arpa. 0 IN PTR n1.node.dc1.consul."}}},
		{name: "ptr service address", qname: "9.0.1.10.in-addr.arpa.", qtype: dns.TypePTR,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"9.0.1.10.in-addr.arpa. 0 IN PTR n1.node.dc1.consul."}}},
		{name: "ptr v6", qname: v6rev, qtype: dns.TypePTR,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{v6rev + " 0 IN PTR n6.node.dc1.consul."}}},
		{name: "ptr names the primary domain", qname: "2.0.0.10.IN-ADDR.ARPA.", qtype: dns.TypePTR, mutate: func(c *Config) { c.Domain, c.AltDomain = "beacon.", "consul." },
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"2.0.0.10.IN-ADDR.ARPA. 0 IN PTR n2.node.dc1.beacon."}}},
		{name: "ptr unknown address", qname: "9.9.9.10.in-addr.arpa.", qtype: dns.TypePTR,
			want: summary{Rcode: "NXDOMAIN", AA: true, Ns: consulSOA}},
		{name: "ptr name asked A", qname: "1.0.0.10.in-addr.arpa.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Ns: consulSOA}},
		{name: "reverse empty non-terminal", qname: "0.10.in-addr.arpa.", qtype: dns.TypePTR,
			want: summary{Rcode: "NOERROR", AA: true, Ns: consulSOA}},
		{name: "reverse prefix with nothing below", qname: "172.in-addr.arpa.", qtype: dns.TypePTR,
			want: summary{Rcode: "NXDOMAIN", AA: true, Ns: consulSOA}},
		{name: "reverse malformed", qname: "300.0.0.10.in-addr.arpa.", qtype: dns.TypePTR,
			want: summary{Rcode: "NXDOMAIN", AA: true, Ns: consulSOA}},

		// The zone apex and empty non-terminals (RFC 8020).
		{name: "apex SOA", qname: "consul.", qtype: dns.TypeSOA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: consulSOA}},
		{name: "apex NS names the catalog servers", qname: "consul.", qtype: dns.TypeNS,
			want: summary{Rcode: "NOERROR", AA: true, Answer: []string{"consul. 0 IN NS n1.node.dc1.consul."}, Extra: []string{"n1.node.dc1.consul. 0 IN A 10.0.0.1"}}},
		{name: "apex A", qname: "consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Ns: consulSOA}},
		{name: "service.<domain>", qname: "service.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Ns: consulSOA}},
		{name: "node.<domain>", qname: "node.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Ns: consulSOA}},
		{name: "<dc>.<domain>", qname: "dc1.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Ns: consulSOA}},
		{name: "service.<dc>.<domain>", qname: "service.dc1.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NOERROR", AA: true, Ns: consulSOA}},
		{name: "_tcp.service.<domain>", qname: "_tcp.service.consul.", qtype: dns.TypeSRV,
			want: summary{Rcode: "NOERROR", AA: true, Ns: consulSOA}},
		{name: "other dc is no non-terminal", qname: "dc2.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NXDOMAIN", AA: true, Ns: consulSOA}},
		{name: "unknown label under the domain", qname: "foo.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NXDOMAIN", AA: true, Ns: consulSOA}},
		{name: "too many labels before service", qname: "a.b.web.service.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NXDOMAIN", AA: true, Ns: consulSOA}},
		{name: "prepared queries are not supported", qname: "geo.query.consul.", qtype: dns.TypeA,
			want: summary{Rcode: "NXDOMAIN", AA: true, Ns: consulSOA}},
		{name: "no zone transfers", qname: "consul.", qtype: dns.TypeAXFR,
			want: summary{Rcode: "REFUSED"}},

		// The alt domain answers in its own name.
		{name: "alt domain SRV targets", qname: "web.service.example.internal.", qtype: dns.TypeSRV,
			want: summary{Rcode: "NOERROR", AA: true,
				Answer: []string{"web.service.example.internal. 0 IN SRV 1 1 8080 n2.node.dc1.example.internal.", "web.service.example.internal. 0 IN SRV 1 10 80 n1.node.dc1.example.internal."},
				Extra:  []string{"n1.node.dc1.example.internal. 0 IN A 10.0.0.1", "n2.node.dc1.example.internal. 0 IN A 10.0.0.2"}}},
		{name: "alt domain NXDOMAIN carries its SOA", qname: "nope.node.Example.Internal.", qtype: dns.TypeA,
			want: summary{Rcode: "NXDOMAIN", AA: true, Ns: altSOA}},
		{name: "alt domain apex SOA", qname: "example.internal.", qtype: dns.TypeSOA,
			want: summary{Rcode: "NOERROR", AA: true, Answer: altSOA}},

		// Outside the domains, without recursors.
		{name: "outside the domain is refused", qname: "www.example.com.", qtype: dns.TypeA,
			want: summary{Rcode: "REFUSED"}},
		{name: "a suffix that is not the domain", qname: "notconsul.", qtype: dns.TypeA,
			want: summary{Rcode: "REFUSED"}},
	}
	v := fixtureView(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t, tt.mutate)
			got := summarize(h.Respond(v, query(tt.qname, tt.qtype), true))
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s %s (-want +got):\n%s", tt.qname, dns.TypeToString[tt.qtype], diff)
			}
		})
	}
}

func TestRespondRejectsMalformed(t *testing.T) {
	two := query("web.service.consul.", dns.TypeA)
	two.Question = append(two.Question, dns.Question{Name: "db.service.consul.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	none := query("web.service.consul.", dns.TypeA)
	none.Question = nil
	update := query("consul.", dns.TypeSOA)
	update.Opcode = dns.OpcodeUpdate
	withAnswer := query("web.service.consul.", dns.TypeA)
	withAnswer.Answer = []dns.RR{&dns.A{Hdr: hdr("x.", dns.TypeA, 0), A: []byte{1, 2, 3, 4}}}
	twoOPT := query("web.service.consul.", dns.TypeA)
	twoOPT.SetEdns0(1232, false)
	twoOPT.SetEdns0(4096, false)
	badVers := query("web.service.consul.", dns.TypeA)
	badVers.SetEdns0(1232, false)
	badVers.IsEdns0().SetVersion(1)
	chaos := query("version.bind.", dns.TypeTXT)
	chaos.Question[0].Qclass = dns.ClassCHAOS

	h := newHandler(t, nil)
	v := fixtureView(t)
	tests := []struct {
		name  string
		req   *dns.Msg
		rcode int
	}{
		{"two questions", two, dns.RcodeFormatError},
		{"no question (FORMERR on the wire in Consul too)", none, dns.RcodeFormatError},
		{"update opcode", update, dns.RcodeNotImplemented},
		{"answer section in a query", withAnswer, dns.RcodeFormatError},
		{"two OPT records", twoOPT, dns.RcodeFormatError},
		{"EDNS version 1", badVers, dns.RcodeBadVers},
		{"CHAOS class", chaos, dns.RcodeNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.Respond(v, tt.req, false)
			if resp == nil {
				t.Fatal("no reply")
			}
			if resp.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
			}
			if resp.Authoritative || len(resp.Answer) > 0 {
				t.Errorf("error reply has AA or answers: %v", resp)
			}
			if _, err := resp.Pack(); err != nil {
				t.Errorf("pack: %v", err)
			}
		})
	}

	reply := query("web.service.consul.", dns.TypeA)
	reply.Response = true
	if resp := h.Respond(v, reply, false); resp != nil {
		t.Errorf("answered a reply: %v", resp)
	}
}

func TestHandleWithoutViewIsServfail(t *testing.T) {
	h := newHandler(t, nil)
	resp := h.Handle(t.Context(), query("web.service.consul.", dns.TypeA), false)
	want := summary{Rcode: "SERVFAIL"}
	if diff := cmp.Diff(want, summarize(resp), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Names outside the domain do not depend on the view.
	resp = h.Handle(t.Context(), query("www.example.com.", dns.TypeA), false)
	if resp.Rcode != dns.RcodeRefused {
		t.Errorf("outside the domain: %s, want REFUSED", dns.RcodeToString[resp.Rcode])
	}
}

func TestShuffledPerQuery(t *testing.T) {
	h := newHandler(t, nil)
	v := fixtureView(t)
	firsts := map[string]bool{}
	for range 200 {
		resp := h.Respond(v, query("web.service.consul.", dns.TypeA), false)
		firsts[resp.Answer[0].(*dns.A).A.String()] = true
		if len(firsts) == 2 {
			return
		}
	}
	t.Errorf("200 answers all began with %v", firsts)
}

// Answers are cached per view: a new view (a catalog change) is answered
// from its own records at once, and going back to an older view answers
// from that one.
func TestCachedAnswersFollowTheView(t *testing.T) {
	h := newHandler(t, nil)
	before := fixtureView(t)
	st := fixture()
	st.Instances = append(st.Instances, fakecatalog.Instance{Node: "Mixed-Case", Status: passing,
		Service: &catalogv1.Service{Id: "web4", Service: "web", Port: 80}})
	after := view.Build(fakecatalog.Response(st, 43), time.Now())
	count := func(v *view.View) int {
		return len(h.Respond(v, query("web.service.consul.", dns.TypeSRV), true).Answer)
	}
	for _, step := range []struct {
		v    *view.View
		want int
	}{{before, 2}, {before, 2}, {after, 3}, {after, 3}, {before, 2}} {
		if got := count(step.v); got != step.want {
			t.Fatalf("web SRV answers = %d, want %d", got, step.want)
		}
	}
}

// The record limit keeps a random subset, not always the same records.
func TestARecordLimitKeepsARandomSubset(t *testing.T) {
	h := newHandler(t, func(c *Config) { c.ARecordLimit = 1 })
	v := fixtureView(t)
	kept := map[string]bool{}
	for range 200 {
		resp := h.Respond(v, query("web.service.consul.", dns.TypeA), true)
		if len(resp.Answer) != 1 || resp.Truncated {
			t.Fatalf("%d answers, TC %v; want 1 and no TC", len(resp.Answer), resp.Truncated)
		}
		kept[resp.Answer[0].(*dns.A).A.String()] = true
		if len(kept) == 2 {
			return
		}
	}
	t.Errorf("200 answers kept only %v", kept)
}

// Cached records are shared by concurrent replies: packing them must not
// write to them (the race detector watches this test).
func TestCachedRecordsPackConcurrently(t *testing.T) {
	h := newHandler(t, nil)
	v := fixtureView(t)
	done := make(chan error)
	for range 8 {
		go func() {
			var err error
			for range 200 {
				for _, qt := range []uint16{dns.TypeA, dns.TypeSRV, dns.TypeANY} {
					if _, perr := h.Respond(v, query("web.service.consul.", qt), false).Pack(); perr != nil {
						err = perr
					}
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
