package rpcclient

import (
	"context"
	"sync/atomic"

	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc"
)

// stateFloor makes one connection's stale reads monotonic: it remembers the
// newest state any read through the connection has been answered from and
// asks every later stale read for a state at least that new
// (ReadOptions.min_state_index), so that a client's stale reads never go
// back in time when round-robin, a failover or a partition sends them to a
// replica that is behind.
type stateFloor struct{ seen atomic.Uint64 }

// readRequest and readResponse are what every catalog read's messages have.
type (
	readRequest  interface{ GetOptions() *queryv1.ReadOptions }
	readResponse interface{ GetMeta() *queryv1.ReadMeta }
)

func (f *stateFloor) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if r, ok := req.(readRequest); ok {
		if o := r.GetOptions(); o != nil && o.GetConsistency() == queryv1.Consistency_CONSISTENCY_STALE {
			o.MinStateIndex = max(o.GetMinStateIndex(), f.seen.Load())
			ctx = withAnyReplica(ctx)
		}
	}
	if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
		return err
	}
	if r, ok := reply.(readResponse); ok {
		f.observe(r.GetMeta())
	}
	return nil
}

// observe raises the floor to m's state index. An answer from the leader
// (no last contact) below the floor means a snapshot restore moved the
// catalog's index back: the floor follows it down, or every stale read
// would wait for an index that may be long in coming.
func (f *stateFloor) observe(m *queryv1.ReadMeta) {
	idx := m.GetStateIndex()
	if idx == 0 {
		return
	}
	for {
		cur := f.seen.Load()
		fromLeader := m.GetKnownLeader() && m.GetLastContact().AsDuration() == 0
		if idx == cur || idx < cur && !fromLeader {
			return
		}
		if f.seen.CompareAndSwap(cur, idx) {
			return
		}
	}
}
