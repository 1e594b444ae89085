package daemon_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/dnsgw/daemon"
	"github.com/beaconmesh/beacon/services/dnsgw/internal/fakecatalog"
	"github.com/miekg/dns"
)

// TestNameFormsOverSockets asks one question per name form over UDP and
// TCP and checks the reply's code, flags and records.
func TestNameFormsOverSockets(t *testing.T) {
	_, addr, _ := serveFixture(t, fixture())
	g := startGateway(t, addr, true, nil)

	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer []string // sorted zone-file lines (single-spaced)
		extra  []string
		soa    bool
	}{
		{name: "node", qname: "n1.node.consul.", qtype: dns.TypeA, answer: []string{"n1.node.consul. 0 IN A 10.0.0.1"}},
		{name: "node with dc, any case", qname: "N1.Node.DC1.Consul.", qtype: dns.TypeA, answer: []string{"N1.Node.DC1.Consul. 0 IN A 10.0.0.1"}},
		{name: "node TXT", qname: "n1.node.consul.", qtype: dns.TypeTXT, answer: []string{`n1.node.consul. 0 IN TXT "rack=r1"`}},
		{name: "node AAAA", qname: "n6.node.consul.", qtype: dns.TypeAAAA, answer: []string{"n6.node.consul. 0 IN AAAA 2001:db8::6"}},
		{name: "service", qname: "web.service.consul.", qtype: dns.TypeA, answer: []string{"web.service.consul. 0 IN A 10.0.0.1", "web.service.consul. 0 IN A 10.0.0.2"}},
		{name: "tagged service", qname: "v2.web.service.dc1.consul.", qtype: dns.TypeA, answer: []string{"v2.web.service.dc1.consul. 0 IN A 10.0.0.2"}},
		{name: "service SRV with glue", qname: "web.service.consul.", qtype: dns.TypeSRV,
			answer: []string{"web.service.consul. 0 IN SRV 1 1 80 n1.node.dc1.consul.", "web.service.consul. 0 IN SRV 1 1 80 n2.node.dc1.consul."},
			extra:  []string{"n1.node.dc1.consul. 0 IN A 10.0.0.1", "n2.node.dc1.consul. 0 IN A 10.0.0.2"}},
		{name: "service with own address", qname: "db.service.consul.", qtype: dns.TypeSRV,
			answer: []string{"db.service.consul. 0 IN SRV 1 1 5432 0a010009.addr.dc1.consul."},
			extra:  []string{"0a010009.addr.dc1.consul. 0 IN A 10.1.0.9"}},
		{name: "rfc2782", qname: "_web._v1.service.consul.", qtype: dns.TypeSRV,
			answer: []string{"_web._v1.service.consul. 0 IN SRV 1 1 80 n1.node.dc1.consul."},
			extra:  []string{"n1.node.dc1.consul. 0 IN A 10.0.0.1"}},
		{name: "connect", qname: "web.connect.consul.", qtype: dns.TypeSRV,
			answer: []string{"web.connect.consul. 0 IN SRV 1 1 21000 n1.node.dc1.consul."},
			extra:  []string{"n1.node.dc1.consul. 0 IN A 10.0.0.1"}},
		{name: "addr", qname: "0a010009.addr.dc1.consul.", qtype: dns.TypeA, answer: []string{"0a010009.addr.dc1.consul. 0 IN A 10.1.0.9"}},
		{name: "ptr", qname: "2.0.0.10.in-addr.arpa.", qtype: dns.TypePTR, answer: []string{"2.0.0.10.in-addr.arpa. 0 IN PTR n2.node.dc1.consul."}},
		{name: "apex SOA", qname: "consul.", qtype: dns.TypeSOA, answer: []string{"SOA"}},
		{name: "empty non-terminal", qname: "service.consul.", qtype: dns.TypeA, soa: true},
		{name: "NODATA", qname: "web.service.consul.", qtype: dns.TypeAAAA, soa: true},
		{name: "NXDOMAIN unknown", qname: "nope.service.consul.", qtype: dns.TypeA, rcode: dns.RcodeNameError, soa: true},
		{name: "NXDOMAIN all critical", qname: "api.service.consul.", qtype: dns.TypeA, rcode: dns.RcodeNameError, soa: true},
		{name: "alt domain", qname: "web.service.example.internal.", qtype: dns.TypeSRV,
			answer: []string{"web.service.example.internal. 0 IN SRV 1 1 80 n1.node.dc1.example.internal.", "web.service.example.internal. 0 IN SRV 1 1 80 n2.node.dc1.example.internal."},
			extra:  []string{"n1.node.dc1.example.internal. 0 IN A 10.0.0.1", "n2.node.dc1.example.internal. 0 IN A 10.0.0.2"}},
		{name: "outside, no recursors", qname: "www.example.com.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+network, func(t *testing.T) {
				resp := g.mustExchange(t, network, question(tt.qname, tt.qtype))
				if resp.Rcode != tt.rcode {
					t.Errorf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
				}
				inDomain := tt.rcode != dns.RcodeRefused
				if resp.Authoritative != inDomain || resp.RecursionAvailable || resp.Truncated {
					t.Errorf("AA %v RA %v TC %v, want AA %v, no RA, no TC", resp.Authoritative, resp.RecursionAvailable, resp.Truncated, inDomain)
				}
				if tt.qtype == dns.TypeSOA {
					if len(resp.Answer) != 1 || resp.Answer[0].Header().Rrtype != dns.TypeSOA {
						t.Errorf("answer %v, want one SOA", resp.Answer)
					}
					return
				}
				if got := sortedLines(resp.Answer); !slices.Equal(got, tt.answer) {
					t.Errorf("answer\n got %q\nwant %q", got, tt.answer)
				}
				if got := sortedLines(resp.Extra); !slices.Equal(got, tt.extra) {
					t.Errorf("extra\n got %q\nwant %q", got, tt.extra)
				}
				hasSOA := len(resp.Ns) == 1 && resp.Ns[0].Header().Rrtype == dns.TypeSOA
				if hasSOA != tt.soa {
					t.Errorf("authority %v, want SOA %v", resp.Ns, tt.soa)
				}
			})
		}
	}
}

// wireLen is the size of m packed with compression, as servers send it.
func wireLen(m *dns.Msg) int {
	m.Compress = true
	return m.Len()
}

func sortedLines(rrs []dns.RR) []string {
	var out []string
	for _, s := range rrStrings(rrs) {
		out = append(out, strings.Join(strings.Fields(s), " "))
	}
	sort.Strings(out)
	return out
}

func manyInstances(n int) fakecatalog.State {
	var st fakecatalog.State
	for i := range n {
		node := fmt.Sprintf("node-%03d", i)
		st.Nodes = append(st.Nodes, fakecatalog.Node(node, fmt.Sprintf("10.2.%d.%d", i/250, i%250+1)))
		st.Instances = append(st.Instances, fakecatalog.Instance{Node: node, Status: passing,
			Service: &catalogv1.Service{Id: "big", Service: "big", Port: 7000}})
	}
	return st
}

func TestTruncationAndEDNS(t *testing.T) {
	const n = 300
	_, addr, _ := serveFixture(t, manyInstances(n))
	g := startGateway(t, addr, true, nil)

	edns := func(m *dns.Msg, size uint16) *dns.Msg { m.SetEdns0(size, false); return m }
	tests := []struct {
		name    string
		network string
		req     *dns.Msg
		check   func(t *testing.T, resp *dns.Msg)
	}{
		{"udp without EDNS: 3 answers and TC", "udp", question("big.service.consul.", dns.TypeA), func(t *testing.T, resp *dns.Msg) {
			if len(resp.Answer) != 3 || !resp.Truncated || resp.IsEdns0() != nil {
				t.Errorf("%d answers, TC %v, OPT %v; want 3, TC, no OPT", len(resp.Answer), resp.Truncated, resp.IsEdns0())
			}
		}},
		{"udp EDNS 4096: more, within 4096 bytes, OPT echoed", "udp", edns(question("big.service.consul.", dns.TypeSRV), 4096), func(t *testing.T, resp *dns.Msg) {
			if len(resp.Answer) <= 3 || len(resp.Answer) >= n || !resp.Truncated {
				t.Errorf("%d answers, TC %v; want between 3 and %d, TC", len(resp.Answer), resp.Truncated, n)
			}
			if opt := resp.IsEdns0(); opt == nil || opt.UDPSize() != 4096 {
				t.Errorf("OPT %v, want size 4096", opt)
			}
			if l := wireLen(resp); l > 4096 {
				t.Errorf("reply %d bytes", l)
			}
			if glue := len(resp.Extra) - 1; glue != len(resp.Answer) {
				t.Errorf("%d glue records for %d SRV answers", glue, len(resp.Answer))
			}
		}},
		{"tcp: everything", "tcp", question("big.service.consul.", dns.TypeSRV), func(t *testing.T, resp *dns.Msg) {
			if len(resp.Answer) != n || len(resp.Extra) != n || resp.Truncated {
				t.Errorf("%d answers, %d extra, TC %v; want %d, %d, no TC", len(resp.Answer), len(resp.Extra), resp.Truncated, n, n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, g.mustExchange(t, tt.network, tt.req)) })
	}
}

// upstream is a fake recursive resolver on 127.0.0.1 (UDP and TCP, one
// port). It answers A 192.0.2.1 for any name, and 100 A records for names
// starting with "big.", which over UDP it truncates to force TCP.
type upstream struct {
	addr     string
	tcpSeen  chan string
	udp, tcp *dns.Server
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{addr: pc.LocalAddr().String(), tcpSeen: make(chan string, 10)}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(req)
		resp.RecursionAvailable = true
		q := req.Question[0]
		count := 1
		if strings.HasPrefix(q.Name, "big.") {
			count = 100
		}
		for i := range count {
			resp.Answer = append(resp.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, byte(i+1))})
		}
		if w.LocalAddr().Network() == "udp" {
			resp.Truncate(dns.MinMsgSize)
		} else {
			u.tcpSeen <- q.Name
		}
		_ = w.WriteMsg(resp)
	})
	u.udp = &dns.Server{PacketConn: pc, Handler: handler}
	u.tcp = &dns.Server{Listener: ln, Handler: handler}
	for _, s := range []*dns.Server{u.udp, u.tcp} {
		up := make(chan struct{})
		s.NotifyStartedFunc = func() { close(up) }
		go func() { _ = s.ActivateAndServe() }()
		<-up
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return u
}

func TestRecursors(t *testing.T) {
	_, addr, _ := serveFixture(t, fixture())
	up := startUpstream(t)
	dead := deadAddr(t)
	g := startGateway(t, addr, true, func(c *daemon.Config) { c.Recursors = []string{dead, up.addr} })
	failing := startGateway(t, addr, true, func(c *daemon.Config) { c.Recursors = []string{dead} })

	t.Run("a dead recursor, then a live one", func(t *testing.T) {
		resp := g.mustExchange(t, "udp", question("www.example.com.", dns.TypeA))
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 || !resp.RecursionAvailable || resp.Authoritative {
			t.Errorf("rcode %s, %d answers, RA %v AA %v; want NOERROR, 1, RA, no AA", dns.RcodeToString[resp.Rcode], len(resp.Answer), resp.RecursionAvailable, resp.Authoritative)
		}
	})
	t.Run("in-domain answers set RA when recursors exist", func(t *testing.T) {
		resp := g.mustExchange(t, "udp", question("web.service.consul.", dns.TypeA))
		if !resp.RecursionAvailable || !resp.Authoritative {
			t.Errorf("RA %v AA %v, want both", resp.RecursionAvailable, resp.Authoritative)
		}
	})
	t.Run("truncated upstream UDP falls back to TCP", func(t *testing.T) {
		resp := g.mustExchange(t, "tcp", question("big.example.com.", dns.TypeA))
		if len(resp.Answer) != 100 || resp.Truncated {
			t.Errorf("%d answers TC %v, want 100 without TC", len(resp.Answer), resp.Truncated)
		}
		select {
		case name := <-up.tcpSeen:
			if name != "big.example.com." {
				t.Errorf("upstream saw %q over TCP", name)
			}
		default:
			t.Error("upstream saw no TCP query")
		}
		// The same answer to a UDP client is cut to its size, with TC.
		resp = g.mustExchange(t, "udp", question("big.example.com.", dns.TypeA))
		if !resp.Truncated || wireLen(resp) > dns.MinMsgSize {
			t.Errorf("udp reply of %d bytes, TC %v", wireLen(resp), resp.Truncated)
		}
	})
	t.Run("unknown reverse names recurse", func(t *testing.T) {
		resp := g.mustExchange(t, "udp", question("1.2.0.192.in-addr.arpa.", dns.TypePTR))
		if resp.Rcode != dns.RcodeSuccess || resp.Authoritative {
			t.Errorf("rcode %s AA %v, want the upstream's NOERROR", dns.RcodeToString[resp.Rcode], resp.Authoritative)
		}
	})
	t.Run("every recursor failing is SERVFAIL", func(t *testing.T) {
		resp := failing.mustExchange(t, "udp", question("www.example.com.", dns.TypeA))
		if resp.Rcode != dns.RcodeServerFailure || !resp.RecursionAvailable {
			t.Errorf("rcode %s RA %v, want SERVFAIL with RA", dns.RcodeToString[resp.Rcode], resp.RecursionAvailable)
		}
	})
}

// TestHealthChangeLatency flips an instance's health in the catalog and
// measures how long until DNS answers reflect it, through the socket, from
// the moment the catalog committed the change (before it answered the
// blocking query). The 100 ms budget holds for the 95th percentile; every
// round must beat a 1 s ceiling, which still catches a follower that waits
// for its blocking query to time out. (On a shared 2-core machine under
// -race, one round in a few hundred is delayed by scheduling alone.)
func TestHealthChangeLatency(t *testing.T) {
	const rounds = 40
	const budget = 100 * time.Millisecond
	const ceiling = time.Second
	st := fixture()
	cat, addr, _ := serveFixture(t, st)
	g := startGateway(t, addr, true, func(c *daemon.Config) { c.CatalogMaxWait = time.Minute })

	webAnswers := func() int {
		resp, err := g.exchange("udp", question("web.service.consul.", dns.TypeA))
		if err != nil {
			return -1
		}
		return len(resp.Answer)
	}
	var lat []time.Duration
	for i := range rounds {
		want := 1
		st.Instances[1].Status = critical // web2 on n2
		if i%2 == 1 {
			st.Instances[1].Status = passing
			want = 2
		}
		changed := cat.Set(st)
		eventually(t, fmt.Sprintf("round %d: %d web answers", i, want), func() bool { return webAnswers() == want })
		lat = append(lat, time.Since(changed))
	}
	slices.Sort(lat)
	p50, p95, worst := lat[rounds/2], lat[rounds*95/100-1], lat[rounds-1]
	t.Logf("health change visible over UDP after: p50 %s, p95 %s, max %s (%d rounds)", p50, p95, worst, rounds)
	if p95 > budget {
		t.Errorf("p95 %s over the %s budget", p95, budget)
	}
	if worst > ceiling {
		t.Errorf("slowest change took %s, ceiling %s", worst, ceiling)
	}
}

// TestGarbagePackets throws malformed packets at both listeners and checks
// the gateway still answers.
func TestGarbagePackets(t *testing.T) {
	_, addr, _ := serveFixture(t, fixture())
	g := startGateway(t, addr, true, nil)

	hdr := func(id, flags, qd uint16) []byte {
		b := make([]byte, 12)
		binary.BigEndian.PutUint16(b[0:], id)
		binary.BigEndian.PutUint16(b[2:], flags)
		binary.BigEndian.PutUint16(b[4:], qd)
		return b
	}
	webQ := []byte{3, 'w', 'e', 'b', 7, 's', 'e', 'r', 'v', 'i', 'c', 'e', 6, 'c', 'o', 'n', 's', 'u', 'l', 0, 0, 1, 0, 1}
	garbage := [][]byte{
		{},
		{0xff},
		make([]byte, 11),
		append(hdr(1, 0x0100, 1), 0xC0, 12, 0, 1, 0, 1),                       // pointer to itself
		append(hdr(2, 0x0100, 1), 64),                                         // label too long, cut short
		hdr(3, 0x0100, 65535),                                                 // lying count
		append(hdr(4, 0x8100, 1), webQ...),                                    // a reply
		append(hdr(5, 0x0100, 1), append(slices.Repeat([]byte{63}, 5), 0)...), // labels cut short
		slices.Repeat([]byte{0xC0, 0x0C}, 600),                                // pointers all the way
		append(hdr(6, 0x0100, 2), append(slices.Clone(webQ), webQ...)...),     // two questions
	}
	for i, p := range garbage {
		conn, err := net.Dial("udp", g.udp)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(p); err != nil && len(p) > 0 {
			t.Fatalf("packet %d: %v", i, err)
		}
		conn.Close()
	}

	// Over TCP: garbage behind a length prefix, a prefix promising 65535
	// bytes then nothing, and a connection closed mid-length.
	for _, p := range [][]byte{
		append([]byte{0, 4}, 0xde, 0xad, 0xbe, 0xef),
		{0xff, 0xff, 1, 2, 3},
		{0},
	} {
		conn, err := net.Dial("tcp", g.tcp)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write(p)
		conn.Close()
	}
	// A connection that sends half a message and waits must not block
	// others.
	stalled, err := net.Dial("tcp", g.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	_, _ = stalled.Write([]byte{0, 200, 1, 2})

	for _, network := range []string{"udp", "tcp"} {
		resp := g.mustExchange(t, network, question("web.service.consul.", dns.TypeA))
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 2 {
			t.Errorf("after garbage over %s: rcode %s, %d answers", network, dns.RcodeToString[resp.Rcode], len(resp.Answer))
		}
	}

	// Zero and two questions get FORMERR, as from Consul.
	for _, qd := range []uint16{0, 2} {
		pkt := hdr(7, 0x0100, qd)
		for range qd {
			pkt = append(pkt, webQ...)
		}
		conn, err := net.Dial("udp", g.udp)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(deadline))
		if _, err := conn.Write(pkt); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		n, err := conn.Read(buf)
		conn.Close()
		if err != nil {
			t.Fatalf("%d questions: no reply: %v", qd, err)
		}
		var resp dns.Msg
		if err := resp.Unpack(buf[:n]); err != nil {
			t.Fatalf("%d questions: reply does not parse: %v", qd, err)
		}
		if resp.Rcode != dns.RcodeFormatError {
			t.Errorf("%d questions: %s, want FORMERR", qd, dns.RcodeToString[resp.Rcode])
		}
	}
	if v, _ := gauge(t, g.reg, "beacon_dnsgw_invalid_packets_total"); v == 0 {
		t.Error("no invalid packet counted")
	}
}

// TestCatalogGoesAway stops the catalog: answers continue from the last
// view, whose age the metrics then report.
func TestCatalogGoesAway(t *testing.T) {
	_, addr, stop := serveFixture(t, fixture())
	g := startGateway(t, addr, true, nil)

	stop()
	eventually(t, "a catalog error", func() bool {
		v, _ := gauge(t, g.reg, "beacon_dnsgw_catalog_errors_total")
		return v > 0
	})
	eventually(t, "a view age above 0", func() bool {
		v, _ := gauge(t, g.reg, "beacon_dnsgw_view_age_seconds")
		return v > 0
	})
	for _, network := range []string{"udp", "tcp"} {
		resp := g.mustExchange(t, network, question("web.service.consul.", dns.TypeSRV))
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 2 {
			t.Errorf("over %s with the catalog gone: rcode %s, %d answers", network, dns.RcodeToString[resp.Rcode], len(resp.Answer))
		}
	}
}

func TestServfailBeforeFirstView(t *testing.T) {
	g := startGateway(t, deadAddr(t), false, nil)
	resp := g.mustExchange(t, "udp", question("web.service.consul.", dns.TypeA))
	if resp.Rcode != dns.RcodeServerFailure || resp.Authoritative {
		t.Errorf("rcode %s AA %v, want SERVFAIL without AA", dns.RcodeToString[resp.Rcode], resp.Authoritative)
	}
	resp = g.mustExchange(t, "tcp", question("www.example.com.", dns.TypeA))
	if resp.Rcode != dns.RcodeRefused {
		t.Errorf("outside the domain: %s, want REFUSED", dns.RcodeToString[resp.Rcode])
	}
}

func TestMetrics(t *testing.T) {
	_, addr, _ := serveFixture(t, fixture())
	metricsAddr := deadAddr(t) // a free port, for TCP too in practice
	g := startGateway(t, addr, true, func(c *daemon.Config) { c.MetricsAddr = metricsAddr })
	g.mustExchange(t, "udp", question("web.service.consul.", dns.TypeA))
	g.mustExchange(t, "udp", question("nope.service.consul.", dns.TypeA))

	// A reply is counted after it is written, so the client may see it
	// first: wait for the count.
	queries := func(rcode string) float64 {
		labels := map[string]string{"qtype": "A", "rcode": rcode}
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if n := counter(t, g.reg, "beacon_dnsgw_queries_total", labels); n > 0 {
				return n
			}
		}
		return 0
	}
	if got := queries("NXDOMAIN"); got != 1 {
		t.Errorf("A/NXDOMAIN queries %v, want 1", got)
	}
	if got := queries("NOERROR"); got < 1 {
		t.Errorf("A/NOERROR queries %v, want at least 1", got)
	}
	for name, want := range map[string]float64{"beacon_dnsgw_view_nodes": 3, "beacon_dnsgw_view_instances": 6, "beacon_dnsgw_view_age_seconds": 0} {
		if got, ok := gauge(t, g.reg, name); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}

	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"beacon_dnsgw_queries_total", "beacon_dnsgw_query_duration_seconds_bucket", "beacon_dnsgw_view_age_seconds"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	cfg := daemon.DefaultConfig()
	cfg.Domain = ""
	cfg.Logger = testLogger(t)
	if err := daemon.Run(t.Context(), cfg); err == nil {
		t.Error("Run accepted an empty domain")
	}
}

func TestTokenReachesCatalog(t *testing.T) {
	cat, addr, _ := serveFixture(t, fixture())
	startGateway(t, addr, true, func(c *daemon.Config) { c.Token = "s3cret" })
	if got := cat.LastToken(); got != "s3cret" {
		t.Errorf("catalog saw token %q, want s3cret", got)
	}
}
