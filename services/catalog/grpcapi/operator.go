package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	operatorv1 "github.com/beaconmesh/beacon/proto/beacon/operator/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/catalog/state"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type statusService struct {
	operatorv1.UnimplementedStatusServiceServer
	s *Server
}

func (st *statusService) Leader(ctx context.Context, req *operatorv1.LeaderRequest) (*operatorv1.LeaderResponse, error) {
	return &operatorv1.LeaderResponse{Address: st.s.node.LeaderAddr()}, nil
}

func (st *statusService) Peers(ctx context.Context, req *operatorv1.PeersRequest) (*operatorv1.PeersResponse, error) {
	cfg, _, err := st.s.raftConfiguration()
	if err != nil {
		return nil, err
	}
	resp := &operatorv1.PeersResponse{}
	for _, srv := range cfg.Servers {
		if srv.Suffrage == raft.Voter {
			resp.Addresses = append(resp.Addresses, string(srv.Address))
		}
	}
	sort.Strings(resp.Addresses)
	return resp, nil
}

// raftConfiguration is the latest Raft configuration and the index of the
// log entry that set it.
func (s *Server) raftConfiguration() (raft.Configuration, uint64, error) {
	fut := s.node.Raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return raft.Configuration{}, 0, status.Errorf(codes.Unavailable, "read raft configuration: %v", err)
	}
	return fut.Configuration(), fut.Index(), nil
}

type operatorService struct {
	operatorv1.UnimplementedOperatorServiceServer
	s *Server
}

func (o *operatorService) RaftConfiguration(ctx context.Context, req *operatorv1.RaftConfigurationRequest) (*operatorv1.RaftConfigurationResponse, error) {
	if resp, ok, err := forwardRead(ctx, o.s, req.GetOptions(), func(ctx context.Context, cc *grpc.ClientConn) (*operatorv1.RaftConfigurationResponse, error) {
		return operatorv1.NewOperatorServiceClient(cc).RaftConfiguration(ctx, req)
	}); ok {
		return resp, err
	}
	if err := validateReadOptions(req.GetOptions()); err != nil {
		return nil, err
	}
	if req.GetOptions().GetConsistency() != queryv1.Consistency_CONSISTENCY_STALE {
		if err := o.s.leaderRead(ctx); err != nil {
			return nil, err
		}
	}
	cfg, index, err := o.s.raftConfiguration()
	if err != nil {
		return nil, err
	}
	// Replicas register themselves as catalog nodes whose ID is their Raft
	// server ID; that is how an ID gets its node name.
	names := map[string]string{}
	if _, nodes, err := o.s.fsm.State().Nodes(nil, nil); err == nil {
		for _, n := range nodes {
			if n.GetId() != "" {
				names[n.GetId()] = n.GetNode()
			}
		}
	}
	leader := o.s.node.LeaderAddr()
	resp := &operatorv1.RaftConfigurationResponse{Index: index, Meta: o.s.readMeta(index)}
	for _, srv := range cfg.Servers {
		node := names[string(srv.ID)]
		if node == "" {
			node = "(unknown)"
		}
		resp.Servers = append(resp.Servers, &operatorv1.RaftServer{
			Id: string(srv.ID), Node: node, Address: string(srv.Address),
			Leader: string(srv.Address) == leader, Voter: srv.Suffrage == raft.Voter,
			ProtocolVersion: "3",
		})
	}
	return resp, nil
}

func (o *operatorService) RemovePeer(ctx context.Context, req *operatorv1.RemovePeerRequest) (*operatorv1.RemovePeerResponse, error) {
	if (req.GetId() == "") == (req.GetAddress() == "") {
		return nil, invalid("exactly one of id and address is required")
	}
	if resp, ok, err := forward(ctx, o.s, func(ctx context.Context, cc *grpc.ClientConn) (*operatorv1.RemovePeerResponse, error) {
		return operatorv1.NewOperatorServiceClient(cc).RemovePeer(ctx, req)
	}); ok {
		return resp, err
	}
	cfg, _, err := o.s.raftConfiguration()
	if err != nil {
		return nil, err
	}
	for _, srv := range cfg.Servers {
		if (req.GetId() != "" && string(srv.ID) == req.GetId()) || (req.GetAddress() != "" && string(srv.Address) == req.GetAddress()) {
			if err := waitFuture(ctx, o.s.node.Raft.RemoveServer(srv.ID, 0, o.s.cfg.ApplyTimeout)); err != nil {
				return nil, toStatus(err)
			}
			return &operatorv1.RemovePeerResponse{}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "no raft peer with id %q or address %q", req.GetId(), req.GetAddress())
}

type snapshotService struct {
	operatorv1.UnimplementedSnapshotServiceServer
	s *Server
}

const snapshotChunk = 256 << 10

// Save streams the state as of now: from the leader unless stale.
func (ss *snapshotService) Save(req *operatorv1.SaveRequest, stream grpc.ServerStreamingServer[operatorv1.SaveResponse]) error {
	ctx := stream.Context()
	if err := enum("consistency", req.GetConsistency()); err != nil {
		return err
	}
	opts := &queryv1.ReadOptions{Consistency: req.GetConsistency()}
	if _, handled, err := forwardRead(ctx, ss.s, opts, func(ctx context.Context, cc *grpc.ClientConn) (struct{}, error) {
		return struct{}{}, relaySave(ctx, cc, req, stream)
	}); handled {
		return err
	}
	if req.GetConsistency() != queryv1.Consistency_CONSISTENCY_STALE {
		if err := ss.s.leaderRead(ctx); err != nil {
			return err
		}
	}
	// Spool first: the index must lead the stream (the HTTP gateway sends it
	// as X-Consul-Index before the body).
	f, err := os.CreateTemp(ss.s.cfg.SnapshotDir, "beacon-save-*.snap")
	if err != nil {
		return status.Errorf(codes.Internal, "spool snapshot: %v", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	idx, err := ss.s.fsm.WriteSnapshot(f)
	if err != nil {
		return status.Errorf(codes.Internal, "write snapshot: %v", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return status.Errorf(codes.Internal, "spool snapshot: %v", err)
	}
	buf := make([]byte, snapshotChunk)
	msg := &operatorv1.SaveResponse{Meta: ss.s.readMeta(idx)}
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 || msg.Meta != nil {
			msg.Data = buf[:n]
			if err := stream.Send(msg); err != nil {
				return err
			}
			msg = &operatorv1.SaveResponse{}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			return nil
		}
		if rerr != nil {
			return status.Errorf(codes.Internal, "read spooled snapshot: %v", rerr)
		}
	}
}

func relaySave(ctx context.Context, cc *grpc.ClientConn, req *operatorv1.SaveRequest, out grpc.ServerStreamingServer[operatorv1.SaveResponse]) error {
	in, err := operatorv1.NewSnapshotServiceClient(cc).Save(ctx, req)
	if err != nil {
		return err
	}
	for {
		msg, err := in.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := out.Send(msg); err != nil {
			return err
		}
	}
}

// Restore spools the uploaded archive to disk, checks that it decodes, and
// has the leader install it through Raft, which replaces every replica's
// state and wakes every blocked reader.
func (ss *snapshotService) Restore(stream grpc.ClientStreamingServer[operatorv1.RestoreRequest, operatorv1.RestoreResponse]) error {
	ctx := stream.Context()
	f, err := os.CreateTemp(ss.s.cfg.SnapshotDir, "beacon-restore-*.snap")
	if err != nil {
		return status.Errorf(codes.Internal, "spool snapshot: %v", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if _, err := f.Write(msg.GetData()); err != nil {
			return status.Errorf(codes.Internal, "spool snapshot: %v", err)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return status.Errorf(codes.Internal, "spool snapshot: %v", err)
	}
	restored, err := state.Restore(f)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "snapshot archive is not valid: %v", err)
	}
	maxIdx := restored.MaxIndex()
	if resp, ok, err := forward(ctx, ss.s, func(ctx context.Context, cc *grpc.ClientConn) (*operatorv1.RestoreResponse, error) {
		return relayRestore(ctx, cc, f)
	}); ok {
		if err != nil {
			return err
		}
		return stream.SendAndClose(resp)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return status.Errorf(codes.Internal, "spool snapshot: %v", err)
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: maxIdx, Size: size}
	if err := ss.s.node.Raft.Restore(meta, f, ss.s.cfg.ApplyTimeout); err != nil {
		return toStatus(fmt.Errorf("raft restore: %w", err))
	}
	ss.s.ttl.stopAll()
	ss.s.ttl.armAll()
	ss.s.logger.Info("snapshot restored", "index", ss.s.node.Raft.AppliedIndex())
	return stream.SendAndClose(&operatorv1.RestoreResponse{Meta: &queryv1.WriteMeta{Index: ss.s.node.Raft.AppliedIndex()}})
}

func relayRestore(ctx context.Context, cc *grpc.ClientConn, f *os.File) (*operatorv1.RestoreResponse, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, status.Errorf(codes.Internal, "spool snapshot: %v", err)
	}
	out, err := operatorv1.NewSnapshotServiceClient(cc).Restore(ctx)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, snapshotChunk)
	for {
		n, rerr := f.Read(buf)
		if n > 0 {
			if err := out.Send(&operatorv1.RestoreRequest{Data: append([]byte(nil), buf[:n]...)}); err != nil {
				if errors.Is(err, io.EOF) {
					break // the leader answered early; CloseAndRecv has its status
				}
				return nil, err
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return nil, status.Errorf(codes.Internal, "read spooled snapshot: %v", rerr)
		}
	}
	return out.CloseAndRecv()
}
