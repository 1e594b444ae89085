package daemon

import (
	"context"
	"fmt"
	"testing"
	"time"

	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// staleGet is a ?stale read of key on r.
func staleGet(r *replica, key string) (*kvv1.GetResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return kvv1.NewKVServiceClient(r.conn).Get(ctx, &kvv1.GetRequest{Key: key,
		Options: &queryv1.ReadOptions{Consistency: queryv1.Consistency_CONSISTENCY_STALE}})
}

// A replica that restarts replays no log until a leader tells it what is
// committed, so its state is its last snapshot (here: empty). It must not
// answer ?stale reads from that state — the chaos harness saw a client read
// k2 at index 104 from a replica, then 404 at X-Consul-Index 1 from the same
// replica after a kill -9 — but refuse (no leader to forward to) until it
// has caught up, then answer at an index no lower than before.
func TestStaleReadsWaitForCatchUpAfterRestart(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.leader(15 * time.Second)
	follower := c.follower(leader)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := put(ctx, leader, "k", "v1"); err != nil {
		t.Fatal(err)
	}
	waitValue(t, follower, "k", "v1", 5*time.Second)
	before, err := staleGet(follower, "k")
	if err != nil {
		t.Fatal(err)
	}

	for _, r := range c.replicas {
		c.stop(r)
	}
	// The follower comes back alone: no leader, no commit index.
	c.start(follower, nil, nil)
	start := time.Now()
	resp, err := staleGet(follower, "k")
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("stale read on a restarted replica with no leader = %v, %v (index %d); want Unavailable, not an answer from before it caught up",
			resp.GetPair(), err, resp.GetMeta().GetIndex())
	}
	if took := time.Since(start); took > 9*time.Second {
		t.Errorf("refusal took %s, want it bounded by the hold timeout", took.Round(time.Millisecond))
	}

	// Once the others are back and a leader is elected, it catches up and
	// serves stale reads at an index at least the one it served before.
	for _, r := range c.replicas {
		if r != follower {
			c.start(r, nil, nil)
		}
	}
	c.leader(15 * time.Second)
	waitValue(t, follower, "k", "v1", 10*time.Second)
	after, err := staleGet(follower, "k")
	if err != nil {
		t.Fatal(err)
	}
	if after.GetMeta().GetIndex() < before.GetMeta().GetIndex() {
		t.Errorf("stale index went back from %d to %d across a restart", before.GetMeta().GetIndex(), after.GetMeta().GetIndex())
	}
}

// A stale read carrying min_state_index is answered from a state at least
// that new: a follower waits briefly to catch up, else forwards the read to
// the leader. Reads right after each write, with the write's index as the
// floor, must therefore always see it; and a floor no replica has reached
// still gets an answer (the leader's), not a hang.
func TestStaleReadsHonourMinStateIndex(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.leader(15 * time.Second)
	follower := c.follower(leader)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kv := func(r *replica) kvv1.KVServiceClient { return kvv1.NewKVServiceClient(r.conn) }
	for i := range 50 {
		val := fmt.Sprintf("v%d", i)
		w, err := kv(leader).Put(ctx, &kvv1.PutRequest{Key: "floor", Value: []byte(val)})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := kv(follower).Get(ctx, &kvv1.GetRequest{Key: "floor", Options: &queryv1.ReadOptions{
			Consistency: queryv1.Consistency_CONSISTENCY_STALE, MinStateIndex: w.GetMeta().GetIndex()}})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(resp.GetPair().GetValue()); got != val {
			t.Fatalf("stale read at min_state_index %d after writing %q got %q", w.GetMeta().GetIndex(), val, got)
		}
		if m := resp.GetMeta(); m.GetStateIndex() < w.GetMeta().GetIndex() || m.GetStateIndex() < m.GetIndex() {
			t.Fatalf("state_index %d below the write's index %d or the answer's %d", m.GetStateIndex(), w.GetMeta().GetIndex(), m.GetIndex())
		}
	}

	start := time.Now()
	resp, err := kv(follower).Get(ctx, &kvv1.GetRequest{Key: "floor", Options: &queryv1.ReadOptions{
		Consistency: queryv1.Consistency_CONSISTENCY_STALE, MinStateIndex: 1 << 40}})
	if err != nil {
		t.Fatalf("stale read with an unreachable floor: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stale read with an unreachable floor took %s", took.Round(time.Millisecond))
	}
	if resp.GetMeta().GetStateIndex() == 0 {
		t.Error("no state_index in the answer")
	}
}
