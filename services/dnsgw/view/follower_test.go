package view_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/dnsgw/internal/fakecatalog"
	"github.com/beaconmesh/beacon/services/dnsgw/view"
	"google.golang.org/grpc"
)

// scripted is a Source whose every call hands its request to the test and
// returns the reply the test sends back.
type scripted struct {
	reqs    chan *catalogv1.ListServiceHealthRequest
	replies chan reply
}

type reply struct {
	resp *catalogv1.ListServiceHealthResponse
	err  error
}

func (s *scripted) ListServiceHealth(ctx context.Context, req *catalogv1.ListServiceHealthRequest, _ ...grpc.CallOption) (*catalogv1.ListServiceHealthResponse, error) {
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-s.replies:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

const deadline = 5 * time.Second

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(deadline):
		t.Fatalf("no %s within %s", what, deadline)
		panic("unreachable")
	}
}

func TestFollower(t *testing.T) {
	src := &scripted{reqs: make(chan *catalogv1.ListServiceHealthRequest), replies: make(chan reply)}
	var clock atomic.Int64
	clock.Store(time.Unix(1000, 0).UnixNano())
	swaps := make(chan *view.View, 10)
	errs := make(chan error, 10)
	f := view.NewFollower(view.FollowerConfig{
		Source:     src,
		Logger:     testLogger(t),
		MaxWait:    time.Minute,
		MinBackoff: time.Millisecond,
		MaxBackoff: 2 * time.Millisecond,
		OnSwap:     func(v *view.View) { swaps <- v },
		OnError:    func(err error) { errs <- err },
		Now:        func() time.Time { return time.Unix(0, clock.Load()) },
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	if f.View() != nil {
		t.Fatal("view before any answer")
	}
	clock.Add(int64(3 * time.Second))
	if got := f.Age(); got != 3*time.Second {
		t.Errorf("age before the first view %s, want 3s", got)
	}

	st := state()
	req := recv(t, src.reqs, "first request")
	if o := req.GetOptions(); o.GetMinIndex() != 0 || o.GetConsistency() != queryv1.Consistency_CONSISTENCY_STALE || o.GetMaxWait().AsDuration() != time.Minute {
		t.Errorf("first request options %v", o)
	}
	src.replies <- reply{resp: fakecatalog.Response(st, 5)}
	v := recv(t, swaps, "first view")
	select {
	case <-f.Ready():
	default:
		t.Error("Ready not closed after the first view")
	}
	if v.Index() != 5 || f.View() != v || f.Age() != 0 {
		t.Errorf("view index %d, current %p want %p, age %s", v.Index(), f.View(), v, f.Age())
	}

	// The wait ran out with nothing new: same index, the view is kept.
	req = recv(t, src.reqs, "blocking request")
	if req.GetOptions().GetMinIndex() != 5 {
		t.Errorf("min_index %d, want 5", req.GetOptions().GetMinIndex())
	}
	src.replies <- reply{resp: fakecatalog.Response(st, 5)}
	req = recv(t, src.reqs, "request after an unchanged answer")
	if f.View() != v || req.GetOptions().GetMinIndex() != 5 {
		t.Errorf("an unchanged answer replaced the view or moved min_index to %d", req.GetOptions().GetMinIndex())
	}

	// The catalog fails: the last view stays, and it ages.
	src.replies <- reply{err: errors.New("connection refused")}
	recv(t, errs, "error report")
	clock.Add(int64(7 * time.Second))
	if f.View() != v || f.Age() != 7*time.Second {
		t.Errorf("after a failure: view %p want %p, age %s want 7s", f.View(), v, f.Age())
	}
	// The retry does not block, and the catalog's state was reset: a lower
	// index is taken as the truth.
	req = recv(t, src.reqs, "retry")
	if req.GetOptions().GetMinIndex() != 0 {
		t.Errorf("retry min_index %d, want 0", req.GetOptions().GetMinIndex())
	}
	src.replies <- reply{resp: fakecatalog.Response(st, 3)}
	if v := recv(t, swaps, "view after reset"); v.Index() != 3 {
		t.Errorf("view after reset has index %d, want 3", v.Index())
	}
	if f.Age() != 0 {
		t.Errorf("age %s after recovery, want 0", f.Age())
	}

	// An index of 0 breaks the contract; the follower blocks on 1.
	recv(t, src.reqs, "request after reset")
	src.replies <- reply{resp: fakecatalog.Response(st, 0)}
	recv(t, swaps, "view at index 0")
	if req := recv(t, src.reqs, "request after index 0"); req.GetOptions().GetMinIndex() != 1 {
		t.Errorf("min_index %d after index 0, want 1", req.GetOptions().GetMinIndex())
	}

	cancel()
	if err := recv(t, done, "Run to return"); !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
}

// TestFollowerWithBlockingCatalog follows the fake catalog, whose queries
// block like the real one's, through a change.
func TestFollowerWithBlockingCatalog(t *testing.T) {
	cat := fakecatalog.New(state())
	swaps := make(chan *view.View, 10)
	f := view.NewFollower(view.FollowerConfig{
		Source:  direct{cat},
		Logger:  testLogger(t),
		MaxWait: time.Minute,
		OnSwap:  func(v *view.View) { swaps <- v },
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = f.Run(ctx) }()

	if v := recv(t, swaps, "first view"); v.Service("web") == nil {
		t.Fatal("no web in the first view")
	}
	st := state()
	st.Instances = st.Instances[:1]
	cat.Set(st)
	v := recv(t, swaps, "second view")
	if got := len(v.Service("web").Select("", false)); got != 1 {
		t.Errorf("web has %d usable instances after the change, want 1", got)
	}
	if calls := cat.Calls(); calls > 3 {
		t.Errorf("%d calls for two views: the follower is not blocking", calls)
	}
}

type direct struct{ c *fakecatalog.Catalog }

func (d direct) ListServiceHealth(ctx context.Context, req *catalogv1.ListServiceHealthRequest, _ ...grpc.CallOption) (*catalogv1.ListServiceHealthResponse, error) {
	return d.c.ListServiceHealth(ctx, req)
}
