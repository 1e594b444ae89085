// Command beacon-httpgw serves Consul's HTTP /v1 API over Beacon's catalog
// and node agent.
// It only reads flags; the gateway itself is daemon.Run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/beaconmesh/beacon/platform/flags"
	"github.com/beaconmesh/beacon/platform/logging"
	"github.com/beaconmesh/beacon/platform/probe"
	"github.com/beaconmesh/beacon/platform/profile"
	"github.com/beaconmesh/beacon/services/httpgw/daemon"
	"github.com/prometheus/client_golang/prometheus"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		// The container healthcheck: GET /v1/status/leader names a leader.
		os.Exit(probe.Command("beacon-httpgw probe", os.Args[2:], "127.0.0.1:8500", probe.LeaderCheck()))
	}
	cfg := daemon.DefaultConfig()
	catalogs := &flags.AddrList{Addrs: cfg.CatalogAddrs}
	flag.StringVar(&cfg.Addr, "http-addr", cfg.Addr, "address to serve the HTTP API on")
	flag.Var(catalogs, "catalog", "gRPC address of a catalog replica (repeatable, or comma-separated)")
	flag.StringVar(&cfg.AgentAddr, "agent", cfg.AgentAddr, `gRPC address of the node agent serving /v1/agent/* ("" for none)`)
	flag.StringVar(&cfg.Datacenter, "datacenter", cfg.Datacenter, "the local datacenter")
	flag.StringVar(&cfg.NodeName, "node", cfg.NodeName, "the node this gateway speaks for")
	logLevel := flag.String("log-level", "info", "log level: trace, debug, info, warn or error")
	logJSON := flag.Bool("log-json", false, "write logs as JSON")
	flag.Parse()

	level, err := logging.ParseLevel(*logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "beacon-httpgw:", err)
		os.Exit(2)
	}
	cfg.CatalogAddrs = catalogs.Addrs
	cfg.Logger = logging.New(os.Stderr, level, *logJSON)
	cfg.Gatherer = prometheus.DefaultGatherer

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile := profile.Start() // BEACON_CPUPROFILE, BEACON_MEMPROFILE
	err = daemon.Run(ctx, cfg)
	stopProfile()
	if err != nil {
		cfg.Logger.Error("exiting", "err", err)
		os.Exit(1)
	}
}
