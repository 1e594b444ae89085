// Package answer turns DNS questions into answers from a catalog view:
// Consul's node, service, RFC 2782, connect, addr and reverse lookups, the
// negative answers that carry the SOA, EDNS0 and the size limits of UDP.
// Answering from a view is a pure function (Respond); the Handler wraps it
// with the view of the moment, recursion for names outside the domain, and
// an observation hook for metrics.
package answer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/beaconmesh/beacon/services/dnsgw/view"
	"github.com/miekg/dns"
)

// Views hands out the newest view, or nil before there is one.
// *view.Follower satisfies it.
type Views interface {
	View() *view.View
}

// Recursor resolves names outside the gateway's domains. It returns an
// error only when no upstream gave a usable answer.
type Recursor interface {
	Exchange(ctx context.Context, req *dns.Msg) (*dns.Msg, error)
}

// Config configures a Handler.
type Config struct {
	// Domain and AltDomain are the zones answered (AltDomain optional).
	Domain, AltDomain string
	// Datacenter is the local datacenter, the only one in the view.
	Datacenter string
	// NodeTTL and ServiceTTL are the TTLs of node and service records.
	NodeTTL, ServiceTTL time.Duration
	// OnlyPassing leaves out instances with a warning check.
	OnlyPassing bool
	// ARecordLimit caps the address records of one answer (0: no cap).
	ARecordLimit int
	// UDPAnswerLimit caps the answers of a UDP reply limited to 512 bytes
	// (no EDNS0, or EDNS0 asking for 512 or less); 0 means only the size
	// limit applies. Like Consul, values above 8 count as 8.
	UDPAnswerLimit int
	// Views supplies the view; required.
	Views Views
	// Recursor, when set, answers names outside the domains; without it
	// they are refused.
	Recursor Recursor
	// Observe, when set, is called once per reply.
	Observe func(qtype uint16, rcode int, elapsed time.Duration)
	// Logger receives debug lines about failed writes and recursion.
	Logger *slog.Logger
}

// Handler answers DNS queries; it is a dns.Handler.
type Handler struct {
	cfg     Config
	domain  string   // lower-cased FQDN
	domains []string // domain and alt domain, longest first
	dc      string   // lower-cased
	logger  *slog.Logger
	cache   atomic.Pointer[lookupCache]
}

// maxUDPAnswerLimit is Consul's ceiling on udp_answer_limit.
const maxUDPAnswerLimit = 8

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Views == nil {
		return nil, errors.New("answer: Views is required")
	}
	domain, err := canonicalZone("domain", cfg.Domain)
	if err != nil {
		return nil, err
	}
	if cfg.Datacenter == "" || strings.Contains(cfg.Datacenter, ".") {
		return nil, fmt.Errorf("answer: datacenter %q: want one DNS label", cfg.Datacenter)
	}
	if cfg.ARecordLimit < 0 || cfg.UDPAnswerLimit < 0 {
		return nil, fmt.Errorf("answer: negative a record limit %d or udp answer limit %d", cfg.ARecordLimit, cfg.UDPAnswerLimit)
	}
	h := &Handler{
		cfg:     cfg,
		domain:  domain,
		domains: []string{domain},
		dc:      strings.ToLower(cfg.Datacenter),
		logger:  cfg.Logger,
	}
	if cfg.AltDomain != "" {
		alt, err := canonicalZone("alt domain", cfg.AltDomain)
		if err != nil {
			return nil, err
		}
		if alt == domain {
			return nil, fmt.Errorf("answer: alt domain %q is the domain", cfg.AltDomain)
		}
		h.domains = append(h.domains, alt)
		if len(alt) > len(domain) {
			h.domains[0], h.domains[1] = alt, domain
		}
	}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	return h, nil
}

func canonicalZone(what, s string) (string, error) {
	z := dns.CanonicalName(strings.TrimSpace(s))
	if _, ok := dns.IsDomainName(z); !ok || z == "." {
		return "", fmt.Errorf("answer: %s %q: want a domain name below the root", what, s)
	}
	return z, nil
}

// ServeDNS answers one query read by a dns.Server.
func (h *Handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	h.ServeDNSContext(context.Background(), w, req)
}

// ServeDNSContext is ServeDNS with a context that bounds recursion; the
// daemon passes its own, so shutting down cuts waits on upstreams short.
func (h *Handler) ServeDNSContext(ctx context.Context, w dns.ResponseWriter, req *dns.Msg) {
	start := time.Now()
	tcp := false
	if a := w.LocalAddr(); a != nil {
		tcp = a.Network() == "tcp"
	}
	var rcode int
	if wire, rc, ok := h.packed(h.cfg.Views.View(), req, tcp); ok {
		rcode = rc
		if _, err := w.Write(wire); err != nil {
			h.logger.Debug("write dns reply", "error", err, "remote", w.RemoteAddr())
		}
	} else {
		resp := h.Handle(ctx, req, tcp)
		if resp == nil {
			return
		}
		rcode = resp.Rcode
		if err := w.WriteMsg(resp); err != nil {
			h.logger.Debug("write dns reply", "error", err, "remote", w.RemoteAddr())
		}
	}
	if h.cfg.Observe != nil {
		var qtype uint16
		if len(req.Question) > 0 {
			qtype = req.Question[0].Qtype
		}
		h.cfg.Observe(qtype, rcode, time.Since(start))
	}
}

// Handle answers req as received over UDP or TCP. It returns nil when no
// reply should be sent (the message is itself a reply). It never panics on
// a message dns.Msg.Unpack accepted.
func (h *Handler) Handle(ctx context.Context, req *dns.Msg, tcp bool) *dns.Msg {
	resp, forward := h.respond(h.cfg.Views.View(), req, tcp)
	if forward && h.cfg.Recursor != nil {
		return h.recurse(ctx, req, tcp)
	}
	return resp
}

// Respond answers req from v alone, as Handle would with v as the current
// view and no recursor: names outside the domains are refused.
func (h *Handler) Respond(v *view.View, req *dns.Msg, tcp bool) *dns.Msg {
	resp, _ := h.respond(v, req, tcp)
	return resp
}

// respond is the reply to req from v. forward reports a name the recursors
// may know better: one outside the domains (resp is then REFUSED), or a
// reverse name of an address outside the catalog (resp is NXDOMAIN).
func (h *Handler) respond(v *view.View, req *dns.Msg, tcp bool) (resp *dns.Msg, forward bool) {
	if req == nil || req.Response {
		return nil, false
	}
	if resp := h.checkRequest(req); resp != nil {
		return resp, false
	}
	q := req.Question[0]
	zone, rest, reverse, inZone := h.zoneOf(lowerFqdn(q.Name))
	if !inZone {
		return h.bare(req, dns.RcodeRefused), true
	}
	if v == nil {
		// No view yet: a failure of ours, not a fact about the name.
		return h.finish(req, result{rcode: dns.RcodeServerFailure}, tcp), false
	}
	res := h.cachedLookup(v, q, zone, rest, reverse)
	return h.finish(req, res, tcp), reverse && res.rcode == dns.RcodeNameError
}

// Accept is the dns.Server's first look at a message, from its header
// alone: replies are dropped unanswered (no ping-pong between servers),
// opcodes other than QUERY get NOTIMP, and anything but one question with
// empty answer and authority sections (and at most OPT plus TSIG in the
// additional one) gets FORMERR. checkRequest repeats these checks, so
// Handle is safe on its own.
func Accept(dh dns.Header) dns.MsgAcceptAction {
	const qr = 1 << 15
	if dh.Bits&qr != 0 {
		return dns.MsgIgnore
	}
	if opcode := int(dh.Bits>>11) & 0xF; opcode != dns.OpcodeQuery {
		return dns.MsgRejectNotImplemented
	}
	if dh.Qdcount != 1 || dh.Ancount != 0 || dh.Nscount != 0 || dh.Arcount > 2 {
		return dns.MsgReject
	}
	return dns.MsgAccept
}

// checkRequest returns the error reply for a query the handler will not
// look at, or nil. Like Consul (whose miekg/dns server rejects it before
// the handler runs), a query without exactly one question is FORMERR.
func (h *Handler) checkRequest(req *dns.Msg) *dns.Msg {
	if req.Opcode != dns.OpcodeQuery {
		return h.bare(req, dns.RcodeNotImplemented)
	}
	if len(req.Question) != 1 || len(req.Answer) > 0 || len(req.Ns) > 0 {
		return h.bare(req, dns.RcodeFormatError)
	}
	opts := 0
	for _, rr := range req.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opts++
		}
	}
	if opts > 1 {
		return h.bare(req, dns.RcodeFormatError)
	}
	if opt := req.IsEdns0(); opt != nil && opt.Version() != 0 {
		// RFC 6891 §6.1.3: BADVERS, with our OPT saying version 0.
		resp := h.bare(req, dns.RcodeBadVers)
		resp.Extra = append(resp.Extra, replyOPT(opt))
		return resp
	}
	switch req.Question[0].Qclass {
	case dns.ClassINET, dns.ClassANY:
	default:
		return h.bare(req, dns.RcodeNotImplemented)
	}
	return nil
}

// bare is a reply with only a code: no AA, no SOA, as Consul refuses.
func (h *Handler) bare(req *dns.Msg, rcode int) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Rcode = rcode
	resp.RecursionAvailable = h.cfg.Recursor != nil
	return resp
}

// recurse forwards a query for a name outside the domains.
func (h *Handler) recurse(ctx context.Context, req *dns.Msg, tcp bool) *dns.Msg {
	if h.cfg.Recursor == nil {
		return h.bare(req, dns.RcodeRefused)
	}
	up, err := h.cfg.Recursor.Exchange(ctx, req)
	if err != nil || up == nil {
		h.logger.Debug("recursion failed", "name", req.Question[0].Name, "error", err)
		resp := h.bare(req, dns.RcodeServerFailure)
		if opt := req.IsEdns0(); opt != nil {
			resp.Extra = append(resp.Extra, replyOPT(opt))
		}
		return resp
	}
	up.Id = req.Id
	up.Response = true
	up.Question = []dns.Question{req.Question[0]}
	up.RecursionAvailable = true
	up.Compress = true
	if !tcp {
		up.Truncate(udpSize(req))
	} else if up.Len() > dns.MaxMsgSize {
		up.Truncate(dns.MaxMsgSize)
	}
	return up
}
