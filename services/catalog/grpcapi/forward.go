package grpcapi

import (
	"context"
	"strconv"
	"time"

	"github.com/beaconmesh/beacon/platform/rpcclient"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// hopsKey counts how many replicas a request has been forwarded through, so
// that a leadership change mid-flight cannot bounce it around forever.
const (
	hopsKey = "x-beacon-forwarded"
	maxHops = 2
)

// NameReplicas is a unary server interceptor that names, in every answer's
// trailer, this replica and the leader it knows (by Raft server address),
// so that clients (platform/rpcclient) send what only the leader answers
// straight to it instead of through a forwarding follower.
func (s *Server) NameReplicas(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	_ = grpc.SetTrailer(ctx, s.replicaTrailer())
	return resp, err
}

// replicaTrailer is NameReplicas' trailer, made again only when the leader
// changes (gRPC copies a trailer it is given, so one may serve every call).
func (s *Server) replicaTrailer() metadata.MD {
	leader := s.node.LeaderAddr()
	if t := s.trailer.Load(); t != nil && t.leader == leader {
		return t.md
	}
	t := &namedTrailer{leader: leader, md: metadata.MD{
		rpcclient.ReplicaTrailer: {s.node.Self().Address},
		rpcclient.LeaderTrailer:  {leader},
	}}
	s.trailer.Store(t)
	return t.md
}

// namedTrailer is a trailer naming this replica and leader.
type namedTrailer struct {
	leader string
	md     metadata.MD
}

// forward sends the request to the leader when this replica is not it.
// handled is false when this replica is the leader and must answer itself.
func forward[Resp any](ctx context.Context, s *Server, call func(context.Context, *grpc.ClientConn) (Resp, error)) (resp Resp, handled bool, err error) {
	if s.node.IsLeader() {
		return resp, false, nil
	}
	hops := 0
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(hopsKey); len(v) > 0 {
			hops, _ = strconv.Atoi(v[0])
		}
	}
	leader, err := s.waitForLeader(ctx)
	if err != nil {
		return resp, true, err
	}
	if leader == s.node.Self().Address {
		return resp, false, nil
	}
	if hops >= maxHops {
		return resp, true, status.Errorf(codes.Unavailable, "request forwarded %d times without reaching the leader", hops)
	}
	conn, err := s.node.Pool().Conn(leader)
	if err != nil {
		return resp, true, status.Error(codes.Unavailable, err.Error())
	}
	ctx = metadata.AppendToOutgoingContext(ctx, hopsKey, strconv.Itoa(hops+1))
	resp, err = call(ctx, conn)
	return resp, true, err
}

// staleCatchUpWait is how long a follower behind a stale read's
// min_state_index waits to catch up before it forwards the read to the
// leader: long enough for ordinary replication lag, short enough that a
// partitioned replica fails over to the leader quickly.
const staleCatchUpWait = 250 * time.Millisecond

// forwardRead forwards a read unless it may be served stale. A stale read
// is served here only once this replica has caught up with the leader since
// it started (see caughtUp), so a replica that restarts from an old
// snapshot never answers from the past, and only when its state is at least
// the read's min_state_index (waiting up to staleCatchUpWait for it), so a
// client's stale reads never go back in time when they land on a replica
// that is behind; otherwise the read goes to the leader.
func forwardRead[Resp any](ctx context.Context, s *Server, opts *queryv1.ReadOptions, call func(context.Context, *grpc.ClientConn) (Resp, error)) (Resp, bool, error) {
	if opts.GetConsistency() == queryv1.Consistency_CONSISTENCY_STALE && s.caughtUp() &&
		s.waitState(ctx, opts.GetMinStateIndex(), staleCatchUpWait) == nil {
		var zero Resp
		return zero, false, nil
	}
	return forward(ctx, s, call)
}

// waitForLeader returns the leader's address, waiting up to the hold timeout
// for an election to finish.
func (s *Server) waitForLeader(ctx context.Context) (string, error) {
	var addr string
	known := func() bool {
		addr = s.node.LeaderAddr()
		return addr != ""
	}
	if !pollUntil(ctx, s.cfg.HoldTimeout, 20*time.Millisecond, known) {
		return "", errNoLeader
	}
	return addr, nil
}

// serveRead answers a read: on the leader unless the read may be stale,
// else here as a blocking query whose fill stores its result in resp. meta
// points at resp's ReadMeta field. An answer whose index is the client's
// known_index goes back without its payload (see ReadOptions).
func serveRead[Resp proto.Message](ctx context.Context, s *Server, opts *queryv1.ReadOptions, resp Resp, meta **queryv1.ReadMeta,
	remote func(context.Context, *grpc.ClientConn) (Resp, error), fill queryFunc) (Resp, error) {
	if r, ok, err := forwardRead(ctx, s, opts, remote); ok {
		return r, err
	}
	m, err := s.blockingQuery(ctx, opts, fill)
	*meta = m
	if err == nil {
		queryv1.LeaveOutUnchanged(opts, resp, m)
	}
	return resp, err
}
