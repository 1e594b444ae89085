// Package recursor forwards queries for names outside the gateway's
// domains to upstream resolvers, in order: UDP first, TCP when the UDP
// answer is truncated, the next upstream when one fails or times out.
package recursor

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DefaultTimeout bounds one exchange with one upstream (Consul's
// recursor_timeout).
const DefaultTimeout = 2 * time.Second

// Recursor forwards queries to a fixed list of upstreams.
type Recursor struct {
	addrs   []string
	timeout time.Duration
}

// New returns a Recursor over addrs ("host", "host:port", "[v6]:port"; the
// port defaults to 53). timeout bounds each exchange (0: DefaultTimeout).
func New(addrs []string, timeout time.Duration) (*Recursor, error) {
	if len(addrs) == 0 {
		return nil, errors.New("recursor: no upstream address")
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	r := &Recursor{timeout: timeout}
	for _, a := range addrs {
		norm, err := Normalize(a)
		if err != nil {
			return nil, err
		}
		r.addrs = append(r.addrs, norm)
	}
	return r, nil
}

// Normalize returns addr as host:port, adding port 53 when it has none. The
// host must be an IP: resolving it would need a resolver.
func Normalize(addr string) (string, error) {
	a := strings.TrimSpace(addr)
	if ip, err := netip.ParseAddr(strings.Trim(a, "[]")); err == nil {
		return netip.AddrPortFrom(ip, 53).String(), nil
	}
	ap, err := netip.ParseAddrPort(a)
	if err != nil {
		return "", fmt.Errorf("recursor: address %q: want an IP with an optional port", addr)
	}
	if ap.Port() == 0 {
		return "", fmt.Errorf("recursor: address %q: port 0", addr)
	}
	return ap.String(), nil
}

// Addrs returns the upstreams in the order they are tried.
func (r *Recursor) Addrs() []string { return append([]string(nil), r.addrs...) }

// Exchange sends req to each upstream in turn and returns the first answer
// that is NOERROR or NXDOMAIN; other codes, timeouts and network errors
// move on to the next. The answer carries the upstream's message ID, not
// req's. It fails when every upstream did.
func (r *Recursor) Exchange(ctx context.Context, req *dns.Msg) (*dns.Msg, error) {
	out := req.Copy()
	out.Id = dns.Id()
	var errs []error
	for _, addr := range r.addrs {
		resp, err := r.exchangeOne(ctx, out, addr)
		if err == nil {
			if resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError {
				return resp, nil
			}
			err = fmt.Errorf("rcode %s", dns.RcodeToString[resp.Rcode])
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("recursor: every upstream failed: %w", errors.Join(errs...))
}

func (r *Recursor) exchangeOne(ctx context.Context, req *dns.Msg, addr string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	udp := &dns.Client{Net: "udp", UDPSize: dns.DefaultMsgSize, Timeout: r.timeout}
	resp, _, err := udp.ExchangeContext(ctx, req, addr)
	if err != nil {
		return nil, err
	}
	if !resp.Truncated {
		return resp, nil
	}
	tcp := &dns.Client{Net: "tcp", Timeout: r.timeout}
	resp, _, err = tcp.ExchangeContext(ctx, req, addr)
	if err != nil {
		return nil, fmt.Errorf("tcp after truncated udp answer: %w", err)
	}
	return resp, nil
}
