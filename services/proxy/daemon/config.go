// Package daemon runs a Connect proxy: it resolves what to proxy (a
// sidecar registration on the local agent, or flags), keeps a leaf
// certificate, the intentions and the upstreams' instances current, and
// serves the public and upstream listeners until stopped. beacon-proxy and
// `beacon connect proxy` both call Run.
package daemon

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Upstream is one upstream listener: plain TCP on BindAddr, proxied in
// mutual TLS to a healthy instance of Service.
type Upstream struct {
	Service string
	// BindAddr is "host:port"; the host defaults to 127.0.0.1.
	BindAddr string
	// ConnectTimeout bounds each attempt (0: 10s).
	ConnectTimeout time.Duration
}

// ParseUpstream reads the -upstream flag's "<service>:<local port>".
func ParseUpstream(s string) (Upstream, error) {
	name, port, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return Upstream{}, fmt.Errorf("upstream %q: want <service>:<local port>", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return Upstream{}, fmt.Errorf("upstream %q: local port %q is not a port number", s, port)
	}
	return Upstream{Service: name, BindAddr: net.JoinHostPort("127.0.0.1", port)}, nil
}

// Config configures a proxy. Either SidecarFor is set (everything else
// about the service comes from the agent) or Service is.
type Config struct {
	// CatalogAddrs are the catalog's gRPC addresses (CA, intentions,
	// health).
	CatalogAddrs []string
	// AgentAddr is the local node agent's gRPC address, used with
	// SidecarFor and to learn the datacenter.
	AgentAddr string
	// SidecarFor is the ID (or, when no ID matches, the name) of the local
	// service instance whose sidecar registration this proxy serves.
	SidecarFor string
	// Service is the service this proxy represents when SidecarFor is
	// empty.
	Service string
	// Upstreams are added to the sidecar registration's.
	Upstreams []Upstream
	// Listen is the public listener's address with Service ("" : none);
	// ServiceAddr is the local app it forwards to.
	Listen      string
	ServiceAddr string
	// Datacenter goes in the leaf's SPIFFE ID; empty asks the agent, then
	// the catalog.
	Datacenter string
	// Token is sent with every catalog and agent call.
	Token string
	// MetricsAddr serves Prometheus /metrics when set.
	MetricsAddr string
	// HandshakeTimeout bounds an inbound TLS handshake (default 10s);
	// LocalConnectTimeout the dial of the local app (default 1s, as
	// Consul's local_connect_timeout_ms); DrainTimeout how long live
	// connections may go on after a stop (default 5s).
	HandshakeTimeout    time.Duration
	LocalConnectTimeout time.Duration
	DrainTimeout        time.Duration
	Logger              *slog.Logger
	// Banner receives the startup lines Consul's proxy prints on stdout,
	// ending with the ready line scripts wait for (nil: none); logs go to
	// Logger, never here.
	Banner io.Writer
	// Registerer receives the metrics (default: a registry of the
	// proxy's own, served on MetricsAddr).
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
}

// DefaultConfig returns Consul's defaults.
func DefaultConfig() Config {
	return Config{
		CatalogAddrs:        []string{"127.0.0.1:8502"},
		AgentAddr:           "127.0.0.1:8503",
		HandshakeTimeout:    10 * time.Second,
		LocalConnectTimeout: time.Second,
		DrainTimeout:        5 * time.Second,
	}
}

// Validate reports every problem in c at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.CatalogAddrs) == 0 {
		errs = append(errs, errors.New("-catalog: at least one address is required"))
	}
	for _, a := range c.CatalogAddrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("-catalog %q: %w", a, err))
		}
	}
	switch {
	case c.SidecarFor != "" && c.Service != "":
		errs = append(errs, errors.New("-sidecar-for and -service cannot be used together"))
	case c.SidecarFor == "" && c.Service == "":
		errs = append(errs, errors.New("one of -sidecar-for or -service is required"))
	}
	if c.SidecarFor != "" {
		if _, _, err := net.SplitHostPort(c.AgentAddr); err != nil {
			errs = append(errs, fmt.Errorf("-agent-addr %q: %w", c.AgentAddr, err))
		}
		if c.Listen != "" || c.ServiceAddr != "" {
			errs = append(errs, errors.New("-listen and -service-addr only go with -service"))
		}
	}
	if (c.Listen == "") != (c.ServiceAddr == "") && c.SidecarFor == "" {
		errs = append(errs, errors.New("-listen and -service-addr go together"))
	}
	for name, a := range map[string]string{"-listen": c.Listen, "-service-addr": c.ServiceAddr, "-metrics-addr": c.MetricsAddr} {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", name, a, err))
		}
	}
	seen := map[string]bool{}
	for _, u := range c.Upstreams {
		if u.Service == "" {
			errs = append(errs, fmt.Errorf("upstream on %q: no service", u.BindAddr))
		}
		if _, _, err := net.SplitHostPort(u.BindAddr); err != nil {
			errs = append(errs, fmt.Errorf("upstream %q: bind address %q: %w", u.Service, u.BindAddr, err))
		}
		if seen[u.BindAddr] {
			errs = append(errs, fmt.Errorf("upstream %q: bind address %q is used twice", u.Service, u.BindAddr))
		}
		seen[u.BindAddr] = true
	}
	return errors.Join(errs...)
}
