// Command beacon-dnsgw answers Consul-style DNS queries (node, service,
// RFC 2782, connect, addr and reverse lookups) from a view of the Beacon
// catalog that it keeps current with blocking queries.
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
	"github.com/beaconmesh/beacon/services/dnsgw/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		// The container healthcheck: a query the catalog's own replicas
		// answer, so it passes once the gateway's view is loaded.
		os.Exit(probe.Command("beacon-dnsgw probe", os.Args[2:], "127.0.0.1:8600", probe.DNSCheck("consul.service.consul.")))
	}
	cfg := daemon.DefaultConfig()
	var recursors flags.StringList
	catalogs := &flags.AddrList{Addrs: cfg.CatalogAddrs}
	logLevel := "info"
	logJSON := false

	fs := flag.NewFlagSet("beacon-dnsgw", flag.ExitOnError)
	fs.StringVar(&cfg.Addr, "dns-addr", cfg.Addr, "UDP and TCP address to answer DNS on")
	fs.StringVar(&cfg.Domain, "domain", cfg.Domain, "domain answered")
	fs.StringVar(&cfg.AltDomain, "alt-domain", cfg.AltDomain, "second domain answered, in its own name")
	fs.StringVar(&cfg.Datacenter, "datacenter", cfg.Datacenter, "local datacenter")
	fs.Var(&recursors, "recursor", "upstream resolver (ip or ip:port) for names outside the domains; repeatable, tried in order")
	fs.DurationVar(&cfg.RecursorTimeout, "recursor-timeout", cfg.RecursorTimeout, "timeout of one exchange with one recursor")
	fs.DurationVar(&cfg.NodeTTL, "node-ttl", cfg.NodeTTL, "TTL of node records")
	fs.DurationVar(&cfg.ServiceTTL, "service-ttl", cfg.ServiceTTL, "TTL of service records")
	fs.BoolVar(&cfg.OnlyPassing, "only-passing", cfg.OnlyPassing, "leave out instances with a warning check")
	fs.IntVar(&cfg.ARecordLimit, "a-record-limit", cfg.ARecordLimit, "most address records in one answer (0: no limit)")
	fs.IntVar(&cfg.UDPAnswerLimit, "udp-answer-limit", cfg.UDPAnswerLimit, "most answers in a UDP reply without EDNS0 (at most 8 count)")
	fs.StringVar(&cfg.Token, "token", "", "ACL token sent with catalog reads")
	fs.Var(catalogs, "catalog", "catalog gRPC address; repeatable or comma-separated (default 127.0.0.1:8502)")
	fs.StringVar(&logLevel, "log-level", logLevel, "trace, debug, info, warn or error")
	fs.BoolVar(&logJSON, "log-json", logJSON, "log as JSON")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "address to serve GET /metrics on (off when empty)")
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "beacon-dnsgw: unexpected arguments %q\n", fs.Args())
		os.Exit(2)
	}

	level, err := logging.ParseLevel(logLevel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "beacon-dnsgw: %v\n", err)
		os.Exit(2)
	}
	cfg.Logger = logging.New(os.Stderr, level, logJSON)
	cfg.Recursors = recursors
	cfg.CatalogAddrs = catalogs.Addrs
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Registerer = reg

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile := profile.Start() // BEACON_CPUPROFILE, BEACON_MEMPROFILE
	err = daemon.Run(ctx, cfg)
	stopProfile()
	if err != nil {
		cfg.Logger.Error("beacon-dnsgw failed", "error", err)
		stop()
		os.Exit(1)
	}
}
