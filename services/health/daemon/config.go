// Package daemon runs the node agent (beacon-health): it loads the service
// definitions of -config-dir, keeps them registered in the catalog, runs
// their checks, keeps the node a member of the cluster and serves the agent
// gRPC API. The beacon-health binary and `beacon agent -dev` both build a
// Config and call Run.
package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/beaconmesh/beacon/platform/ids"
	"github.com/beaconmesh/beacon/platform/logging"
	"github.com/prometheus/client_golang/prometheus"
)

// Version is reported in Self and in the member's build tag.
const Version = "0.1.0"

// DefaultGRPCAddr is where the agent API listens by default. Consul's
// agent API is HTTP on 8500 and the catalog's gRPC takes 8502, so the
// agent's gRPC API takes the next port (Consul's gRPC-TLS port, unused by
// Beacon).
const DefaultGRPCAddr = "127.0.0.1:8503"

// Config configures the agent.
type Config struct {
	// Node is this machine's node name (default: the host name).
	Node string
	// Datacenter is the node's datacenter (default "dc1").
	Datacenter string
	// Advertise is the node's address in the catalog (Consul's
	// -advertise). Default: the local address that routes to the first
	// catalog address.
	Advertise string
	// NodeMeta is the node's meta (Consul's -node-meta).
	NodeMeta map[string]string
	// NodeID, when set, is the node's ID (a UUID) instead of the one kept
	// in DataDir: the dev agent passes its catalog replica's, so that the
	// node has one ID everywhere, as a Consul node does.
	NodeID string
	// Server says that this node also runs a catalog replica (the dev
	// agent): Self then reports the agent as a server, as Consul does
	// for a server agent.
	Server bool
	// CatalogAddrs are the catalog replicas' gRPC addresses (default
	// 127.0.0.1:8502).
	CatalogAddrs []string
	// ConfigDirs hold *.json and *.hcl service definitions.
	ConfigDirs []string
	// DataDir keeps the node ID, and the services and checks registered
	// through the API, across restarts; empty means a new random node ID
	// each run and nothing kept.
	DataDir string
	// GRPCAddr is the agent API's address (default DefaultGRPCAddr);
	// GRPCListener, when set, is served instead and closed by Run.
	GRPCAddr     string
	GRPCListener net.Listener
	// MetricsAddr, when set, serves GET /metrics there over HTTP: the
	// Registerer's metrics if it is also a prometheus.Gatherer, else a
	// registry of the agent's own.
	MetricsAddr string
	// EnableScriptChecks allows script checks (args).
	EnableScriptChecks bool
	// AntiEntropyInterval is the period of full syncs with the catalog
	// (default 60 s, plus jitter).
	AntiEntropyInterval time.Duration
	// HeartbeatInterval (default 1 s) and HeartbeatTTL (default 5 s): the
	// catalog fails the member after HeartbeatTTL without a heartbeat.
	HeartbeatInterval, HeartbeatTTL time.Duration
	// CheckUpdateInterval bounds how often an output-only change of one
	// check is written to the catalog (default 5 m).
	CheckUpdateInterval time.Duration
	// LeaveTimeout bounds the graceful leave (default 5 s).
	LeaveTimeout time.Duration
	// SkipMembership leaves membership to someone else: the dev agent,
	// whose catalog server already is the node's member. On leave the
	// agent then deregisters its services itself.
	SkipMembership bool
	// Reload, when set, triggers a reload on every receive (SIGHUP).
	Reload <-chan struct{}
	// Logger receives the agent's logs (default: discarded).
	Logger *slog.Logger
	// Logs, when set, is the monitor of Logger's records that the agent's
	// Monitor call (GET /v1/agent/monitor) streams; without it that call
	// is UNIMPLEMENTED.
	Logs *logging.Monitor
	// Registerer receives the agent's metrics (nil: none).
	Registerer prometheus.Registerer
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Node:                host,
		Datacenter:          "dc1",
		CatalogAddrs:        []string{"127.0.0.1:8502"},
		GRPCAddr:            DefaultGRPCAddr,
		AntiEntropyInterval: time.Minute,
		HeartbeatInterval:   time.Second,
		HeartbeatTTL:        5 * time.Second,
		CheckUpdateInterval: 5 * time.Minute,
		LeaveTimeout:        5 * time.Second,
	}
}

// Validate reports every field that is wrong, joined into one error.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(c.Node) == "" {
		bad("node name is required (-node)")
	}
	if strings.TrimSpace(c.Datacenter) == "" || strings.ContainsAny(c.Datacenter, ". ") {
		bad("datacenter %q: want one DNS label", c.Datacenter)
	}
	if c.NodeID != "" && !ids.Valid(c.NodeID) {
		bad("node id %q: want a UUID", c.NodeID)
	}
	if c.Advertise != "" && net.ParseIP(c.Advertise) == nil {
		bad("advertise %q: want an IP address", c.Advertise)
	}
	if len(c.CatalogAddrs) == 0 {
		bad("catalog addrs: need at least one (-catalog)")
	}
	for _, a := range c.CatalogAddrs {
		if _, _, err := net.SplitHostPort(strings.TrimSpace(a)); err != nil {
			bad("catalog addr %q: %w", a, err)
		}
	}
	if c.GRPCListener == nil {
		if _, _, err := net.SplitHostPort(c.GRPCAddr); err != nil {
			bad("grpc addr %q: %w", c.GRPCAddr, err)
		}
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("metrics addr %q: %w", c.MetricsAddr, err)
		}
	}
	for name, d := range map[string]time.Duration{
		"anti-entropy interval": c.AntiEntropyInterval, "heartbeat interval": c.HeartbeatInterval,
		"heartbeat ttl": c.HeartbeatTTL, "check update interval": c.CheckUpdateInterval, "leave timeout": c.LeaveTimeout,
	} {
		if d < 0 {
			bad("%s %s: negative", name, d)
		}
	}
	if c.HeartbeatInterval > 0 && c.HeartbeatTTL > 0 && c.HeartbeatTTL < 2*c.HeartbeatInterval {
		bad("heartbeat ttl %s: want at least two heartbeat intervals (%s)", c.HeartbeatTTL, 2*c.HeartbeatInterval)
	}
	if c.HeartbeatTTL > 0 && c.HeartbeatTTL < time.Second {
		bad("heartbeat ttl %s: the catalog accepts 1s at least", c.HeartbeatTTL)
	}
	if len(errs) > 0 {
		return fmt.Errorf("health config: %w", errors.Join(errs...))
	}
	return nil
}
