package fakecatalog

import (
	"context"
	"io"
	"slices"

	operatorv1 "github.com/beaconmesh/beacon/proto/beacon/operator/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Leader implements operatorv1.StatusServiceServer.
func (f *Fake) Leader(ctx context.Context, in *operatorv1.LeaderRequest) (*operatorv1.LeaderResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &operatorv1.LeaderResponse{Address: f.LeaderAddr}, nil
}

// Peers implements operatorv1.StatusServiceServer.
func (f *Fake) Peers(ctx context.Context, in *operatorv1.PeersRequest) (*operatorv1.PeersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &operatorv1.PeersResponse{Addresses: f.PeerAddrs}, nil
}

// RaftConfiguration implements operatorv1.OperatorServiceServer.
func (f *Fake) RaftConfiguration(ctx context.Context, in *operatorv1.RaftConfigurationRequest) (*operatorv1.RaftConfigurationResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	return &operatorv1.RaftConfigurationResponse{Meta: f.meta(), Servers: f.Raft, Index: f.index}, nil
}

// RemovePeer implements operatorv1.OperatorServiceServer.
func (f *Fake) RemovePeer(ctx context.Context, in *operatorv1.RemovePeerRequest) (*operatorv1.RemovePeerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.Raft, func(s *operatorv1.RaftServer) bool {
		return in.GetId() != "" && s.GetId() == in.GetId() || in.GetAddress() != "" && s.GetAddress() == in.GetAddress()
	})
	if i < 0 {
		return nil, status.Error(codes.NotFound, "no such server in the Raft configuration")
	}
	f.Raft = slices.Delete(slices.Clone(f.Raft), i, i+1)
	f.bump()
	return &operatorv1.RemovePeerResponse{}, nil
}

// Save implements operatorv1.SnapshotServiceServer: Snapshot in 1 KiB
// chunks, the first with the read meta.
func (f *Fake) Save(in *operatorv1.SaveRequest, stream grpc.ServerStreamingServer[operatorv1.SaveResponse]) error {
	f.mu.Lock()
	data, meta := f.Snapshot, f.meta()
	f.mu.Unlock()
	first := true
	for first || len(data) > 0 {
		n := min(len(data), 1024)
		msg := &operatorv1.SaveResponse{Data: data[:n]}
		if first {
			msg.Meta = meta
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
		data, first = data[n:], false
	}
	return nil
}

// Restore implements operatorv1.SnapshotServiceServer: it keeps what it
// received in Restored.
func (f *Fake) Restore(stream grpc.ClientStreamingServer[operatorv1.RestoreRequest, operatorv1.RestoreResponse]) error {
	var got []byte
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		got = append(got, msg.GetData()...)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Restored = got
	return stream.SendAndClose(&operatorv1.RestoreResponse{Meta: &queryv1.WriteMeta{Index: f.bump()}})
}
