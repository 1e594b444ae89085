package main

import (
	"testing"

	"github.com/miekg/dns"
)

func TestAnswer(t *testing.T) {
	h, err := newHandler("web.service.consul", "node-0000.node.dc1.consul", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	q := new(dns.Msg).SetQuestion("WEB.service.consul.", dns.TypeSRV)
	m := h.answer(q)
	if len(m.Answer) != 1 || len(m.Extra) != 1 || !m.Authoritative {
		t.Fatalf("SRV answer = %v", m)
	}
	if m := h.answer(new(dns.Msg).SetQuestion("db.service.consul.", dns.TypeA)); m.Rcode != dns.RcodeNameError {
		t.Fatalf("unknown name: rcode %d", m.Rcode)
	}
}

// BenchmarkAnswerPack is the floor's per-query CPU without sockets: build
// the reply and pack it, as WriteMsg does.
func BenchmarkAnswerPack(b *testing.B) {
	h, _ := newHandler("web.service.consul", "node-0000.node.dc1.consul", "10.0.0.1")
	for _, qt := range []uint16{dns.TypeA, dns.TypeSRV} {
		q := new(dns.Msg).SetQuestion("web.service.consul.", qt)
		b.Run(dns.TypeToString[qt], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.answer(q).Pack(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
