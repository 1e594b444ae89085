// Command beacon-health is Beacon's node agent, one per machine: it keeps
// the services defined in -config-dir (Consul's service definition files)
// registered in the catalog, runs their health checks, keeps the node a
// member of the cluster and serves the agent gRPC API.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/beaconmesh/beacon/platform/flags"
	"github.com/beaconmesh/beacon/platform/logging"
	"github.com/beaconmesh/beacon/platform/probe"
	"github.com/beaconmesh/beacon/platform/profile"
	"github.com/beaconmesh/beacon/services/health/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		// The container healthcheck: the agent API's gRPC health.
		os.Exit(probe.Command("beacon-health probe", os.Args[2:], daemon.DefaultGRPCAddr, probe.GRPCCheck("")))
	}
	cfg := daemon.DefaultConfig()
	var configDirs, nodeMeta flags.StringList
	catalogs := &flags.AddrList{Addrs: cfg.CatalogAddrs}
	logLevel, logJSON := "info", false

	fs := flag.NewFlagSet("beacon-health", flag.ExitOnError)
	fs.StringVar(&cfg.Node, "node", cfg.Node, "node name (default: the host name)")
	fs.StringVar(&cfg.Datacenter, "datacenter", cfg.Datacenter, "datacenter of the node")
	fs.StringVar(&cfg.Advertise, "advertise", "", "the node's address in the catalog (default: the local address that routes to the catalog)")
	fs.Var(&nodeMeta, "node-meta", "node meta as key:value; repeatable")
	fs.Var(catalogs, "catalog", "catalog gRPC address; repeatable or comma-separated (default 127.0.0.1:8502)")
	fs.Var(&configDirs, "config-dir", "directory of *.json and *.hcl service definitions; repeatable")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory that keeps the node ID")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", cfg.GRPCAddr, "address of the agent gRPC API")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "address to serve GET /metrics on (off when empty)")
	fs.BoolVar(&cfg.EnableScriptChecks, "enable-script-checks", false, "allow checks that run commands (args)")
	fs.StringVar(&logLevel, "log-level", logLevel, "trace, debug, info, warn or error")
	fs.BoolVar(&logJSON, "log-json", logJSON, "log as JSON")
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "beacon-health: unexpected arguments %q\n", fs.Args())
		os.Exit(2)
	}
	level, err := logging.ParseLevel(logLevel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "beacon-health: %v\n", err)
		os.Exit(2)
	}
	cfg.CatalogAddrs = catalogs.Addrs
	cfg.ConfigDirs = configDirs
	for _, kv := range nodeMeta {
		k, v, ok := strings.Cut(kv, ":")
		if !ok || k == "" {
			fmt.Fprintf(os.Stderr, "beacon-health: -node-meta %q: want key:value\n", kv)
			os.Exit(2)
		}
		if cfg.NodeMeta == nil {
			cfg.NodeMeta = map[string]string{}
		}
		cfg.NodeMeta[k] = v
	}
	cfg.Logs = logging.NewMonitor()
	cfg.Logger = cfg.Logs.Logger(logging.New(os.Stderr, level, logJSON))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Registerer = reg

	reload := make(chan struct{}, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	cfg.Reload = reload

	// SIGINT and SIGTERM both leave gracefully: a node agent that goes away
	// on purpose should show up as "left", not "failed".
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile := profile.Start() // BEACON_CPUPROFILE, BEACON_MEMPROFILE
	err = daemon.Run(ctx, cfg)
	stopProfile()
	if err != nil {
		stop()
		fmt.Fprintf(os.Stderr, "beacon-health: %v\n", err)
		os.Exit(1)
	}
}
