// Package agent is `beacon agent -dev`: every Beacon service in one process,
// each started through its own daemon package with the Config its binary
// would build, on Consul's default ports.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/beaconmesh/beacon/platform/ids"
	"github.com/beaconmesh/beacon/platform/logging"
	catalogd "github.com/beaconmesh/beacon/services/catalog/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Config configures the dev agent.
type Config struct {
	Node       string
	Datacenter string
	// Client is the address the user-facing ports bind (Consul's -client).
	Client   string
	HTTPPort int
	DNSPort  int
	GRPCPort int
	// AgentPort is the node agent's gRPC API on 127.0.0.1 (default 8503,
	// where `beacon connect proxy` looks for it; 0: any free port).
	AgentPort  int
	ConfigDirs []string
	// EnableScriptChecks lets service definitions run script checks.
	EnableScriptChecks bool
	// Reload receives a value per reload request (SIGHUP).
	Reload <-chan struct{}
	// DataDir, when set, makes the dev agent durable.
	DataDir string
	Logger  *slog.Logger
	// Logs, when set, monitors Logger for GET /v1/agent/monitor.
	Logs *logging.Monitor
	// Banner receives the startup banner (nil: none).
	Banner io.Writer
	// Version is printed in the banner.
	Version string
}

// DefaultConfig returns Consul's -dev defaults.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Node: host, Datacenter: "dc1", Client: "127.0.0.1",
		HTTPPort: 8500, DNSPort: 8600, GRPCPort: 8502, AgentPort: 8503,
	}
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Node == "" {
		errs = append(errs, errors.New("-node is required (the host name could not be read)"))
	}
	if net.ParseIP(c.Client) == nil {
		errs = append(errs, fmt.Errorf("-client %q is not an IP address", c.Client))
	}
	for name, p := range map[string]int{"-http-port": c.HTTPPort, "-dns-port": c.DNSPort, "-grpc-port": c.GRPCPort, "-agent-port": c.AgentPort} {
		if p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s %d is out of range", name, p))
		}
	}
	return errors.Join(errs...)
}

// Listeners are the agent's open user-facing ports.
type Listeners struct {
	GRPC  net.Listener
	Agent net.Listener
	HTTP  net.Listener
	DNSU  net.PacketConn
	DNST  net.Listener
}

// Close closes every listener.
func (l *Listeners) Close() {
	for _, c := range []io.Closer{l.GRPC, l.Agent, l.HTTP, l.DNSU, l.DNST} {
		if c != nil && !isNil(c) {
			c.Close()
		}
	}
}

func isNil(c io.Closer) bool {
	switch v := c.(type) {
	case net.Listener:
		return v == nil
	case net.PacketConn:
		return v == nil
	}
	return false
}

// Listen opens every port first, so that the agent is reachable the moment
// Run starts and a port clash is reported before anything runs.
func Listen(cfg Config) (*Listeners, error) {
	l := &Listeners{}
	addr := func(p int) string { return net.JoinHostPort(cfg.Client, strconv.Itoa(p)) }
	var err error
	if l.GRPC, err = net.Listen("tcp", addr(cfg.GRPCPort)); err != nil {
		return nil, fmt.Errorf("grpc port: %w", err)
	}
	if l.Agent, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.AgentPort))); err != nil {
		l.Close()
		return nil, fmt.Errorf("agent port: %w", err)
	}
	if l.HTTP, err = net.Listen("tcp", addr(cfg.HTTPPort)); err != nil {
		l.Close()
		return nil, fmt.Errorf("http port: %w", err)
	}
	dnsPort := cfg.DNSPort
	if l.DNST, err = net.Listen("tcp", addr(dnsPort)); err != nil {
		l.Close()
		return nil, fmt.Errorf("dns port (tcp): %w", err)
	}
	if dnsPort == 0 {
		dnsPort = l.DNST.Addr().(*net.TCPAddr).Port
	}
	if l.DNSU, err = net.ListenPacket("udp", addr(dnsPort)); err != nil {
		l.Close()
		return nil, fmt.Errorf("dns port (udp): %w", err)
	}
	return l, nil
}

// Run runs every service on ls until ctx ends.
func Run(ctx context.Context, cfg Config, ls *Listeners) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	grpcAddr := ls.GRPC.Addr().String()
	// One node, one ID: the catalog replica's (its Raft server ID, kept in
	// the data dir) is also the node agent's, so the catalog, the member
	// list and /v1/agent/self agree.
	nodeID, err := ids.LoadNodeID(cfg.DataDir)
	if err != nil {
		return err
	}

	cat := catalogd.DefaultConfig()
	cat.Node, cat.NodeID, cat.Datacenter, cat.DataDir = cfg.Node, nodeID, cfg.Datacenter, cfg.DataDir
	cat.Dev = true
	cat.GRPCListener = ls.GRPC
	cat.Advertise = net.JoinHostPort(cfg.Client, "8300")
	cat.Logger, cat.Registerer, cat.Gatherer = logger, reg, reg

	// The node agent stops first, while the catalog can still take its
	// deregistrations; everything else stops after it.
	parent := ctx
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agentCtx, cancelAgent := context.WithCancel(ctx)
	defer cancelAgent()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	launch := func(ctx context.Context, done *sync.WaitGroup, name string, run func(context.Context) error) {
		done.Add(1)
		go func() {
			defer done.Done()
			if err := run(ctx); err != nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancelAgent()
				cancel()
			}
		}()
	}
	start := func(name string, run func(context.Context) error) { launch(ctx, &wg, name, run) }
	var agentWG sync.WaitGroup
	startAgent := func(name string, run func(context.Context) error) {
		launch(agentCtx, &agentWG, name, func(ctx context.Context) error {
			err := run(ctx)
			if err == nil && ctx.Err() == nil {
				// The node agent left (beacon leave, PUT /v1/agent/leave):
				// the whole dev agent exits, as Consul's does.
				logger.Info("the node agent left the cluster; stopping")
				cancel()
			}
			return err
		})
	}
	start("catalog", func(ctx context.Context) error { return catalogd.Run(ctx, cat) })
	startNodeAgent(cfg, ls, grpcAddr, nodeID, logger, reg, startAgent)
	startGateways(ctx, cfg, ls, grpcAddr, logger, reg, start)
	go func() {
		select {
		case <-parent.Done():
		case <-ctx.Done():
		}
		cancelAgent()
		stopped := make(chan struct{})
		go func() { agentWG.Wait(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(shutdownGrace / 2):
			logger.Warn("node agent did not stop in time")
		}
		cancel()
	}()

	if cfg.Banner != nil {
		printBanner(cfg, ls)
	}
	wg.Wait()
	agentWG.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func printBanner(cfg Config, ls *Listeners) {
	w := cfg.Banner
	port := func(a net.Addr) int {
		switch v := a.(type) {
		case *net.TCPAddr:
			return v.Port
		case *net.UDPAddr:
			return v.Port
		}
		return 0
	}
	fmt.Fprintf(w, "==> Starting Beacon agent...\n")
	fmt.Fprintf(w, "           Version: '%s'\n", cfg.Version)
	fmt.Fprintf(w, "         Node name: '%s'\n", cfg.Node)
	fmt.Fprintf(w, "        Datacenter: '%s'\n", cfg.Datacenter)
	fmt.Fprintf(w, "            Server: true (bootstrap: true, dev: true)\n")
	fmt.Fprintf(w, "       Client Addr: [%s] (HTTP: %d, gRPC: %d, DNS: %d)\n", cfg.Client, port(ls.HTTP.Addr()), port(ls.GRPC.Addr()), port(ls.DNSU.LocalAddr()))
	fmt.Fprintf(w, "   Agent gRPC Addr: %s\n", ls.Agent.Addr())
	fmt.Fprintf(w, "\n==> Log data will now stream in as it occurs:\n\n")
}

// shutdownGrace bounds how long services get to stop after Ctrl+C.
const shutdownGrace = 4 * time.Second
