package probe

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// DNSCheck is healthy when the DNS server at addr answers an A query for
// name over UDP with NOERROR (records, or none of that type). For a Beacon
// DNS gateway, "consul.service.consul." is a good name: the catalog
// replicas register it, so NOERROR proves the gateway's view of the
// catalog is loaded, not only that its socket is open.
func DNSCheck(name string) Check {
	return func(ctx context.Context, addr string) error {
		_, err := DNSQuery(ctx, addr, name)
		return err
	}
}

// DNSQuery sends one A query for name to addr over UDP and returns the
// number of answer records of a NOERROR reply; any other rcode is an error.
func DNSQuery(ctx context.Context, addr, name string) (int, error) {
	qname, err := dnsmessage.NewName(name)
	if err != nil {
		return 0, fmt.Errorf("dns name %q: %w", name, err)
	}
	id := uint16(rand.Uint32())
	msg := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: qname, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}},
	}
	packed, err := msg.Pack()
	if err != nil {
		return 0, fmt.Errorf("pack dns query: %w", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return 0, fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(2 * time.Second)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return 0, fmt.Errorf("dns deadline: %w", err)
	}
	if _, err := conn.Write(packed); err != nil {
		return 0, fmt.Errorf("send dns query to %s: %w", addr, err)
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return 0, fmt.Errorf("dns reply from %s: %w", addr, err)
		}
		var reply dnsmessage.Message
		if err := reply.Unpack(buf[:n]); err != nil {
			return 0, fmt.Errorf("dns reply from %s: %w", addr, err)
		}
		if reply.Header.ID != id || !reply.Header.Response {
			continue // not ours: keep reading until the deadline
		}
		if rc := reply.Header.RCode; rc != dnsmessage.RCodeSuccess {
			return 0, fmt.Errorf("%s answered %s for %s", addr, rc, name)
		}
		return len(reply.Answers), nil
	}
}
