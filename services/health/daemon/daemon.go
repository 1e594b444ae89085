package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/beaconmesh/beacon/platform/ids"
	"github.com/beaconmesh/beacon/platform/rpcclient"
	"github.com/beaconmesh/beacon/platform/rpcserver"
	"github.com/beaconmesh/beacon/platform/tagged"
	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/health/config"
	"github.com/beaconmesh/beacon/services/health/connect"
	"github.com/beaconmesh/beacon/services/health/grpcapi"
	"github.com/beaconmesh/beacon/services/health/local"
	"github.com/beaconmesh/beacon/services/health/membership"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Run runs the agent until ctx ends or a Leave RPC arrives, then leaves the
// cluster gracefully (its services deregistered, its member left) and
// returns nil. An invalid config dir is an error before anything starts,
// naming the file and line.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		if cfg.GRPCListener != nil {
			cfg.GRPCListener.Close()
		}
		return err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a, err := newAgent(cfg, logger)
	if err != nil {
		if cfg.GRPCListener != nil {
			cfg.GRPCListener.Close()
		}
		return err
	}
	defer a.conn.Close()
	defer a.mesh.Close()
	return a.run(ctx)
}

// agent is one running node agent; it is the API's Lifecycle.
type agent struct {
	cfg    Config
	logger *slog.Logger
	nodeID string
	node   *catalogv1.Node
	member *catalogv1.Member

	conn    interface{ Close() error }
	members catalogv1.MembershipServiceClient
	state   *local.State
	mesh    *connect.Mesh
	lis     net.Listener
	// metrics serves /metrics when MetricsAddr is set.
	metrics *http.Server
	mlis    net.Listener

	reloadMu  sync.Mutex
	leaveOnce sync.Once
	leave     chan struct{}
}

type catalogClients struct {
	catalogv1.CatalogServiceClient
	catalogv1.HealthServiceClient
}

func newAgent(cfg Config, logger *slog.Logger) (_ *agent, err error) {
	var metricsSrv *http.Server
	defs, err := config.Load(cfg.ConfigDirs)
	if err != nil {
		return nil, fmt.Errorf("loading service definitions: %w", err)
	}
	nodeID := cfg.NodeID
	if nodeID == "" {
		if nodeID, err = ids.LoadNodeID(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	addr := cfg.Advertise
	if addr == "" {
		addr = routeTo(cfg.CatalogAddrs[0])
	}
	var mlis net.Listener
	if cfg.MetricsAddr != "" {
		gatherer, ok := cfg.Registerer.(prometheus.Gatherer)
		if !ok {
			reg := prometheus.NewRegistry()
			cfg.Registerer, gatherer = reg, reg
		}
		if mlis, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
		defer func() {
			if err != nil {
				mlis.Close()
			}
		}()
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	}
	conn, err := rpcclient.Dial(rpcclient.Config{Addrs: cfg.CatalogAddrs})
	if err != nil {
		return nil, err
	}
	a := &agent{
		cfg:     cfg,
		logger:  logger,
		nodeID:  nodeID,
		node:    selfNode(cfg, nodeID, addr),
		conn:    conn,
		members: catalogv1.NewMembershipServiceClient(conn),
		leave:   make(chan struct{}),
		metrics: metricsSrv,
		mlis:    mlis,
	}
	a.state, err = local.New(local.Config{
		Node:                a.node,
		Catalog:             catalogClients{catalogv1.NewCatalogServiceClient(conn), catalogv1.NewHealthServiceClient(conn)},
		EnableScriptChecks:  cfg.EnableScriptChecks,
		DataDir:             cfg.DataDir,
		AntiEntropyInterval: cfg.AntiEntropyInterval,
		CheckUpdateInterval: cfg.CheckUpdateInterval,
		Logger:              logger,
		Registerer:          cfg.Registerer,
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	a.mesh, err = connect.New(connect.Config{
		CA:         connectv1.NewCAServiceClient(conn),
		Intentions: connectv1.NewIntentionServiceClient(conn),
		Datacenter: cfg.Datacenter,
		Logger:     logger,
	})
	if err != nil {
		a.state.Stop()
		conn.Close()
		return nil, err
	}
	a.logDefinitions(defs)
	if err := a.state.ApplyFiles(defs); err != nil {
		a.state.Stop()
		conn.Close()
		return nil, fmt.Errorf("loading service definitions: %w", err)
	}
	a.state.LoadPersisted()
	a.lis = cfg.GRPCListener
	if a.lis == nil {
		if a.lis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
			a.state.Stop()
			conn.Close()
			return nil, fmt.Errorf("agent grpc api: %w", err)
		}
	}
	port := 0
	if ta, ok := a.lis.Addr().(*net.TCPAddr); ok {
		port = ta.Port
	}
	a.member = &catalogv1.Member{
		Name:    cfg.Node,
		Address: addr,
		Port:    int32(port),
		Tags: map[string]string{
			"role": "node", "dc": cfg.Datacenter, "id": nodeID,
			"build": Version, "vsn": "2", "vsn_min": "2", "vsn_max": "3",
		},
		Status: catalogv1.MemberStatus_MEMBER_STATUS_ALIVE,
	}
	return a, nil
}

func (a *agent) run(ctx context.Context) error {
	srv := rpcserver.New(rpcserver.Config{Logger: a.logger.With("component", "grpc"), Registerer: a.cfg.Registerer})
	agentv1.RegisterAgentServiceServer(srv, grpcapi.New(a.state, a, a.mesh, a.cfg.Logs))
	srv.Health.SetServingStatus(agentv1.AgentService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)

	srvCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServer()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(srvCtx, a.lis) }()

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var wg sync.WaitGroup
	wg.Go(func() { a.state.Run(runCtx) })
	var mem *membership.Member
	if !a.cfg.SkipMembership {
		var err error
		mem, err = membership.New(membership.Config{
			Client:   a.members,
			Member:   a.member,
			Node:     a.node,
			Interval: a.cfg.HeartbeatInterval,
			TTL:      a.cfg.HeartbeatTTL,
			OnJoin:   a.state.TriggerFullSync,
			Logger:   a.logger,
		})
		if err != nil {
			stopRun()
			wg.Wait()
			return err
		}
		wg.Go(func() { mem.Run(runCtx) })
	}
	if a.cfg.Reload != nil {
		wg.Go(func() { a.reloadLoop(runCtx) })
	}
	if a.metrics != nil {
		go func() {
			if err := a.metrics.Serve(a.mlis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.logger.Error("metrics server", "error", err)
			}
		}()
		defer a.metrics.Close()
	}
	a.logger.Info("agent started", "node", a.cfg.Node, "node_id", a.nodeID, "address", a.node.GetAddress(),
		"datacenter", a.cfg.Datacenter, "grpc", a.lis.Addr().String(), "catalog", strings.Join(a.cfg.CatalogAddrs, ","))

	var runErr error
	select {
	case <-ctx.Done():
		a.logger.Info("shutting down: leaving the cluster")
	case <-a.leave:
		a.logger.Info("leave requested: leaving the cluster")
	case err := <-serveErr:
		runErr = err
		serveErr <- nil
	}
	stopRun()
	wg.Wait() // the sync loop and the checks have stopped

	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.LeaveTimeout)
	defer cancel()
	if mem != nil {
		if err := mem.Leave(lctx); err != nil {
			a.logger.Warn("leaving the cluster", "error", err)
		}
	} else if err := a.state.Deregister(lctx); err != nil {
		a.logger.Warn("deregistering the agent's services", "error", err)
	}
	stopServer()
	if err := <-serveErr; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// Self describes the agent (grpcapi.Lifecycle). Its member is the
// catalog's entry for this node, the one the member list shows (in the dev
// agent, the catalog replica's), alive since the agent answers; the
// agent's own join request stands in when the catalog cannot be read.
func (a *agent) Self(ctx context.Context) *agentv1.SelfResponse {
	return &agentv1.SelfResponse{
		Config: &agentv1.AgentConfig{
			Datacenter: a.cfg.Datacenter,
			NodeName:   a.cfg.Node,
			NodeId:     a.nodeID,
			Server:     a.cfg.Server,
			Version:    Version,
		},
		Member: a.selfMember(ctx),
		Meta:   maps.Clone(a.node.GetMeta()),
	}
}

// selfMemberTimeout bounds Self's member lookup: Self must answer, with
// the agent's own view if need be, when the catalog has no leader.
const selfMemberTimeout = time.Second

func (a *agent) selfMember(ctx context.Context) *catalogv1.Member {
	ctx, cancel := context.WithTimeout(ctx, selfMemberTimeout)
	defer cancel()
	resp, err := a.members.ListMembers(ctx, &catalogv1.ListMembersRequest{
		Options: &queryv1.ReadOptions{Consistency: queryv1.Consistency_CONSISTENCY_STALE},
	})
	if err != nil {
		a.logger.Debug("self: reading the member list failed; answering with the agent's own member", "error", err)
		return a.member
	}
	for _, m := range resp.GetMembers() {
		if strings.EqualFold(m.GetName(), a.cfg.Node) {
			m.Status = catalogv1.MemberStatus_MEMBER_STATUS_ALIVE
			return m
		}
	}
	return a.member
}

// selfNode is the node as the agent registers it: as a Consul agent does,
// with lan/wan tagged addresses (and lan_ipv4/wan_ipv4, or _ipv6), all the
// advertised address, and the network-segment meta beside -node-meta.
// Prometheus' consul_sd and consul-template read them.
func selfNode(cfg Config, id, addr string) *catalogv1.Node {
	return &catalogv1.Node{
		Id: id, Node: cfg.Node, Address: addr, Datacenter: cfg.Datacenter,
		TaggedAddresses: tagged.NodeAddresses(addr), Meta: tagged.NodeMeta(cfg.NodeMeta),
	}
}

// Members passes the catalog's member list through (grpcapi.Lifecycle).
func (a *agent) Members(ctx context.Context) ([]*catalogv1.Member, error) {
	resp, err := a.members.ListMembers(ctx, &catalogv1.ListMembersRequest{})
	if err != nil {
		return nil, err
	}
	return resp.GetMembers(), nil
}

// Leave starts a graceful leave (grpcapi.Lifecycle).
func (a *agent) Leave() {
	a.leaveOnce.Do(func() { close(a.leave) })
}

// Reload re-reads the config dirs and applies them (grpcapi.Lifecycle).
// An invalid file leaves everything as it was.
func (a *agent) Reload(context.Context) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	defs, err := config.Load(a.cfg.ConfigDirs)
	if err != nil {
		a.logger.Error("reload refused: invalid service definitions", "error", err)
		return err
	}
	a.logDefinitions(defs)
	if err := a.state.ApplyFiles(defs); err != nil {
		a.logger.Error("reload refused", "error", err)
		return err
	}
	a.logger.Info("reloaded service definitions", "services", len(defs.Services), "checks", len(defs.Checks))
	return nil
}

func (a *agent) reloadLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-a.cfg.Reload:
			if !ok {
				return
			}
			_ = a.Reload(ctx) // logged
		}
	}
}

func (a *agent) logDefinitions(defs *config.Definitions) {
	for _, w := range defs.Warnings {
		a.logger.Warn("service definitions", "warning", w)
	}
	if len(defs.Ignored) > 0 {
		a.logger.Debug("agent settings in config dirs are not read by beacon-health; use flags", "keys", strings.Join(defs.Ignored, ", "))
	}
}

// routeTo returns the local IP that routes to addr (no packet is sent), or
// 127.0.0.1.
func routeTo(addr string) string {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return "127.0.0.1"
	}
	defer conn.Close()
	if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok && !ua.IP.IsUnspecified() {
		return ua.IP.String()
	}
	return "127.0.0.1"
}
