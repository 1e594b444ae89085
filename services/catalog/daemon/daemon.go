package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/beaconmesh/beacon/platform/rpcserver"
	"github.com/beaconmesh/beacon/platform/tagged"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/catalog/cluster"
	"github.com/beaconmesh/beacon/services/catalog/fsm"
	"github.com/beaconmesh/beacon/services/catalog/grpcapi"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Run runs a catalog replica until ctx ends, then shuts it down.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("catalog config: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("service", "catalog")

	grpcLn := cfg.GRPCListener
	if grpcLn == nil {
		var err error
		if grpcLn, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
			return fmt.Errorf("catalog grpc listen: %w", err)
		}
	}
	defer grpcLn.Close()
	serverLn := cfg.ServerListener
	if serverLn == nil && !cfg.Dev {
		var err error
		if serverLn, err = net.Listen("tcp", cfg.ServerAddr); err != nil {
			return fmt.Errorf("catalog server port listen: %w", err)
		}
	}

	machine := fsm.New(logger)
	node, err := cluster.Start(cluster.Config{
		ID: cfg.NodeID, Node: cfg.Node, Datacenter: cfg.Datacenter, DataDir: cfg.DataDir,
		Listener: serverLn, Advertise: cfg.Advertise, GRPCAddr: grpcLn.Addr().String(),
		BootstrapExpect: cfg.BootstrapExpect, RetryJoin: cfg.RetryJoin, RetryInterval: cfg.RetryInterval,
		Dev: cfg.Dev, Timing: cfg.Timing, SnapshotThreshold: cfg.SnapshotThreshold,
		Logger: logger, FSM: machine,
	})
	if err != nil {
		if serverLn != nil {
			serverLn.Close()
		}
		return err
	}
	var shutdownOnce sync.Once
	shutdown := func() {
		shutdownOnce.Do(func() {
			if err := node.Shutdown(); err != nil {
				logger.Warn("raft shutdown", "error", err)
			}
		})
	}
	defer shutdown()

	api := grpcapi.New(grpcapi.Config{
		Node: node, FSM: machine, Datacenter: cfg.Datacenter, Logger: logger,
		Registerer: cfg.Registerer, SnapshotDir: cfg.DataDir,
		DefaultIntentionDeny: cfg.DefaultIntentionPolicy == "deny",
	})
	public := rpcserver.New(rpcserver.Config{Logger: logger, Registerer: cfg.Registerer,
		Options: []grpc.ServerOption{grpc.ChainUnaryInterceptor(api.NameReplicas)}})
	api.Register(public.Server, false)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	goRun := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	goRun(func() error { return public.Serve(ctx, grpcLn) })
	if rpcLn := node.RPCListener(); rpcLn != nil {
		internal := rpcserver.New(rpcserver.Config{Logger: logger, Registerer: cfg.Registerer})
		api.Register(internal.Server, true)
		goRun(func() error { return internal.Serve(ctx, rpcLn) })
	}
	goRun(func() error { api.RunLeaderDuties(ctx); return nil })
	if !cfg.Dev && (cfg.BootstrapExpect != 1 || len(cfg.RetryJoin) > 0) {
		goRun(func() error {
			if err := node.RunDiscovery(ctx); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("cluster discovery: %w", err)
			}
			return nil
		})
	}
	goRun(func() error { reportHealth(ctx, node, public); return nil })
	goRun(func() error { registerSelf(ctx, cfg, node, grpcLn.Addr().String(), api, logger); return nil })
	if cfg.MetricsAddr != "" && cfg.Gatherer != nil {
		goRun(func() error { return serveMetrics(ctx, cfg.MetricsAddr, cfg.Gatherer) })
	}
	logger.Info("catalog replica running", "node", cfg.Node, "grpc", grpcLn.Addr().String(), "server", node.Self().Address, "dev", cfg.Dev)

	<-ctx.Done()
	// Raft stops first: writes still waiting on it then fail at once with
	// Unavailable instead of holding the gRPC servers' shutdown.
	shutdown()
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// reportHealth marks the gRPC services SERVING while a leader is known, so
// probes (and container healthchecks) mean "this replica can take requests".
func reportHealth(ctx context.Context, node *cluster.Node, srv *rpcserver.Server) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	last := healthpb.HealthCheckResponse_UNKNOWN
	for {
		st := healthpb.HealthCheckResponse_NOT_SERVING
		if node.LeaderAddr() != "" {
			st = healthpb.HealthCheckResponse_SERVING
		}
		if st != last {
			srv.Health.SetServingStatus("", st)
			for _, name := range grpcapi.ServiceNames() {
				srv.Health.SetServingStatus(name, st)
			}
			last = st
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// nodeAddress is the IP this replica registers as its node's address: the
// advertised host, resolved when it is a name (as in docker compose); else,
// when that is unspecified, the gRPC listener's host.
func nodeAddress(ctx context.Context, advertised, grpcAddr string) string {
	ip := net.ParseIP(advertised)
	if ip != nil && !ip.IsUnspecified() {
		return advertised
	}
	if ip == nil && advertised != "" {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ips, err := net.DefaultResolver.LookupIPAddr(rctx, advertised)
		cancel()
		if err == nil && len(ips) > 0 {
			return ips[0].IP.String()
		}
	}
	if h, _, err := net.SplitHostPort(grpcAddr); err == nil {
		if ip := net.ParseIP(h); ip != nil && !ip.IsUnspecified() {
			return h
		}
	}
	return advertised
}

// registerSelf keeps this replica in the catalog as a member (role
// "consul") and a node with the "consul" service and a passing serfHealth
// check, as Consul servers appear; identical re-registrations change
// nothing, so repeating them is cheap anti-entropy (e.g. after a restore).
func registerSelf(ctx context.Context, cfg Config, node *cluster.Node, grpcAddr string, api *grpcapi.Server, logger *slog.Logger) {
	host, portStr, _ := net.SplitHostPort(node.Self().Address)
	port, _ := strconv.Atoi(portStr)
	host = nodeAddress(ctx, host, grpcAddr)
	self := &catalogv1.Node{
		Id: node.Self().Id, Node: cfg.Node, Address: host, Datacenter: cfg.Datacenter,
		TaggedAddresses: tagged.NodeAddresses(host), Meta: tagged.NodeMeta(nil),
	}
	join := &catalogv1.JoinMemberRequest{
		Member: &catalogv1.Member{
			Name: cfg.Node, Address: host, Port: int32(port),
			Tags: map[string]string{"role": "consul", "dc": cfg.Datacenter, "id": node.Self().Id, "port": portStr, "vsn": "2", "build": Version},
		},
		Node: self,
	}
	reg := &catalogv1.RegisterRequest{
		Node:           self,
		Service:        &catalogv1.Service{Id: "consul", Service: "consul", Port: int32(port)},
		SkipNodeUpdate: true,
	}
	interval := cfg.SyncInterval
	if interval <= 0 {
		interval = time.Minute
	}
	for {
		wait := interval
		if node.LeaderAddr() == "" {
			wait = 100 * time.Millisecond
		} else if err := api.RegisterSelf(ctx, join, reg); err != nil {
			logger.Debug("self registration", "error", err)
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func serveMetrics(ctx context.Context, addr string, g prometheus.Gatherer) error {
	srv := &http.Server{
		Addr:              addr,
		Handler:           promhttp.HandlerFor(g, promhttp.HandlerOpts{}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics listener: %w", err)
	}
	return nil
}
