// Package grpcapi is the catalog's gRPC edge: it validates requests, forwards
// writes and leader reads to the Raft leader, applies writes through Raft,
// and answers reads from the state store as blocking queries.
package grpcapi

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	clusterv1 "github.com/beaconmesh/beacon/proto/beacon/cluster/v1"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	operatorv1 "github.com/beaconmesh/beacon/proto/beacon/operator/v1"
	"github.com/beaconmesh/beacon/services/catalog/cluster"
	"github.com/beaconmesh/beacon/services/catalog/fsm"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// Config configures the API.
type Config struct {
	Node       *cluster.Node
	FSM        *fsm.FSM
	Datacenter string
	Logger     *slog.Logger
	// Registerer receives the catalog's metrics; nil means none.
	Registerer prometheus.Registerer
	// HoldTimeout bounds how long a request waits for a leader (default 7 s,
	// as Consul's RPC hold timeout).
	HoldTimeout time.Duration
	// ApplyTimeout bounds how long a write waits to be enqueued in Raft.
	ApplyTimeout time.Duration
	// SnapshotDir is where uploaded snapshots are spooled ("" = os.TempDir).
	SnapshotDir string
	// DefaultIntentionDeny denies connections no intention matches; by
	// default they are allowed (as in Consul without ACLs, and in -dev).
	DefaultIntentionDeny bool
	// CARootPruneInterval is how often the leader drops CA roots no live
	// leaf can chain to any more (default: hourly, as Consul).
	CARootPruneInterval time.Duration
}

// Server implements every catalog gRPC service.
type Server struct {
	cfg     Config
	node    *cluster.Node
	fsm     *fsm.FSM
	logger  *slog.Logger
	metrics *metrics
	ttl     *sessionTimers
	members *memberTimers

	// ready is true on the leader once it has applied every entry of earlier
	// terms (a barrier), so reads it serves are current.
	ready atomic.Bool
	// synced latches once this replica has caught up with a leader since it
	// started; only then does it serve stale reads (see caughtUp).
	synced atomic.Bool
	// trailer is NameReplicas' trailer for the leader last seen.
	trailer atomic.Pointer[namedTrailer]
	// caMu serializes the leader's read-modify-writes of the CA state
	// (creation, configuration, pruning), which replace it whole.
	caMu sync.Mutex
}

// New returns a Server. Call Register to serve it and RunLeaderDuties to
// keep its leader-only work going.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HoldTimeout <= 0 {
		cfg.HoldTimeout = 7 * time.Second
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = 30 * time.Second
	}
	if cfg.CARootPruneInterval <= 0 {
		cfg.CARootPruneInterval = time.Hour
	}
	s := &Server{cfg: cfg, node: cfg.Node, fsm: cfg.FSM, logger: cfg.Logger.With("component", "catalog-api")}
	s.metrics = newMetrics(cfg.Registerer, s)
	s.ttl = newSessionTimers(s)
	s.members = newMemberTimers(s)
	return s
}

// Register registers every catalog service on g. The replica-to-replica
// cluster service is registered only when internal is true (the server port).
func (s *Server) Register(g *grpc.Server, internal bool) {
	catalogv1.RegisterCatalogServiceServer(g, &catalogService{s: s})
	catalogv1.RegisterHealthServiceServer(g, &healthService{s: s})
	catalogv1.RegisterMembershipServiceServer(g, &membershipService{s: s})
	connectv1.RegisterCAServiceServer(g, &caService{s: s})
	connectv1.RegisterIntentionServiceServer(g, &intentionService{s: s})
	kvv1.RegisterKVServiceServer(g, newKVService(s))
	kvv1.RegisterSessionServiceServer(g, &sessionService{s: s})
	kvv1.RegisterTxnServiceServer(g, &txnService{s: s})
	operatorv1.RegisterStatusServiceServer(g, &statusService{s: s})
	operatorv1.RegisterOperatorServiceServer(g, &operatorService{s: s})
	operatorv1.RegisterSnapshotServiceServer(g, &snapshotService{s: s})
	if internal {
		clusterv1.RegisterClusterServiceServer(g, s.node.Service())
	}
}

// ServiceNames lists the fully qualified names of the public services, for
// grpc.health.v1 status.
func ServiceNames() []string {
	return []string{
		catalogv1.CatalogService_ServiceDesc.ServiceName,
		catalogv1.HealthService_ServiceDesc.ServiceName,
		catalogv1.MembershipService_ServiceDesc.ServiceName,
		connectv1.CAService_ServiceDesc.ServiceName,
		connectv1.IntentionService_ServiceDesc.ServiceName,
		kvv1.KVService_ServiceDesc.ServiceName,
		kvv1.SessionService_ServiceDesc.ServiceName,
		kvv1.TxnService_ServiceDesc.ServiceName,
		operatorv1.StatusService_ServiceDesc.ServiceName,
		operatorv1.OperatorService_ServiceDesc.ServiceName,
		operatorv1.SnapshotService_ServiceDesc.ServiceName,
	}
}

// RunLeaderDuties follows this replica's leadership until ctx ends: on
// gaining it, it waits for a barrier (so reads are current) and arms session
// TTL timers; on losing it, it stops them.
func (s *Server) RunLeaderDuties(ctx context.Context) {
	obs := s.node.Observations()
	changes := s.node.LeaderChanges()
	if s.node.IsLeader() {
		s.becomeLeader(ctx)
	}
	prune := time.NewTicker(s.cfg.CARootPruneInterval)
	defer prune.Stop()
	for {
		select {
		case <-prune.C:
			if s.ready.Load() {
				if err := s.pruneCARoots(ctx, time.Now()); err != nil && ctx.Err() == nil {
					s.logger.Warn("pruning old CA roots failed", "error", err)
				}
			}
		case <-ctx.Done():
			s.ready.Store(false)
			s.ttl.stopAll()
			s.members.stopAll()
			return
		case o := <-obs:
			switch d := o.Data.(type) {
			case raft.LeaderObservation:
				s.metrics.leaderChanges.Inc()
			case raft.FailedHeartbeatObservation:
				s.members.serverHeartbeat(string(d.PeerID), d.LastContact)
			case raft.ResumedHeartbeatObservation:
				s.members.serverHeartbeat(string(d.PeerID), time.Now())
			}
		case leader := <-changes:
			if leader {
				s.becomeLeader(ctx)
			} else {
				s.ready.Store(false)
				s.ttl.stopAll()
				s.members.stopAll()
				s.logger.Info("lost leadership")
			}
		}
	}
}

func (s *Server) becomeLeader(ctx context.Context) {
	for s.node.IsLeader() {
		err := waitFuture(ctx, s.node.Raft.Barrier(s.cfg.ApplyTimeout))
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.logger.Warn("leader barrier failed", "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		s.ready.Store(true)
		s.ttl.armAll()
		s.members.armAll()
		s.logger.Info("leadership established", "index", s.node.Raft.AppliedIndex())
		go s.runEnsureCA(ctx)
		return
	}
}

// runEnsureCA creates the CA if there is none, retrying while this replica
// stays leader.
func (s *Server) runEnsureCA(ctx context.Context) {
	for s.node.IsLeader() {
		err := s.ensureCA(ctx)
		if err == nil {
			return
		}
		s.logger.Warn("connect CA initialization failed; retrying", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}
