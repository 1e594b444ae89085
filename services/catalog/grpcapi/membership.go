package grpcapi

import (
	"context"
	"strings"
	"sync"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/catalog/fsm"
	"github.com/beaconmesh/beacon/services/catalog/state"
	"github.com/hashicorp/go-memdb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Membership defaults: an agent heartbeats about every second and is failed
// after ttl without one, well inside Consul users' "failed within 10 s".
const (
	defaultMemberTTL = 10 * time.Second
	// serverFailAfter is how long the leader's heartbeats to a catalog
	// replica must have failed before the replica's member is failed.
	serverFailAfter = 5 * time.Second
	minMemberTTL    = time.Second
	maxMemberTTL    = 5 * time.Minute
)

type membershipService struct {
	catalogv1.UnimplementedMembershipServiceServer
	s *Server
}

func validateMember(m *catalogv1.Member) error {
	if m == nil {
		return invalid("member is required")
	}
	if err := name("member.name", m.GetName()); err != nil {
		return err
	}
	if err := address("member.address", m.GetAddress()); err != nil {
		return err
	}
	if err := port("member.port", m.GetPort()); err != nil {
		return err
	}
	return nil
}

func memberTTL(field string, ttl interface{ AsDuration() time.Duration }, set bool) (time.Duration, error) {
	if !set {
		return defaultMemberTTL, nil
	}
	d := ttl.AsDuration()
	if d == 0 {
		return defaultMemberTTL, nil
	}
	if d < minMemberTTL || d > maxMemberTTL {
		return 0, invalid("%s %s: must be between %s and %s", field, d, minMemberTTL, maxMemberTTL)
	}
	return d, nil
}

func (ms *membershipService) JoinMember(ctx context.Context, req *catalogv1.JoinMemberRequest) (*catalogv1.JoinMemberResponse, error) {
	if err := validateMember(req.GetMember()); err != nil {
		return nil, err
	}
	if err := validateNode(req.GetNode()); err != nil {
		return nil, err
	}
	if !strings.EqualFold(req.GetNode().GetNode(), req.GetMember().GetName()) {
		return nil, invalid("node.node %q must equal member.name %q", req.GetNode().GetNode(), req.GetMember().GetName())
	}
	ttl, err := memberTTL("ttl", req.GetTtl(), req.Ttl != nil)
	if err != nil {
		return nil, err
	}
	if resp, ok, err := forward(ctx, ms.s, func(ctx context.Context, cc *grpc.ClientConn) (*catalogv1.JoinMemberResponse, error) {
		return catalogv1.NewMembershipServiceClient(cc).JoinMember(ctx, req)
	}); ok {
		return resp, err
	}
	req = proto.Clone(req).(*catalogv1.JoinMemberRequest)
	req.Member.Status = catalogv1.MemberStatus_MEMBER_STATUS_ALIVE
	if req.Node.Datacenter == "" {
		req.Node.Datacenter = ms.s.cfg.Datacenter
	}
	res, err := ms.s.apply(ctx, fsm.MemberJoinType, req)
	if err != nil {
		return nil, err
	}
	// Catalog servers are watched by Raft, not by heartbeats (see armAll).
	if req.GetMember().GetTags()["role"] != "consul" {
		ms.s.members.beat(req.GetMember().GetName(), ttl)
	}
	return &catalogv1.JoinMemberResponse{Meta: &queryv1.WriteMeta{Index: res.Index}}, nil
}

// Heartbeat is answered by the leader from memory; only a failed member
// coming back costs a Raft write.
func (ms *membershipService) Heartbeat(ctx context.Context, req *catalogv1.HeartbeatRequest) (*catalogv1.HeartbeatResponse, error) {
	if err := name("name", req.GetName()); err != nil {
		return nil, err
	}
	ttl, err := memberTTL("ttl", req.GetTtl(), req.Ttl != nil)
	if err != nil {
		return nil, err
	}
	if resp, ok, err := forward(ctx, ms.s, func(ctx context.Context, cc *grpc.ClientConn) (*catalogv1.HeartbeatResponse, error) {
		return catalogv1.NewMembershipServiceClient(cc).Heartbeat(ctx, req)
	}); ok {
		return resp, err
	}
	m := ms.s.fsm.State().Member(req.GetName())
	if m == nil || m.GetStatus() == catalogv1.MemberStatus_MEMBER_STATUS_LEFT {
		return &catalogv1.HeartbeatResponse{Known: false}, nil
	}
	if m.GetStatus() != catalogv1.MemberStatus_MEMBER_STATUS_ALIVE {
		if _, err := ms.s.apply(ctx, fsm.MemberStatusType, &catalogv1.Member{Name: m.GetName(), Status: catalogv1.MemberStatus_MEMBER_STATUS_ALIVE}); err != nil {
			return nil, err
		}
		ms.s.logger.Info("member alive again", "member", m.GetName())
	}
	ms.s.members.beat(m.GetName(), ttl)
	return &catalogv1.HeartbeatResponse{Known: true}, nil
}

func (ms *membershipService) LeaveMember(ctx context.Context, req *catalogv1.LeaveMemberRequest) (*catalogv1.LeaveMemberResponse, error) {
	if err := name("name", req.GetName()); err != nil {
		return nil, err
	}
	if resp, ok, err := forward(ctx, ms.s, func(ctx context.Context, cc *grpc.ClientConn) (*catalogv1.LeaveMemberResponse, error) {
		return catalogv1.NewMembershipServiceClient(cc).LeaveMember(ctx, req)
	}); ok {
		return resp, err
	}
	var res *fsm.Result
	var err error
	if req.GetPrune() {
		res, err = ms.s.apply(ctx, fsm.MemberRemoveType, &catalogv1.LeaveMemberRequest{Name: req.GetName()})
	} else {
		res, err = ms.s.apply(ctx, fsm.MemberStatusType, &catalogv1.Member{Name: req.GetName(), Status: catalogv1.MemberStatus_MEMBER_STATUS_LEFT})
	}
	if err != nil {
		return nil, err
	}
	ms.s.members.stop(req.GetName())
	return &catalogv1.LeaveMemberResponse{Meta: &queryv1.WriteMeta{Index: res.Index}}, nil
}

func (ms *membershipService) ListMembers(ctx context.Context, req *catalogv1.ListMembersRequest) (*catalogv1.ListMembersResponse, error) {
	resp := &catalogv1.ListMembersResponse{}
	return serveRead(ctx, ms.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*catalogv1.ListMembersResponse, error) {
		return catalogv1.NewMembershipServiceClient(cc).ListMembers(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, members, err := st.Members(ws)
		resp.Members = members
		return idx, err
	})
}

// memberTimers is the leader's failure detector: a member whose timer fires
// is marked failed through Raft. A new leader gives every alive member a
// fresh full ttl, so a leader change never fails healthy agents.
type memberTimers struct {
	s      *Server
	mu     sync.Mutex
	timers map[string]*time.Timer
}

func newMemberTimers(s *Server) *memberTimers {
	return &memberTimers{s: s, timers: map[string]*time.Timer{}}
}

func (t *memberTimers) beat(name string, ttl time.Duration) {
	key := strings.ToLower(name)
	t.mu.Lock()
	defer t.mu.Unlock()
	if tm, ok := t.timers[key]; ok {
		tm.Reset(ttl)
		return
	}
	t.timers[key] = time.AfterFunc(ttl, func() { t.fail(name) })
}

func (t *memberTimers) stop(name string) {
	key := strings.ToLower(name)
	t.mu.Lock()
	defer t.mu.Unlock()
	if tm, ok := t.timers[key]; ok {
		tm.Stop()
		delete(t.timers, key)
	}
}

func (t *memberTimers) stopAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, tm := range t.timers {
		tm.Stop()
		delete(t.timers, k)
	}
}

// armAll starts the failure detector for every alive agent (catalog servers
// are watched by Raft itself).
func (t *memberTimers) armAll() {
	_, members, err := t.s.fsm.State().Members(nil)
	if err != nil {
		return
	}
	for _, m := range members {
		if m.GetStatus() == catalogv1.MemberStatus_MEMBER_STATUS_ALIVE && m.GetTags()["role"] != "consul" {
			t.beat(m.GetName(), defaultMemberTTL)
		}
	}
}

func (t *memberTimers) fail(name string) {
	t.mu.Lock()
	delete(t.timers, strings.ToLower(name))
	t.mu.Unlock()
	if !t.s.node.IsLeader() {
		return
	}
	m := t.s.fsm.State().Member(name)
	if m == nil || m.GetStatus() != catalogv1.MemberStatus_MEMBER_STATUS_ALIVE {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), t.s.cfg.ApplyTimeout)
	defer cancel()
	if _, err := t.s.apply(ctx, fsm.MemberStatusType, &catalogv1.Member{Name: m.GetName(), Status: catalogv1.MemberStatus_MEMBER_STATUS_FAILED}); err != nil {
		t.s.logger.Warn("marking member failed", "member", name, "error", err)
		t.beat(name, time.Second) // retried while still leader
		return
	}
	t.s.logger.Warn("member failed: no heartbeat", "member", name)
}

// serverHeartbeat is the leader's failure detector for catalog replicas,
// fed by Raft's own heartbeats: a replica the leader has not reached for
// serverFailAfter becomes failed (its serfHealth critical), and one that
// answers again becomes alive. lastContact is when the replica last
// answered.
func (t *memberTimers) serverHeartbeat(serverID string, lastContact time.Time) {
	if !t.s.node.IsLeader() || lastContact.IsZero() {
		return
	}
	want := catalogv1.MemberStatus_MEMBER_STATUS_ALIVE
	if time.Since(lastContact) >= serverFailAfter {
		want = catalogv1.MemberStatus_MEMBER_STATUS_FAILED
	}
	_, members, err := t.s.fsm.State().Members(nil)
	if err != nil {
		return
	}
	for _, m := range members {
		if m.GetTags()["role"] != "consul" || m.GetTags()["id"] != serverID {
			continue
		}
		if st := m.GetStatus(); st == want || st == catalogv1.MemberStatus_MEMBER_STATUS_LEFT {
			return
		}
		name := m.GetName()
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), t.s.cfg.ApplyTimeout)
			defer cancel()
			if _, err := t.s.apply(ctx, fsm.MemberStatusType, &catalogv1.Member{Name: name, Status: want}); err != nil {
				t.s.logger.Warn("updating a catalog replica's member status", "member", name, "status", want, "error", err)
				return
			}
			t.s.logger.Info("catalog replica member status", "member", name, "status", want, "last_contact", lastContact)
		}()
		return
	}
}
