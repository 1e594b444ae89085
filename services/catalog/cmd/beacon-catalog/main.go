// Command beacon-catalog runs one replica of Beacon's Raft-replicated catalog.
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
	"github.com/beaconmesh/beacon/services/catalog/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		// The container healthcheck: gRPC health is SERVING while the
		// replica knows a leader.
		os.Exit(probe.Command("beacon-catalog probe", os.Args[2:], "127.0.0.1:8502", probe.GRPCCheck("")))
	}
	cfg := daemon.DefaultConfig()
	fs := flag.NewFlagSet("beacon-catalog", flag.ExitOnError)
	fs.StringVar(&cfg.Node, "node", cfg.Node, "node name of this replica")
	fs.StringVar(&cfg.Datacenter, "datacenter", cfg.Datacenter, "datacenter name")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for the Raft log, snapshots and node ID")
	fs.StringVar(&cfg.ServerAddr, "bind", cfg.ServerAddr, "server port address (Raft and replica traffic)")
	fs.StringVar(&cfg.Advertise, "advertise", "", "server address other replicas dial (host:port)")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", cfg.GRPCAddr, "public gRPC API address")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this address")
	fs.IntVar(&cfg.BootstrapExpect, "bootstrap-expect", 0, "number of replicas to wait for before forming a new cluster")
	fs.Var((*flags.StringList)(&cfg.RetryJoin), "retry-join", "server address of another replica (repeatable)")
	fs.BoolVar(&cfg.Dev, "dev", false, "run a single in-memory replica")
	fs.StringVar(&cfg.DefaultIntentionPolicy, "default-intention-policy", cfg.DefaultIntentionPolicy, "allow or deny connections no intention matches")
	logLevel := fs.String("log-level", "info", "trace, debug, info, warn or error")
	logJSON := fs.Bool("log-json", false, "log in JSON")
	_ = fs.Parse(os.Args[1:])

	level, err := logging.ParseLevel(*logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "beacon-catalog:", err)
		os.Exit(1)
	}
	cfg.Logger = logging.New(os.Stderr, level, *logJSON)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Registerer, cfg.Gatherer = reg, reg

	stopProfile := profile.Start()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = daemon.Run(ctx, cfg)
	stop()
	stopProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "beacon-catalog:", err)
		os.Exit(1)
	}
}
