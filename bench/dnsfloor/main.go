// Command dnsfloor is the floor of Beacon's DNS benchmarks: a bare
// miekg/dns server that answers web.service.consul A (one record) and SRV
// (one record, its target's A as glue) from memory, TTL 0, and nothing
// else. Whatever beacon-dnsgw costs beyond this is lookup, view and answer
// building; whatever this costs is miekg/dns, the kernel and the load
// generator on this machine.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/miekg/dns"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8653", "UDP (and TCP) address to answer on")
	name := flag.String("name", "web.service.consul.", "the one name answered")
	target := flag.String("target", "node-0000.node.dc1.consul.", "SRV target (its A goes in the additional section)")
	ip := flag.String("ip", "10.0.0.1", "the A record")
	flag.Parse()

	h, err := newHandler(*name, *target, *ip)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dnsfloor:", err)
		os.Exit(2)
	}
	udp := &dns.Server{Addr: *addr, Net: "udp", Handler: h}
	tcp := &dns.Server{Addr: *addr, Net: "tcp", Handler: h}
	errc := make(chan error, 2)
	go func() { errc <- udp.ListenAndServe() }()
	go func() { errc <- tcp.ListenAndServe() }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "dnsfloor:", err)
		os.Exit(1)
	case <-sig:
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	}
}

// handler holds the records, built once.
type handler struct {
	name string
	a    dns.RR
	srv  dns.RR
	glue dns.RR
}

func newHandler(name, target, ip string) (*handler, error) {
	addr := net.ParseIP(ip).To4()
	if addr == nil {
		return nil, fmt.Errorf("-ip %q is not an IPv4 address", ip)
	}
	name, target = dns.Fqdn(name), dns.Fqdn(target)
	hdr := func(n string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: n, Rrtype: t, Class: dns.ClassINET, Ttl: 0}
	}
	return &handler{
		name: strings.ToLower(name),
		a:    &dns.A{Hdr: hdr(name, dns.TypeA), A: addr},
		srv:  &dns.SRV{Hdr: hdr(name, dns.TypeSRV), Priority: 1, Weight: 1, Port: 8080, Target: target},
		glue: &dns.A{Hdr: hdr(target, dns.TypeA), A: addr},
	}, nil
}

func (h *handler) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	_ = w.WriteMsg(h.answer(r))
}

func (h *handler) answer(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Compress = true // as every real server (and Consul) does
	if len(r.Question) != 1 || strings.ToLower(r.Question[0].Name) != h.name {
		m.Rcode = dns.RcodeNameError
		return m
	}
	switch r.Question[0].Qtype {
	case dns.TypeA:
		m.Answer = []dns.RR{h.a}
	case dns.TypeSRV:
		m.Answer = []dns.RR{h.srv}
		m.Extra = []dns.RR{h.glue}
	}
	return m
}
