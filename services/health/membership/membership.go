// Package membership keeps the agent a member of the cluster through the
// catalog's MembershipService: it joins, heartbeats every Interval with a
// TTL a few intervals long, joins again when the catalog no longer knows
// it (after a snapshot restore, or a force-leave), and leaves gracefully.
// The catalog leader turns a member whose heartbeats stop into "failed".
package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Client is what membership needs of the catalog; the generated
// MembershipService client provides it.
type Client interface {
	JoinMember(ctx context.Context, in *catalogv1.JoinMemberRequest, opts ...grpc.CallOption) (*catalogv1.JoinMemberResponse, error)
	Heartbeat(ctx context.Context, in *catalogv1.HeartbeatRequest, opts ...grpc.CallOption) (*catalogv1.HeartbeatResponse, error)
	LeaveMember(ctx context.Context, in *catalogv1.LeaveMemberRequest, opts ...grpc.CallOption) (*catalogv1.LeaveMemberResponse, error)
}

// Config configures a Member.
type Config struct {
	Client Client
	// Member is this agent as a member (name, address, port, tags).
	Member *catalogv1.Member
	// Node is registered with the member; Node.Node must be Member.Name.
	Node *catalogv1.Node
	// Interval is the heartbeat period (default 1 s) and TTL how long the
	// catalog waits without one before it fails the member (default 5 s).
	Interval, TTL time.Duration
	// MaxRetry caps the pause between failed joins (default 10 s).
	MaxRetry time.Duration
	// OnJoin runs after every successful join, e.g. to re-sync services
	// that a restore may have lost.
	OnJoin func()
	Logger *slog.Logger
}

// Member runs the join/heartbeat loop of one agent.
type Member struct {
	cfg    Config
	logger *slog.Logger

	mu     sync.Mutex
	joined bool
	left   bool
}

// New returns a Member; Run starts it.
func New(cfg Config) (*Member, error) {
	if cfg.Client == nil {
		return nil, errors.New("membership: client is required")
	}
	if cfg.Member.GetName() == "" || cfg.Node.GetNode() != cfg.Member.GetName() {
		return nil, errors.New("membership: member name is required and must equal the node name")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Second
	}
	if cfg.MaxRetry <= 0 {
		cfg.MaxRetry = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Member{cfg: cfg, logger: cfg.Logger.With("component", "membership")}, nil
}

// Joined reports whether the last join succeeded and no heartbeat has
// since found the member unknown.
func (m *Member) Joined() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.joined
}

func (m *Member) setJoined(v bool) {
	m.mu.Lock()
	m.joined = v
	m.mu.Unlock()
}

// Run joins, then heartbeats until ctx ends. It does not leave: call
// Leave for a graceful exit.
func (m *Member) Run(ctx context.Context) {
	retry := m.cfg.Interval
	for ctx.Err() == nil {
		if err := m.join(ctx); err != nil {
			if ctx.Err() != nil || errors.Is(err, errLeft) {
				return
			}
			m.logger.Warn("joining the cluster failed; will retry", "error", err, "retry_in", retry)
			if !sleep(ctx, retry) {
				return
			}
			retry = min(2*retry, m.cfg.MaxRetry)
			continue
		}
		retry = m.cfg.Interval
		m.heartbeat(ctx)
	}
}

func (m *Member) join(ctx context.Context) error {
	m.mu.Lock()
	left := m.left
	m.mu.Unlock()
	if left {
		return errLeft
	}
	ctx, cancel := context.WithTimeout(ctx, m.rpcTimeout())
	defer cancel()
	req := &catalogv1.JoinMemberRequest{
		Member: proto.Clone(m.cfg.Member).(*catalogv1.Member),
		Node:   proto.Clone(m.cfg.Node).(*catalogv1.Node),
		Ttl:    durationpb.New(m.cfg.TTL),
	}
	if _, err := m.cfg.Client.JoinMember(ctx, req); err != nil {
		return fmt.Errorf("join member: %w", err)
	}
	m.setJoined(true)
	m.logger.Info("joined the cluster", "member", m.cfg.Member.GetName())
	if m.cfg.OnJoin != nil {
		m.cfg.OnJoin()
	}
	return nil
}

// heartbeat beats every Interval until ctx ends or the catalog no longer
// knows the member. A failed heartbeat is only logged: the TTL gives the
// next ones time to get through.
func (m *Member) heartbeat(ctx context.Context) {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hctx, cancel := context.WithTimeout(ctx, m.rpcTimeout())
		resp, err := m.cfg.Client.Heartbeat(hctx, &catalogv1.HeartbeatRequest{Name: m.cfg.Member.GetName(), Ttl: durationpb.New(m.cfg.TTL)})
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				m.logger.Warn("heartbeat failed", "error", err)
			}
			failing = true
		case !resp.GetKnown():
			m.logger.Warn("the catalog does not know this member; joining again")
			m.setJoined(false)
			return
		default:
			if failing {
				m.logger.Info("heartbeats get through again")
			}
			failing = false
		}
	}
}

// rpcTimeout bounds one call: a heartbeat that takes longer than the TTL
// is too late anyway.
func (m *Member) rpcTimeout() time.Duration {
	return max(m.cfg.TTL, time.Second)
}

var errLeft = errors.New("the member has left")

// Leave marks the member left; the catalog deregisters the node's
// services and checks. Run does not join again afterwards; stop it first
// so that no heartbeat races the leave.
func (m *Member) Leave(ctx context.Context) error {
	m.mu.Lock()
	m.joined, m.left = false, true
	m.mu.Unlock()
	if _, err := m.cfg.Client.LeaveMember(ctx, &catalogv1.LeaveMemberRequest{Name: m.cfg.Member.GetName()}); err != nil {
		return fmt.Errorf("leave member: %w", err)
	}
	m.logger.Info("left the cluster", "member", m.cfg.Member.GetName())
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
