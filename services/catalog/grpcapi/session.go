package grpcapi

import (
	"context"
	"sync"
	"time"

	"github.com/beaconmesh/beacon/platform/ids"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/catalog/fsm"
	"github.com/beaconmesh/beacon/services/catalog/state"
	"github.com/hashicorp/go-memdb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// defaultLockDelay is Consul's default session lock-delay.
const defaultLockDelay = 15 * time.Second

type sessionService struct {
	kvv1.UnimplementedSessionServiceServer
	s *Server
}

func (ss *sessionService) CreateSession(ctx context.Context, req *kvv1.CreateSessionRequest) (*kvv1.CreateSessionResponse, error) {
	if err := validateSession(req.GetSession()); err != nil {
		return nil, err
	}
	if resp, ok, err := forward(ctx, ss.s, func(ctx context.Context, cc *grpc.ClientConn) (*kvv1.CreateSessionResponse, error) {
		return kvv1.NewSessionServiceClient(cc).CreateSession(ctx, req)
	}); ok {
		return resp, err
	}
	sess := proto.Clone(req.GetSession()).(*kvv1.Session)
	sess.Id = ids.New()
	sess.CreateIndex, sess.ModifyIndex = 0, 0
	if sess.LockDelay == nil {
		sess.LockDelay = durationpb.New(defaultLockDelay)
	}
	if !req.GetNodeChecksSet() && len(sess.NodeChecks) == 0 {
		sess.NodeChecks = []string{"serfHealth"}
	}
	if sess.Behavior == kvv1.SessionBehavior_SESSION_BEHAVIOR_UNSPECIFIED {
		sess.Behavior = kvv1.SessionBehavior_SESSION_BEHAVIOR_RELEASE
	}
	res, err := ss.s.apply(ctx, fsm.SessionCreateType, sess)
	if err != nil {
		return nil, err
	}
	if ttl := sess.GetTtl().AsDuration(); ttl > 0 {
		ss.s.ttl.reset(sess.Id, ttl)
	}
	return &kvv1.CreateSessionResponse{Meta: &queryv1.WriteMeta{Index: res.Index}, Id: sess.Id}, nil
}

func (ss *sessionService) DestroySession(ctx context.Context, req *kvv1.DestroySessionRequest) (*kvv1.DestroySessionResponse, error) {
	if err := name("id", req.GetId()); err != nil {
		return nil, err
	}
	if resp, ok, err := forward(ctx, ss.s, func(ctx context.Context, cc *grpc.ClientConn) (*kvv1.DestroySessionResponse, error) {
		return kvv1.NewSessionServiceClient(cc).DestroySession(ctx, req)
	}); ok {
		return resp, err
	}
	res, err := ss.s.apply(ctx, fsm.SessionDestroyType, req)
	if err != nil {
		return nil, err
	}
	ss.s.ttl.stop(req.GetId())
	return &kvv1.DestroySessionResponse{Meta: &queryv1.WriteMeta{Index: res.Index}}, nil
}

// RenewSession restarts the TTL timer, which only the leader keeps; it is not
// a Raft write, as in Consul.
func (ss *sessionService) RenewSession(ctx context.Context, req *kvv1.RenewSessionRequest) (*kvv1.RenewSessionResponse, error) {
	if err := name("id", req.GetId()); err != nil {
		return nil, err
	}
	if resp, ok, err := forward(ctx, ss.s, func(ctx context.Context, cc *grpc.ClientConn) (*kvv1.RenewSessionResponse, error) {
		return kvv1.NewSessionServiceClient(cc).RenewSession(ctx, req)
	}); ok {
		return resp, err
	}
	if err := ss.s.leaderRead(ctx); err != nil {
		return nil, err
	}
	idx, sess, err := ss.s.fsm.State().SessionGet(nil, req.GetId())
	if err != nil {
		return nil, toStatus(err)
	}
	if sess == nil {
		return nil, status.Errorf(codes.NotFound, "Session id '%s' not found", req.GetId())
	}
	if ttl := sess.GetTtl().AsDuration(); ttl > 0 {
		ss.s.ttl.reset(sess.GetId(), ttl)
	}
	return &kvv1.RenewSessionResponse{Meta: &queryv1.WriteMeta{Index: idx}, Session: sess}, nil
}

func (ss *sessionService) GetSession(ctx context.Context, req *kvv1.GetSessionRequest) (*kvv1.GetSessionResponse, error) {
	if err := name("id", req.GetId()); err != nil {
		return nil, err
	}
	resp := &kvv1.GetSessionResponse{}
	return serveRead(ctx, ss.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*kvv1.GetSessionResponse, error) {
		return kvv1.NewSessionServiceClient(cc).GetSession(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, sess, err := st.SessionGet(ws, req.GetId())
		resp.Session = sess
		return idx, err
	})
}

func (ss *sessionService) ListSessions(ctx context.Context, req *kvv1.ListSessionsRequest) (*kvv1.ListSessionsResponse, error) {
	resp := &kvv1.ListSessionsResponse{}
	return serveRead(ctx, ss.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*kvv1.ListSessionsResponse, error) {
		return kvv1.NewSessionServiceClient(cc).ListSessions(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, sessions, err := st.SessionList(ws)
		resp.Sessions = sessions
		return idx, err
	})
}

func (ss *sessionService) NodeSessions(ctx context.Context, req *kvv1.NodeSessionsRequest) (*kvv1.NodeSessionsResponse, error) {
	if err := name("node", req.GetNode()); err != nil {
		return nil, err
	}
	resp := &kvv1.NodeSessionsResponse{}
	return serveRead(ctx, ss.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*kvv1.NodeSessionsResponse, error) {
		return kvv1.NewSessionServiceClient(cc).NodeSessions(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, sessions, err := st.NodeSessions(ws, req.GetNode())
		resp.Sessions = sessions
		return idx, err
	})
}

// sessionTimers enforces session TTLs on the leader: a session not renewed
// within 2×TTL (Consul's grace) is destroyed through Raft. A new leader arms
// a fresh full period for every session, so TTLs survive leader changes.
type sessionTimers struct {
	s      *Server
	mu     sync.Mutex
	timers map[string]*time.Timer
}

func newSessionTimers(s *Server) *sessionTimers {
	return &sessionTimers{s: s, timers: map[string]*time.Timer{}}
}

func (t *sessionTimers) reset(id string, ttl time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tm, ok := t.timers[id]; ok {
		tm.Stop()
	}
	t.timers[id] = time.AfterFunc(2*ttl, func() { t.expire(id) })
}

func (t *sessionTimers) stop(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tm, ok := t.timers[id]; ok {
		tm.Stop()
		delete(t.timers, id)
	}
}

func (t *sessionTimers) stopAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, tm := range t.timers {
		tm.Stop()
		delete(t.timers, id)
	}
}

// armAll starts a timer for every session with a TTL; called on leadership.
func (t *sessionTimers) armAll() {
	for _, sess := range t.s.fsm.State().SessionsWithTTL() {
		t.reset(sess.GetId(), sess.GetTtl().AsDuration())
	}
}

func (t *sessionTimers) expire(id string) {
	t.mu.Lock()
	delete(t.timers, id)
	t.mu.Unlock()
	if !t.s.node.IsLeader() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), t.s.cfg.ApplyTimeout)
	defer cancel()
	if _, err := t.s.apply(ctx, fsm.SessionDestroyType, &kvv1.DestroySessionRequest{Id: id}); err != nil {
		t.s.logger.Warn("session ttl expiry failed; retrying", "session", id, "error", err)
		t.reset(id, time.Second/2) // retried in 1 s while still leader
		return
	}
	t.s.logger.Info("session expired", "session", id)
}
