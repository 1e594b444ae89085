package main

import (
	"fmt"
	"time"

	"github.com/miekg/dns"
)

// waitDNS asks addr for qname/qtype until it answers NOERROR with at least
// one record, so dnsperf never measures a server that is still starting.
func waitDNS(addr, qname, qtype string, timeout time.Duration) error {
	t, ok := dns.StringToType[qtype]
	if !ok {
		return fmt.Errorf("unknown qtype %q", qtype)
	}
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	q := new(dns.Msg).SetQuestion(dns.Fqdn(qname), t)
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		m, _, err := c.Exchange(q, addr)
		switch {
		case err != nil:
			last = err.Error()
		case m.Rcode != dns.RcodeSuccess || len(m.Answer) == 0:
			last = fmt.Sprintf("rcode %s, %d answers", dns.RcodeToString[m.Rcode], len(m.Answer))
		default:
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s %s @%s: %s after %s", qname, qtype, addr, last, timeout)
}
