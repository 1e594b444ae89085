// Package cluster runs a catalog replica's Raft node: its log and snapshot
// stores, the server port shared by Raft and replica-to-replica gRPC, and how
// replicas find each other and form or join a group (-bootstrap-expect,
// -retry-join).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/beaconmesh/beacon/platform/ids"
	clusterv1 "github.com/beaconmesh/beacon/proto/beacon/cluster/v1"
	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// Timing holds Raft's timeouts; zero fields take the defaults.
type Timing struct {
	Heartbeat   time.Duration
	Election    time.Duration
	LeaderLease time.Duration
}

// ProductionTiming is Consul's raft_multiplier=1: a failed leader is replaced
// within a few seconds.
var ProductionTiming = Timing{Heartbeat: time.Second, Election: time.Second, LeaderLease: 500 * time.Millisecond}

// DevTiming makes a single in-memory replica leader at once.
var DevTiming = Timing{Heartbeat: 100 * time.Millisecond, Election: 100 * time.Millisecond, LeaderLease: 100 * time.Millisecond}

// Config configures a replica's Raft node.
type Config struct {
	// ID is the Raft server ID. Empty: read from DataDir/node-id, or made up
	// (and saved there) on first start.
	ID         string
	Node       string
	Datacenter string
	// DataDir holds the Raft log, snapshots and node-id; empty keeps
	// everything in memory.
	DataDir string
	// Listener is the server port (Raft and replica-to-replica gRPC). Nil
	// with Dev: an in-memory transport.
	Listener net.Listener
	// Advertise is the address other replicas dial; defaults to the
	// listener's address.
	Advertise string
	// GRPCAddr is the client gRPC address, told to peers.
	GRPCAddr        string
	BootstrapExpect int
	RetryJoin       []string
	// RetryInterval is how often discovery retries; default 1 s.
	RetryInterval time.Duration
	// Dev bootstraps a one-replica group at once.
	Dev    bool
	Timing Timing
	// SnapshotThreshold is how many log entries trigger a snapshot (default 8192).
	SnapshotThreshold uint64
	Logger            *slog.Logger
	FSM               raft.FSM
}

// Node is a running Raft replica.
type Node struct {
	Raft *raft.Raft

	cfg       Config
	self      *clusterv1.Server
	mux       *Mux
	transport raft.Transport
	closers   []io.Closer
	logger    *slog.Logger
	pool      *ConnPool

	leaderMu     sync.Mutex
	leaderNotify chan bool
	observer     *raft.Observer
	observations chan raft.Observation
}

// Start opens the stores and starts Raft. With Dev, or BootstrapExpect 1, a
// fresh node bootstraps itself; otherwise call RunDiscovery.
func Start(cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.FSM == nil {
		return nil, errors.New("cluster: no FSM")
	}
	n := &Node{cfg: cfg, logger: cfg.Logger.With("component", "raft")}
	if err := n.resolveID(); err != nil {
		return nil, err
	}

	var advertise net.Addr
	if cfg.Listener != nil {
		advertise = cfg.Listener.Addr()
		if cfg.Advertise != "" {
			a, err := resolveAdvertise(cfg.Advertise)
			if err != nil {
				return nil, err
			}
			advertise = a
		} else if tcp, ok := advertise.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
			return nil, fmt.Errorf("cluster: bind address %s is unspecified: set -advertise to the address peers dial", advertise)
		}
		n.mux = NewMux(cfg.Listener, advertise, cfg.Logger)
		trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream:  n.mux.StreamLayer(),
			MaxPool: 4,
			Timeout: 10 * time.Second,
			Logger:  newHCLog(cfg.Logger, "raft-net"),
		})
		n.transport = trans
		n.closers = append(n.closers, trans)
	} else {
		if !cfg.Dev {
			return nil, errors.New("cluster: a server listener is required outside dev mode")
		}
		addr := cfg.Advertise
		if addr == "" {
			addr = "127.0.0.1:8300"
		}
		_, trans := raft.NewInmemTransport(raft.ServerAddress(addr))
		n.transport = trans
	}
	cfg.ID = n.cfg.ID
	n.self = &clusterv1.Server{
		Id: cfg.ID, Node: cfg.Node, Address: string(n.transport.LocalAddr()),
		Datacenter: cfg.Datacenter, GrpcAddress: cfg.GRPCAddr, BootstrapExpect: int32(cfg.BootstrapExpect),
	}

	logs, stable, snaps, err := n.openStores()
	if err != nil {
		n.abort()
		return nil, err
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = newHCLog(cfg.Logger, "raft")
	t := cfg.Timing
	if t == (Timing{}) {
		t = ProductionTiming
		if cfg.Dev {
			t = DevTiming
		}
	}
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = t.Heartbeat, t.Election, t.LeaderLease
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
		rc.TrailingLogs = cfg.SnapshotThreshold
	}
	// Let many concurrent writes share one disk sync and one append round:
	// with BatchApplyCh the leader takes up to MaxAppendEntries waiting
	// commands per batch.
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 256
	n.leaderNotify = make(chan bool, 16)
	rc.NotifyCh = n.leaderNotify

	hasState, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		n.abort()
		return nil, fmt.Errorf("cluster: inspect raft state: %w", err)
	}
	r, err := raft.NewRaft(rc, cfg.FSM, logs, stable, snaps, n.transport)
	if err != nil {
		n.abort()
		return nil, fmt.Errorf("cluster: start raft: %w", err)
	}
	n.Raft = r
	n.pool = NewConnPool()
	n.observations = make(chan raft.Observation, 64)
	n.observer = raft.NewObserver(n.observations, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	r.RegisterObserver(n.observer)

	if !hasState && (cfg.Dev || cfg.BootstrapExpect == 1) {
		if err := n.bootstrap([]*clusterv1.Server{n.self}); err != nil {
			n.Shutdown()
			return nil, err
		}
	}
	n.logger.Info("raft started", "id", cfg.ID, "node", cfg.Node, "address", n.self.Address, "existing_state", hasState)
	return n, nil
}

func (n *Node) openStores() (raft.LogStore, raft.StableStore, raft.SnapshotStore, error) {
	if n.cfg.DataDir == "" {
		store := raft.NewInmemStore()
		return store, store, raft.NewInmemSnapshotStore(), nil
	}
	walDir := filepath.Join(n.cfg.DataDir, "raft", "wal")
	if err := os.MkdirAll(walDir, 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("cluster: create %s: %w", walDir, err)
	}
	// raft-wal's Close leaves its metadata database open (and locked), so
	// the node owns it and closes it after the WAL.
	meta := &metadb.BoltMetaDB{}
	n.closers = append(n.closers, meta)
	wal, err := raftwal.Open(walDir, raftwal.WithMetaStore(meta), raftwal.WithLogger(newHCLog(n.cfg.Logger, "wal")))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cluster: open raft log %s: %w", walDir, err)
	}
	n.closers = append(n.closers, wal)
	logs, err := raft.NewLogCache(512, wal)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cluster: log cache: %w", err)
	}
	snapDir := filepath.Join(n.cfg.DataDir, "raft")
	snaps, err := raft.NewFileSnapshotStoreWithLogger(snapDir, 2, newHCLog(n.cfg.Logger, "snapshot"))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cluster: open snapshots in %s: %w", snapDir, err)
	}
	return logs, wal, snaps, nil
}

// resolveID fills cfg.ID from the data dir, or makes one up and saves it.
func (n *Node) resolveID() error {
	if n.cfg.ID != "" {
		return nil
	}
	id, err := ids.LoadNodeID(n.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	n.cfg.ID = id
	return nil
}

func (n *Node) bootstrap(servers []*clusterv1.Server) error {
	var cfg raft.Configuration
	for _, s := range servers {
		cfg.Servers = append(cfg.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(s.Id), Address: raft.ServerAddress(s.Address)})
	}
	if err := n.Raft.BootstrapCluster(cfg).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return fmt.Errorf("cluster: bootstrap: %w", err)
	}
	n.logger.Info("bootstrapped raft group", "servers", len(servers))
	return nil
}

// Self describes this replica.
func (n *Node) Self() *clusterv1.Server { return n.self }

// Pool returns the connection pool to peers' server ports.
func (n *Node) Pool() *ConnPool { return n.pool }

// RPCListener returns the server port's gRPC side (nil in dev mode).
func (n *Node) RPCListener() net.Listener {
	if n.mux == nil {
		return nil
	}
	return n.mux.RPCListener()
}

// LeaderChanges delivers true when this replica becomes leader and false
// when it stops being leader.
func (n *Node) LeaderChanges() <-chan bool { return n.leaderNotify }

// Observations delivers Raft's leader observations and, on the leader,
// its failed and resumed heartbeats to each follower.
func (n *Node) Observations() <-chan raft.Observation { return n.observations }

// IsLeader reports whether this replica is the leader.
func (n *Node) IsLeader() bool { return n.Raft.State() == raft.Leader }

// LeaderAddr returns the leader's server address, "" if unknown.
func (n *Node) LeaderAddr() string {
	addr, _ := n.Raft.LeaderWithID()
	return string(addr)
}

// Shutdown stops Raft and closes the stores and the server port.
func (n *Node) Shutdown() error {
	var errs []error
	if n.Raft != nil {
		n.Raft.DeregisterObserver(n.observer)
		if err := n.Raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
		}
	}
	if n.pool != nil {
		n.pool.Close()
	}
	if n.mux != nil {
		n.mux.Close()
	}
	errs = append(errs, n.closeAll())
	return errors.Join(errs...)
}

// abort undoes a Start that failed before Raft ran.
func (n *Node) abort() {
	if n.mux != nil {
		n.mux.Close()
	}
	n.closeAll()
}

func (n *Node) closeAll() error {
	var errs []error
	for i := len(n.closers) - 1; i >= 0; i-- {
		if err := n.closers[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	n.closers = nil
	return errors.Join(errs...)
}

func resolveAdvertise(s string) (net.Addr, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return nil, fmt.Errorf("cluster: advertise address %q: %w", s, err)
	}
	if host == "" {
		return nil, fmt.Errorf("cluster: advertise address %q has no host", s)
	}
	return advertisedAddr(net.JoinHostPort(host, port)), nil
}

// advertisedAddr is an address that may be a host name (peers resolve it
// when they dial, which survives container IP changes).
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

// WaitLeader blocks until a leader is known or ctx ends.
func (n *Node) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if n.LeaderAddr() != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
