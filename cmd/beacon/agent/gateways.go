package agent

import (
	"context"
	"log/slog"
	"path/filepath"

	dnsgwd "github.com/beaconmesh/beacon/services/dnsgw/daemon"
	healthd "github.com/beaconmesh/beacon/services/health/daemon"
	httpgwd "github.com/beaconmesh/beacon/services/httpgw/daemon"
	"github.com/prometheus/client_golang/prometheus"
)

// startGateways starts the services that read the catalog over gRPC, each
// from the Config its own binary would build.
func startGateways(ctx context.Context, cfg Config, ls *Listeners, grpcAddr string, logger *slog.Logger, reg *prometheus.Registry, start func(string, func(context.Context) error)) {
	dns := dnsgwd.DefaultConfig()
	dns.UDPConn, dns.TCPListener = ls.DNSU, ls.DNST
	dns.CatalogAddrs = []string{grpcAddr}
	dns.Datacenter = cfg.Datacenter
	dns.Logger, dns.Registerer = logger, reg
	start("dnsgw", func(ctx context.Context) error { return dnsgwd.Run(ctx, dns) })

	http := httpgwd.DefaultConfig()
	http.Listener = ls.HTTP
	http.CatalogAddrs = []string{grpcAddr}
	http.AgentAddr = ls.Agent.Addr().String()
	http.Datacenter, http.NodeName = cfg.Datacenter, cfg.Node
	http.Logger, http.Gatherer = logger, reg
	start("httpgw", func(ctx context.Context) error { return httpgwd.Run(ctx, http) })
}

// startNodeAgent starts this node's agent: its config-dir services and
// checks, and the agent gRPC API. In dev mode the catalog replica on the
// same node already keeps the node a member, so the agent skips membership;
// it reports the replica's node ID and, the node being a server, Server.
func startNodeAgent(cfg Config, ls *Listeners, grpcAddr, nodeID string, logger *slog.Logger, reg *prometheus.Registry, start func(string, func(context.Context) error)) {
	h := healthd.DefaultConfig()
	h.Node, h.NodeID, h.Server, h.Datacenter = cfg.Node, nodeID, true, cfg.Datacenter
	h.CatalogAddrs = []string{grpcAddr}
	h.ConfigDirs = cfg.ConfigDirs
	if cfg.DataDir != "" {
		h.DataDir = filepath.Join(cfg.DataDir, "agent")
	}
	h.GRPCListener = ls.Agent
	h.Advertise = cfg.Client
	h.EnableScriptChecks = cfg.EnableScriptChecks
	h.SkipMembership = true
	h.Reload = cfg.Reload
	h.Logger, h.Registerer, h.Logs = logger, reg, cfg.Logs
	start("agent", func(ctx context.Context) error { return healthd.Run(ctx, h) })
}
