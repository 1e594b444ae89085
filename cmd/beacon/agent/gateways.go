package agent

import (
	"context"
	"log/slog"

	dnsgwd "github.com/beaconmesh/beacon/services/dnsgw/daemon"
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
	http.Datacenter, http.NodeName = cfg.Datacenter, cfg.Node
	http.Logger, http.Gatherer = logger, reg
	start("httpgw", func(ctx context.Context) error { return httpgwd.Run(ctx, http) })
}
