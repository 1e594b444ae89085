package view

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Source is the one catalog call the follower makes. The generated
// catalogv1.HealthServiceClient satisfies it; tests hand in a fake.
type Source interface {
	ListServiceHealth(ctx context.Context, in *catalogv1.ListServiceHealthRequest, opts ...grpc.CallOption) (*catalogv1.ListServiceHealthResponse, error)
}

// FollowerConfig configures a Follower.
type FollowerConfig struct {
	Source Source
	// Logger receives a line per failed call and per recovery.
	Logger *slog.Logger
	// MaxWait is how long each blocking query may wait for a change
	// (default 5 minutes, Consul's). The view is replaced as soon as the
	// catalog answers, whatever this is.
	MaxWait time.Duration
	// MinBackoff and MaxBackoff bound the pause between failed calls
	// (defaults 100ms and 10s); the pause doubles per failure, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// OnSwap, if set, is called after each new view is published.
	OnSwap func(*View)
	// OnError, if set, is called after each failed call.
	OnError func(error)
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Follower keeps the newest View of the catalog, following it with
// blocking ListServiceHealth queries. Readers call View, which costs one
// atomic load.
type Follower struct {
	cfg   FollowerConfig
	cur   atomic.Pointer[View]
	ready chan struct{}

	// staleSince is the unix-nano time the follower lost the catalog, or 0
	// while it is following. Before the first view it is the start time.
	staleSince atomic.Int64
}

// NewFollower returns a Follower; call Run to start it.
func NewFollower(cfg FollowerConfig) *Follower {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 5 * time.Minute
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(10*time.Second, cfg.MinBackoff)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Follower{cfg: cfg, ready: make(chan struct{})}
	f.staleSince.Store(cfg.Now().UnixNano())
	return f
}

// View returns the newest view, or nil before the first catalog answer.
func (f *Follower) View() *View { return f.cur.Load() }

// Ready is closed once the first view is published.
func (f *Follower) Ready() <-chan struct{} { return f.ready }

// Age is how long the view has not been known to be current: zero while
// the follower holds a working blocking query, else the time since it lost
// the catalog (or since it started, before the first view).
func (f *Follower) Age() time.Duration {
	since := f.staleSince.Load()
	if since == 0 {
		return 0
	}
	return max(f.cfg.Now().Sub(time.Unix(0, since)), 0)
}

// Run follows the catalog until ctx ends, and then returns ctx's error.
// Failures never stop it: it keeps the last view and retries with backoff.
func (f *Follower) Run(ctx context.Context) error {
	var minIndex uint64
	backoff := f.cfg.MinBackoff
	for {
		resp, err := f.call(ctx, minIndex)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			f.failed(err)
			if !sleep(ctx, jitter(backoff)) {
				return ctx.Err()
			}
			backoff = min(backoff*2, f.cfg.MaxBackoff)
			// The first call after a failure does not block, so a catalog
			// that is back is known to be back at once.
			minIndex = 0
			continue
		}
		backoff = f.cfg.MinBackoff
		minIndex = f.accept(resp)
	}
}

func (f *Follower) call(ctx context.Context, minIndex uint64) (*catalogv1.ListServiceHealthResponse, error) {
	// The server may hold the call for up to MaxWait (plus its own jitter);
	// past that, a missing answer means a hung connection.
	callCtx, cancel := context.WithTimeout(ctx, f.cfg.MaxWait+f.cfg.MaxWait/8+10*time.Second)
	defer cancel()
	req := &catalogv1.ListServiceHealthRequest{Options: &queryv1.ReadOptions{
		MinIndex:    minIndex,
		MaxWait:     durationpb.New(f.cfg.MaxWait),
		Consistency: queryv1.Consistency_CONSISTENCY_STALE,
	}}
	resp, err := f.cfg.Source.ListServiceHealth(callCtx, req)
	if err == nil && resp == nil {
		err = errors.New("list service health: empty answer")
	}
	return resp, err
}

// accept publishes resp unless it is the view already held, and returns the
// min_index for the next call.
func (f *Follower) accept(resp *catalogv1.ListServiceHealthResponse) uint64 {
	now := f.cfg.Now()
	index := resp.GetMeta().GetIndex()
	old := f.cur.Load()
	wasStale := f.staleSince.Swap(0) != 0
	if wasStale && old != nil {
		f.cfg.Logger.Info("catalog reachable again", "index", index)
	}
	// The same index means the wait ran out with nothing changed. A lower
	// one means the catalog's state was reset or a lagging replica
	// answered; Consul's rule is to take it and start over from there.
	if old == nil || index != old.Index() {
		v := Build(resp, now)
		f.cur.Store(v)
		if old == nil {
			close(f.ready)
			f.cfg.Logger.Info("first catalog view", "index", index, "nodes", v.NodeCount(), "instances", v.InstanceCount())
		}
		if f.cfg.OnSwap != nil {
			f.cfg.OnSwap(v)
		}
	}
	// An index of 0 breaks the contract; blocking on 1 instead avoids a
	// tight loop of immediate answers.
	return max(index, 1)
}

func (f *Follower) failed(err error) {
	now := f.cfg.Now().UnixNano()
	f.staleSince.CompareAndSwap(0, now)
	if f.cfg.OnError != nil {
		f.cfg.OnError(err)
	}
	if v := f.cur.Load(); v != nil {
		f.cfg.Logger.Warn("catalog unreachable, answering from the last view",
			"error", err, "index", v.Index(), "view_age", f.Age().Round(time.Millisecond).String())
		return
	}
	// At start-up the catalog may simply not be up yet (the dev agent
	// starts everything at once): only a longer wait is worth a warning.
	level := slog.LevelDebug
	if f.Age() >= time.Second {
		level = slog.LevelWarn
	}
	f.cfg.Logger.Log(context.Background(), level, "catalog unreachable, no view yet; answering SERVFAIL", "error", err, "waited", f.Age().Round(time.Millisecond).String())
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
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
