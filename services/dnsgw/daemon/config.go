// Package daemon runs the DNS gateway: UDP and TCP listeners answering from
// a view of the catalog that a follower keeps current, recursion for other
// names, and metrics. The beacon-dnsgw binary and `beacon agent -dev` both
// build a Config and call Run.
package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/beaconmesh/beacon/services/dnsgw/recursor"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures the DNS gateway.
type Config struct {
	// Addr is the UDP and TCP listen address (default 127.0.0.1:8600).
	Addr string
	// UDPConn and TCPListener, when set, are served instead of listening
	// on Addr (each independently). Run closes them when it returns.
	UDPConn     net.PacketConn
	TCPListener net.Listener
	// CatalogAddrs are the catalog replicas' gRPC addresses
	// (default 127.0.0.1:8502).
	CatalogAddrs []string
	// CatalogTLS, when set, secures the catalog link (mutual TLS if it
	// carries a client certificate); nil means plaintext.
	CatalogTLS *tls.Config
	// Token is the ACL token sent with every catalog call (Consul's DNS
	// uses the agent's default token); empty sends none.
	Token string
	// Domain (default "consul.") and AltDomain (optional) are the zones
	// answered; answers use the one a question named.
	Domain, AltDomain string
	// Datacenter is the local datacenter (default "dc1").
	Datacenter string
	// Recursors answer names outside the domains ("ip" or "ip:port",
	// tried in order); none means such names are refused.
	Recursors []string
	// RecursorTimeout bounds one exchange with one recursor (default 2s).
	RecursorTimeout time.Duration
	// NodeTTL and ServiceTTL are record TTLs (default 0, as Consul).
	NodeTTL, ServiceTTL time.Duration
	// OnlyPassing leaves instances with a warning check out of answers.
	OnlyPassing bool
	// ARecordLimit caps the address records of an answer (0: no cap).
	ARecordLimit int
	// UDPAnswerLimit caps the answers of a UDP reply without EDNS0
	// (default 3, as Consul; at most 8 count).
	UDPAnswerLimit int
	// CatalogMaxWait is how long each blocking query may wait for a change
	// (default 5m); changes arrive as soon as the catalog answers.
	CatalogMaxWait time.Duration
	// MetricsAddr, when set, serves GET /metrics there over HTTP: the
	// Registerer's metrics if it is also a prometheus.Gatherer, else a
	// registry of the gateway's own.
	MetricsAddr string
	// Logger receives the gateway's logs (default: discarded).
	Logger *slog.Logger
	// Registerer receives the gateway's metrics; nil means none are
	// registered unless MetricsAddr is set.
	Registerer prometheus.Registerer
}

// DefaultConfig returns Consul's defaults.
func DefaultConfig() Config {
	return Config{
		Addr:            "127.0.0.1:8600",
		CatalogAddrs:    []string{"127.0.0.1:8502"},
		Domain:          "consul.",
		Datacenter:      "dc1",
		RecursorTimeout: recursor.DefaultTimeout,
		UDPAnswerLimit:  3,
		CatalogMaxWait:  5 * time.Minute,
	}
}

// maxTTL is the largest TTL a record can carry.
const maxTTL = time.Duration(1<<31-1) * time.Second

// Validate reports every field that is wrong, joined into one error.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.UDPConn == nil || c.TCPListener == nil {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			bad("addr %q: %w", c.Addr, err)
		}
	}
	if len(c.CatalogAddrs) == 0 {
		bad("catalog addrs: need at least one")
	}
	for _, a := range c.CatalogAddrs {
		if _, _, err := net.SplitHostPort(strings.TrimSpace(a)); err != nil {
			bad("catalog addr %q: %w", a, err)
		}
	}
	domain := dns.CanonicalName(strings.TrimSpace(c.Domain))
	if _, ok := dns.IsDomainName(domain); !ok || domain == "." {
		bad("domain %q: want a domain name below the root", c.Domain)
	}
	if c.AltDomain != "" {
		alt := dns.CanonicalName(strings.TrimSpace(c.AltDomain))
		if _, ok := dns.IsDomainName(alt); !ok || alt == "." {
			bad("alt domain %q: want a domain name below the root", c.AltDomain)
		} else if alt == domain {
			bad("alt domain %q: same as the domain", c.AltDomain)
		}
	}
	if c.Datacenter == "" || strings.ContainsAny(c.Datacenter, ". ") {
		bad("datacenter %q: want one DNS label", c.Datacenter)
	} else if _, ok := dns.IsDomainName(c.Datacenter); !ok {
		bad("datacenter %q: want one DNS label", c.Datacenter)
	}
	for _, r := range c.Recursors {
		if _, err := recursor.Normalize(r); err != nil {
			errs = append(errs, err)
		}
	}
	if c.RecursorTimeout < 0 {
		bad("recursor timeout %s: negative", c.RecursorTimeout)
	}
	if c.NodeTTL < 0 || c.NodeTTL > maxTTL {
		bad("node ttl %s: want 0 to %s", c.NodeTTL, maxTTL)
	}
	if c.ServiceTTL < 0 || c.ServiceTTL > maxTTL {
		bad("service ttl %s: want 0 to %s", c.ServiceTTL, maxTTL)
	}
	if c.ARecordLimit < 0 {
		bad("a record limit %d: negative", c.ARecordLimit)
	}
	if c.UDPAnswerLimit < 0 {
		bad("udp answer limit %d: negative", c.UDPAnswerLimit)
	}
	if c.CatalogMaxWait < 0 {
		bad("catalog max wait %s: negative", c.CatalogMaxWait)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("metrics addr %q: %w", c.MetricsAddr, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("dnsgw config: %w", errors.Join(errs...))
	}
	return nil
}
