package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	clusterv1 "github.com/beaconmesh/beacon/proto/beacon/cluster/v1"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Service implements beacon.cluster.v1.ClusterService for this node.
type Service struct {
	clusterv1.UnimplementedClusterServiceServer
	n *Node
}

// Service returns the replica-to-replica discovery service.
func (n *Node) Service() *Service { return &Service{n: n} }

// Hello tells a peer who this replica is and what it knows.
func (s *Service) Hello(ctx context.Context, req *clusterv1.HelloRequest) (*clusterv1.HelloResponse, error) {
	return &clusterv1.HelloResponse{
		Server:           s.n.self,
		HasConfiguration: s.n.hasConfiguration(),
		LeaderAddress:    s.n.LeaderAddr(),
	}, nil
}

// Join adds the caller to the Raft configuration; only the leader can.
func (s *Service) Join(ctx context.Context, req *clusterv1.JoinRequest) (*clusterv1.JoinResponse, error) {
	srv := req.GetServer()
	if srv.GetId() == "" || srv.GetAddress() == "" {
		return nil, status.Error(codes.InvalidArgument, "server.id and server.address are required")
	}
	if !s.n.IsLeader() {
		return nil, status.Errorf(codes.FailedPrecondition, "not the leader; the leader is %q", s.n.LeaderAddr())
	}
	if err := s.n.addVoter(srv); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &clusterv1.JoinResponse{}, nil
}

// addVoter adds srv, first removing any other server at its address (a
// replica that came back with a wiped data dir has a new ID).
func (n *Node) addVoter(srv *clusterv1.Server) error {
	fut := n.Raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return fmt.Errorf("read raft configuration: %w", err)
	}
	for _, s := range fut.Configuration().Servers {
		if s.ID == raft.ServerID(srv.Id) && s.Address == raft.ServerAddress(srv.Address) {
			return nil
		}
		if s.Address == raft.ServerAddress(srv.Address) && s.ID != raft.ServerID(srv.Id) {
			if err := n.Raft.RemoveServer(s.ID, 0, 10*time.Second).Error(); err != nil {
				return fmt.Errorf("remove stale server %s at %s: %w", s.ID, s.Address, err)
			}
		}
	}
	if err := n.Raft.AddVoter(raft.ServerID(srv.Id), raft.ServerAddress(srv.Address), 0, 10*time.Second).Error(); err != nil {
		return fmt.Errorf("add voter %s at %s: %w", srv.Id, srv.Address, err)
	}
	n.logger.Info("added raft voter", "id", srv.Id, "node", srv.Node, "address", srv.Address)
	return nil
}

func (n *Node) hasConfiguration() bool {
	fut := n.Raft.GetConfiguration()
	if fut.Error() != nil {
		return false
	}
	return len(fut.Configuration().Servers) > 0
}

func (n *Node) inConfiguration() bool {
	fut := n.Raft.GetConfiguration()
	if fut.Error() != nil {
		return false
	}
	for _, s := range fut.Configuration().Servers {
		if s.ID == raft.ServerID(n.cfg.ID) {
			return true
		}
	}
	return false
}

// RunDiscovery contacts the -retry-join peers until this replica is part of
// a Raft group with a leader: it bootstraps a new group once it sees
// BootstrapExpect fresh servers (every one of them computes the same
// configuration, so they may all bootstrap), or asks an existing group's
// leader to add it. It returns when done or when ctx ends.
func (n *Node) RunDiscovery(ctx context.Context) error {
	interval := n.cfg.RetryInterval
	if interval <= 0 {
		interval = time.Second
	}
	for {
		if n.LeaderAddr() != "" && n.inConfiguration() {
			return nil
		}
		if err := n.discoverOnce(ctx); err != nil {
			n.logger.Debug("cluster discovery", "error", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

func (n *Node) discoverOnce(ctx context.Context) error {
	if len(n.cfg.RetryJoin) == 0 {
		return errors.New("no -retry-join address to contact")
	}
	seen := map[string]*clusterv1.Server{n.self.Id: n.self}
	var leader string
	anyConfigured := false
	var errs []error
	for _, addr := range n.cfg.RetryJoin {
		if addr == n.self.Address {
			continue
		}
		resp, err := n.hello(ctx, addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("hello %s: %w", addr, err))
			continue
		}
		srv := resp.GetServer()
		if srv.GetId() == n.self.Id {
			continue // our own address under another name
		}
		if srv.GetDatacenter() != n.cfg.Datacenter {
			errs = append(errs, fmt.Errorf("%s is in datacenter %q, not %q", addr, srv.GetDatacenter(), n.cfg.Datacenter))
			continue
		}
		seen[srv.GetId()] = srv
		if resp.GetHasConfiguration() {
			anyConfigured = true
		}
		if resp.GetLeaderAddress() != "" {
			leader = resp.GetLeaderAddress()
		}
	}
	switch {
	case leader != "":
		if n.inConfiguration() {
			return nil // the leader will reach us
		}
		return n.join(ctx, leader)
	case anyConfigured || n.hasConfiguration():
		return errors.Join(append(errs, errors.New("a raft group exists but has no leader yet"))...)
	case n.cfg.BootstrapExpect > 1 && len(seen) >= n.cfg.BootstrapExpect:
		servers := make([]*clusterv1.Server, 0, len(seen))
		for _, s := range seen {
			servers = append(servers, s)
		}
		sort.Slice(servers, func(i, j int) bool { return servers[i].Id < servers[j].Id })
		return n.bootstrap(servers)
	}
	return errors.Join(append(errs, fmt.Errorf("waiting for %d servers, know %d", n.cfg.BootstrapExpect, len(seen)))...)
}

func (n *Node) hello(ctx context.Context, addr string) (*clusterv1.HelloResponse, error) {
	conn, err := n.pool.Conn(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return clusterv1.NewClusterServiceClient(conn).Hello(ctx, &clusterv1.HelloRequest{From: proto.Clone(n.self).(*clusterv1.Server)})
}

func (n *Node) join(ctx context.Context, leader string) error {
	conn, err := n.pool.Conn(leader)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := clusterv1.NewClusterServiceClient(conn).Join(ctx, &clusterv1.JoinRequest{Server: n.self}); err != nil {
		return fmt.Errorf("join via leader %s: %w", leader, err)
	}
	n.logger.Info("joined raft group", "leader", leader)
	return nil
}
