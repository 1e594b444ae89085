package e2e

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/miekg/dns"
)

// dnsQuery asks the agent's DNS port one question over net ("udp" or
// "tcp") with miekg/dns, as dig would (recursion desired, EDNS0 4096).
func dnsQuery(addr, network, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(4096, false)
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s over %s: %w", name, dns.TypeToString[qtype], network, err)
	}
	return r, nil
}

func mustQuery(t *testing.T, addr, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	r, err := dnsQuery(addr, network, name, qtype)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// aRecords lists the A addresses in rrs, sorted.
func aRecords(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	sort.Strings(out)
	return out
}

// srvRecords lists "port target" of the SRV records in rrs, sorted.
func srvRecords(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, fmt.Sprintf("%d %s", s.Port, s.Target))
		}
	}
	sort.Strings(out)
	return out
}

// glue maps the A records of the additional section by owner name.
func glue(rrs []dns.RR) map[string]string {
	out := map[string]string{}
	for _, rr := range rrs {
		if a, ok := rr.(*dns.A); ok {
			out[a.Hdr.Name] = a.A.String()
		}
	}
	return out
}

func hasSOA(rrs []dns.RR) bool {
	return slices.ContainsFunc(rrs, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeSOA })
}

// TestDNSNameForms registers services through the HTTP API and resolves
// every name form with a real DNS client over UDP and TCP.
func TestDNSNameForms(t *testing.T) {
	t.Parallel()
	a, c := startAgent(t)
	register(t, c, webInstance("n1", "10.0.0.1", "web-1", []string{"rails"}, nil, consulapi.HealthPassing))
	register(t, c, webInstance("n2", "10.0.0.2", "web-2", []string{"v2"}, nil, consulapi.HealthPassing))
	register(t, c, webInstance("n3", "10.0.0.3", "web-3", []string{"rails"}, nil, consulapi.HealthCritical))
	register(t, c, &consulapi.CatalogRegistration{Node: "bare", Address: "10.0.0.9"})

	// The gateway follows the catalog; wait until it has caught up.
	waitFor(t, 10*time.Second, "DNS sees web and bare", func() error {
		r, err := dnsQuery(a.DNSAddr, "udp", "web.service.consul", dns.TypeA)
		if err != nil {
			return err
		}
		if got := aRecords(r.Answer); !slices.Equal(got, []string{"10.0.0.1", "10.0.0.2"}) {
			return fmt.Errorf("web.service.consul A = %v", got)
		}
		r, err = dnsQuery(a.DNSAddr, "udp", "bare.node.consul", dns.TypeA)
		if err != nil {
			return err
		}
		if len(r.Answer) == 0 {
			return fmt.Errorf("bare.node.consul: %s", dns.RcodeToString[r.Rcode])
		}
		return nil
	})

	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			r := mustQuery(t, a.DNSAddr, network, "web.service.consul", dns.TypeA)
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative || !slices.Equal(aRecords(r.Answer), []string{"10.0.0.1", "10.0.0.2"}) {
				t.Errorf("web.service.consul A: %s aa=%v %v; want the two passing instances", dns.RcodeToString[r.Rcode], r.Authoritative, aRecords(r.Answer))
			}

			r = mustQuery(t, a.DNSAddr, network, "web.service.consul", dns.TypeSRV)
			want := []string{"8080 n1.node.dc1.consul.", "8080 n2.node.dc1.consul."}
			if got := srvRecords(r.Answer); !slices.Equal(got, want) {
				t.Errorf("web.service.consul SRV = %v, want %v", got, want)
			}
			if g := glue(r.Extra); g["n1.node.dc1.consul."] != "10.0.0.1" || g["n2.node.dc1.consul."] != "10.0.0.2" {
				t.Errorf("web.service.consul SRV additional = %v, want the targets' A records", g)
			}

			r = mustQuery(t, a.DNSAddr, network, "rails.web.service.consul", dns.TypeA)
			if got := aRecords(r.Answer); !slices.Equal(got, []string{"10.0.0.1"}) {
				t.Errorf("rails.web.service.consul A = %v, want [10.0.0.1] (n3 is critical)", got)
			}

			r = mustQuery(t, a.DNSAddr, network, "_web._tcp.service.consul", dns.TypeSRV)
			if got := srvRecords(r.Answer); !slices.Equal(got, want) {
				t.Errorf("_web._tcp.service.consul SRV = %v, want %v", got, want)
			}
			if len(glue(r.Extra)) != 2 {
				t.Errorf("_web._tcp.service.consul SRV additional = %v, want glue for both targets", r.Extra)
			}
			r = mustQuery(t, a.DNSAddr, network, "_web._rails.service.consul", dns.TypeSRV)
			if got := srvRecords(r.Answer); !slices.Equal(got, []string{"8080 n1.node.dc1.consul."}) {
				t.Errorf("_web._rails.service.consul SRV = %v, want n1 only", got)
			}

			for name, ip := range map[string]string{
				"n1.node.consul": "10.0.0.1", "n2.node.dc1.consul": "10.0.0.2", "bare.node.consul": "10.0.0.9",
				devNode + ".node.consul": "127.0.0.1",
			} {
				r = mustQuery(t, a.DNSAddr, network, name, dns.TypeA)
				if got := aRecords(r.Answer); !slices.Equal(got, []string{ip}) {
					t.Errorf("%s A = %v, want [%s]", name, got, ip)
				}
			}

			for _, name := range []string{"nope.service.consul", "nope.node.consul", "v9.web.service.consul", "web.service.dc9.consul"} {
				r = mustQuery(t, a.DNSAddr, network, name, dns.TypeA)
				if r.Rcode != dns.RcodeNameError || !hasSOA(r.Ns) || len(r.Answer) != 0 {
					t.Errorf("%s: %s, %d answers, authority %v; want NXDOMAIN with the SOA", name, dns.RcodeToString[r.Rcode], len(r.Answer), r.Ns)
				}
			}

			r = mustQuery(t, a.DNSAddr, network, "WEB.Service.CONSUL", dns.TypeA)
			if got := aRecords(r.Answer); !slices.Equal(got, []string{"10.0.0.1", "10.0.0.2"}) {
				t.Errorf("WEB.Service.CONSUL A = %v; names are case-insensitive", got)
			}
			r = mustQuery(t, a.DNSAddr, network, "Rails.WEB.service.consul", dns.TypeSRV)
			if got := srvRecords(r.Answer); len(got) != 1 {
				t.Errorf("Rails.WEB.service.consul SRV = %v; tags are case-insensitive", got)
			}
		})
	}
}

// TestDNSHealthChangeLatency flips an instance's check to critical through
// the HTTP API and measures the time from the write's response to the DNS
// answer leaving the instance out, and back. It runs alone, not in
// parallel, so the figures mean something; the bar is a p99 of 100 ms.
func TestDNSHealthChangeLatency(t *testing.T) {
	a, c := startAgent(t)
	register(t, c, webInstance("n2", "10.0.0.2", "web-2", nil, nil, consulapi.HealthPassing))
	flip := webInstance("n1", "10.0.0.1", "web-1", nil, nil, consulapi.HealthPassing)
	register(t, c, flip)

	// answers polls the DNS until web.service.consul is want, and returns
	// when it first was.
	answers := func(want []string) (time.Time, error) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			r, err := dnsQuery(a.DNSAddr, "udp", "web.service.consul", dns.TypeA)
			now := time.Now()
			if err == nil && slices.Equal(aRecords(r.Answer), want) {
				return now, nil
			}
			if now.After(deadline) {
				if err == nil {
					err = fmt.Errorf("answer %v", aRecords(r.Answer))
				}
				return now, fmt.Errorf("web.service.consul not %v within 5s: %w", want, err)
			}
		}
	}
	both, onlyN2 := []string{"10.0.0.1", "10.0.0.2"}, []string{"10.0.0.2"}
	if _, err := answers(both); err != nil {
		t.Fatal(err)
	}

	const rounds = 20
	var down, up []time.Duration
	for round := range rounds {
		flip.Checks[0].Status = consulapi.HealthCritical
		flip.Checks[0].Output = fmt.Sprintf("round %d", round)
		register(t, c, flip)
		written := time.Now()
		at, err := answers(onlyN2)
		if err != nil {
			t.Fatalf("round %d, to critical: %v", round, err)
		}
		down = append(down, at.Sub(written))

		flip.Checks[0].Status = consulapi.HealthPassing
		register(t, c, flip)
		written = time.Now()
		at, err = answers(both)
		if err != nil {
			t.Fatalf("round %d, back to passing: %v", round, err)
		}
		up = append(up, at.Sub(written))
	}
	p99 := percentile(down, 99)
	t.Logf("DNS drops a critical instance after the HTTP write returned, %d rounds: median %s, p99 %s; all: %s",
		rounds, percentile(down, 50).Round(100*time.Microsecond), p99.Round(100*time.Microsecond), fmtDurations(down))
	t.Logf("DNS takes it back once passing: median %s, p99 %s; all: %s",
		percentile(up, 50).Round(100*time.Microsecond), percentile(up, 99).Round(100*time.Microsecond), fmtDurations(up))
	if p99 > 100*time.Millisecond {
		t.Errorf("p99 of the DNS health-change latency is %s, want ≤ 100ms", p99)
	}
	if p99 := percentile(up, 99); p99 > 100*time.Millisecond {
		t.Errorf("p99 of the DNS recovery latency is %s, want ≤ 100ms", p99)
	}
}

// TestDNSOutsideTheDomain checks that names outside consul. get a bare
// REFUSED (no recursors configured), and the apex a SOA.
func TestDNSOutsideTheDomain(t *testing.T) {
	t.Parallel()
	a, _ := startAgent(t)
	r := mustQuery(t, a.DNSAddr, "udp", "example.com", dns.TypeA)
	if r.Rcode != dns.RcodeRefused {
		t.Errorf("example.com: %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	r = mustQuery(t, a.DNSAddr, "udp", "consul", dns.TypeSOA)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !strings.HasPrefix(r.Answer[0].String(), "consul.") {
		t.Errorf("consul. SOA: %s %v", dns.RcodeToString[r.Rcode], r.Answer)
	}
}
