package grpcapi

import (
	"context"
	"math/rand/v2"
	"time"

	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/catalog/state"
	"github.com/hashicorp/go-memdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Blocking-query bounds, as Consul's.
const (
	defaultMaxWait = 5 * time.Minute
	maxMaxWait     = 10 * time.Minute
)

// queryFunc runs one read against st, adding to ws what would change its
// answer, and returns the index the answer reflects.
type queryFunc func(ws memdb.WatchSet, st *state.Store) (uint64, error)

// currentFirst wraps fill, a read whose index index gives without running
// it. A plain read (no min_index) that names the index of the answer its
// caller holds (known_index) is answered with that index alone when it is
// still current: serveRead then leaves the payload out, as it would have
// after running fill. The gateway's shared reads of a service's health, which
// every sidecar and load balancer polls, cost a lookup of one index row.
func currentFirst(opts *queryv1.ReadOptions, index func(*state.Store) uint64, fill queryFunc) queryFunc {
	known := opts.GetKnownIndex()
	if known == 0 || opts.GetMinIndex() != 0 {
		return fill
	}
	return func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		if index(st) == known {
			return known, nil
		}
		return fill(ws, st)
	}
}

// blockingQuery runs fn under opts: it checks the read may be served here in
// the requested mode, then reruns fn whenever what it read changes, until the
// index passes opts.min_index or the wait ends.
func (s *Server) blockingQuery(ctx context.Context, opts *queryv1.ReadOptions, fn queryFunc) (*queryv1.ReadMeta, error) {
	if err := validateReadOptions(opts); err != nil {
		return nil, err
	}
	onLeader := opts.GetConsistency() != queryv1.Consistency_CONSISTENCY_STALE
	if onLeader {
		if err := s.leaderRead(ctx); err != nil {
			return nil, err
		}
	} else if err := s.waitCaughtUp(ctx); err != nil {
		return nil, err
	} else {
		// A follower only gets here at min_state_index (forwardRead); the
		// leader may be a moment behind a follower in applying, or behind
		// the client for good after a snapshot restore moved the index
		// back, so it waits briefly and then answers anyway.
		_ = s.waitState(ctx, opts.GetMinStateIndex(), staleCatchUpWait)
	}
	minIndex := opts.GetMinIndex()
	var deadline time.Time
	if minIndex > 0 {
		wait := opts.GetMaxWait().AsDuration()
		if wait <= 0 {
			wait = defaultMaxWait
		}
		wait = min(wait, maxMaxWait)
		wait += rand.N(wait/16 + 1) // spread the wake-ups of many waiters
		deadline = time.Now().Add(wait)
	}
	restored := false
	for {
		// A read that does not block collects nothing to watch.
		var ws memdb.WatchSet
		if minIndex > 0 {
			ws = memdb.NewWatchSet()
		}
		st := s.fsm.State()
		abandoned := st.AbandonCh()
		ws.Add(abandoned)
		idx, err := fn(ws, st)
		if err != nil {
			return nil, toStatus(err)
		}
		idx = max(idx, 1)
		// Return when the index moved past the client's, when the state was
		// replaced by a snapshot restore (the index may have gone backwards
		// and the client must reset), or when the wait is over. The leader's
		// state is the newest there is, so a client index ahead of it also
		// means a restore happened before the query; a stale replica behind
		// the client's index keeps waiting instead, so that one client never
		// sees the index go backwards.
		if minIndex == 0 || idx > minIndex || restored || (onLeader && idx < minIndex) || !time.Now().Before(deadline) {
			return s.readMeta(idx), nil
		}
		wctx, cancel := context.WithDeadline(ctx, deadline)
		err = ws.WatchCtx(wctx)
		cancel()
		if err != nil && ctx.Err() != nil {
			return nil, toStatus(ctx.Err())
		}
		select {
		case <-abandoned:
			restored = true
		default:
		}
	}
}

// leaderRead checks that this replica, the leader, may answer a default or
// consistent read: it has applied everything earlier leaders committed, and
// a quorum still follows it (so a deposed leader in a minority partition, or
// one resuming from a pause, never answers from old state).
func (s *Server) leaderRead(ctx context.Context) error {
	if !s.ready.Load() {
		if err := s.waitReady(ctx); err != nil {
			return err
		}
	}
	if err := s.node.Raft.VerifyLeader().Error(); err != nil {
		return status.Errorf(codes.Unavailable, "leadership could not be verified: %v", err)
	}
	return nil
}

func (s *Server) waitReady(ctx context.Context) error {
	if !pollUntil(ctx, s.cfg.HoldTimeout, 10*time.Millisecond, s.ready.Load) {
		return errNoLeader
	}
	return nil
}

// pollUntil checks cond every interval until it holds (true) or until
// timeout passes or ctx ends (false). cond is checked at once, so a
// condition that already holds costs no timer. It does not check cond
// once more when ctx ends: a replica shutting down cancels ctx, and cond's
// Raft calls may then not return (a version that did held shutdown in the
// tests).
func pollUntil(ctx context.Context, timeout, interval time.Duration, cond func() bool) bool {
	if cond() {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			if cond() {
				return true
			}
		}
	}
}

// caughtUp reports whether this replica may serve stale reads: it has
// caught up with the leader at least once since it started. On the leader
// that is its post-election barrier; on a follower, it has heard from a
// leader and applied everything up to the commit index that leader told it,
// and the FSM has drained what raft handed it. Until then its state may be
// an old snapshot (or empty), and a stale read would travel back in time
// past answers it gave before a restart. Once true it stays true: from then
// on the replica serves stale reads with bounded staleness, as Consul does,
// and X-Consul-LastContact tells clients how far behind it may be.
func (s *Server) caughtUp() bool {
	if s.synced.Load() {
		return true
	}
	r := s.node.Raft
	if s.node.IsLeader() {
		if !s.ready.Load() {
			return false
		}
	} else {
		commit := r.CommitIndex()
		if r.LastContact().IsZero() || s.node.LeaderAddr() == "" || commit == 0 || r.AppliedIndex() < commit {
			return false
		}
		// AppliedIndex counts entries handed to the FSM goroutine; wait
		// until it has taken them all.
		if pending := r.Stats()["fsm_pending"]; pending != "" && pending != "0" {
			return false
		}
	}
	s.synced.Store(true)
	s.logger.Info("caught up with the leader; serving stale reads", "applied", r.AppliedIndex())
	return true
}

// waitCaughtUp waits, up to the hold timeout, until caughtUp holds.
func (s *Server) waitCaughtUp(ctx context.Context) error {
	if !pollUntil(ctx, s.cfg.HoldTimeout, 10*time.Millisecond, s.caughtUp) {
		return errNotCaughtUp
	}
	return nil
}

// waitState waits, up to timeout, until this replica's state reflects Raft
// index min (0: at once).
func (s *Server) waitState(ctx context.Context, min uint64, timeout time.Duration) error {
	applied := func() bool { return s.fsm.State().MaxIndex() >= min }
	if min > 0 && !pollUntil(ctx, timeout, 2*time.Millisecond, applied) {
		return status.Errorf(codes.Unavailable, "this replica has not yet applied index %d (min_state_index)", min)
	}
	return nil
}

// readMeta describes this replica's view for a read answered at idx. Its
// state_index is taken after the read, so it is at least as new as the
// state the answer came from.
func (s *Server) readMeta(idx uint64) *queryv1.ReadMeta {
	m := &queryv1.ReadMeta{Index: idx, KnownLeader: s.node.LeaderAddr() != "", StateIndex: max(idx, s.fsm.State().MaxIndex())}
	if !s.node.IsLeader() {
		if last := s.node.Raft.LastContact(); !last.IsZero() {
			m.LastContact = durationpb.New(time.Since(last))
		} else {
			m.KnownLeader = false
		}
	}
	if m.LastContact == nil {
		m.LastContact = durationpb.New(0)
	}
	return m
}
