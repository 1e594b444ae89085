package rpcclient

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// replicaSet is n gRPC servers on loopback that answer like catalog
// replicas: each names itself and the current leader in its trailers, and
// counts the calls it answered.
type replicaSet struct {
	names   []string
	addrs   []string
	servers []*grpc.Server
	leader  atomic.Value // string
	mu      sync.Mutex
	calls   map[string]int // replica → calls answered
	hung    atomic.Value   // string: the replica that answers nothing
}

type fakeKV struct {
	kvv1.UnimplementedKVServiceServer
	name string
	rs   *replicaSet
}

func (f *fakeKV) count() {
	f.rs.mu.Lock()
	f.rs.calls[f.name]++
	f.rs.mu.Unlock()
}

func (f *fakeKV) Put(ctx context.Context, _ *kvv1.PutRequest) (*kvv1.PutResponse, error) {
	if f.rs.hung.Load() == f.name {
		<-ctx.Done() // paused: the client gives up first
		return nil, ctx.Err()
	}
	f.count()
	return &kvv1.PutResponse{Ok: true}, nil
}

func (f *fakeKV) Get(context.Context, *kvv1.GetRequest) (*kvv1.GetResponse, error) {
	f.count()
	return &kvv1.GetResponse{}, nil
}

func newReplicaSet(t *testing.T, names ...string) *replicaSet {
	t.Helper()
	rs := &replicaSet{names: names, calls: map[string]int{}}
	rs.leader.Store("")
	rs.hung.Store("")
	for _, name := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			_ = grpc.SetTrailer(ctx, metadata.Pairs(ReplicaTrailer, name, LeaderTrailer, rs.leader.Load().(string)))
			return resp, err
		}))
		kvv1.RegisterKVServiceServer(s, &fakeKV{name: name, rs: rs})
		go func() { _ = s.Serve(ln) }()
		t.Cleanup(s.Stop)
		rs.addrs = append(rs.addrs, ln.Addr().String())
		rs.servers = append(rs.servers, s)
	}
	return rs
}

// take returns the calls each replica answered since the last take.
func (rs *replicaSet) take() map[string]int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	got := rs.calls
	rs.calls = map[string]int{}
	return got
}

func TestCallsGoToTheLeader(t *testing.T) {
	rs := newReplicaSet(t, "a", "b", "c")
	conn, err := Dial(Config{Addrs: rs.addrs})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kv := kvv1.NewKVServiceClient(conn)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	put := func(n int) {
		t.Helper()
		for range n {
			if _, err := kv.Put(ctx, &kvv1.PutRequest{Key: "k"}, grpc.WaitForReady(true)); err != nil {
				t.Fatalf("put: %v", err)
			}
		}
	}
	stale := func(n int) {
		t.Helper()
		for range n {
			req := &kvv1.GetRequest{Key: "k", Options: &queryv1.ReadOptions{Consistency: queryv1.Consistency_CONSISTENCY_STALE}}
			if _, err := kv.Get(ctx, req, grpc.WaitForReady(true)); err != nil {
				t.Fatalf("stale get: %v", err)
			}
		}
	}

	// No leader named: calls are spread over every replica.
	put(30)
	if got := rs.take(); len(got) != 3 {
		t.Fatalf("with no leader known, calls reached %v, want all three replicas", got)
	}

	// Once answers name b, calls go to b alone (after at most one call per
	// replica to learn which connection reaches it); stale reads spread.
	rs.leader.Store("b")
	put(3)
	rs.take()
	put(20)
	if got := rs.take(); got["b"] != 20 {
		t.Errorf("with b the leader, 20 puts reached %v, want all at b", got)
	}
	stale(30)
	if got := rs.take(); len(got) != 3 {
		t.Errorf("stale reads reached %v, want all three replicas", got)
	}

	// A new leader is followed from the first answer that names it.
	rs.leader.Store("c")
	put(1)
	rs.take()
	put(20)
	if got := rs.take(); got["c"] != 20 {
		t.Errorf("with c the leader, 20 puts reached %v, want all at c", got)
	}

	// The leader gone: calls still succeed on the others.
	rs.servers[2].Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := kv.Put(ctx, &kvv1.PutRequest{Key: "k"})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("puts fail with the leader's server stopped: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rs.take()
	put(20)
	if got := rs.take(); got["c"] != 0 || got["a"]+got["b"] != 20 {
		t.Errorf("with c stopped, 20 puts reached %v", got)
	}
}

// TestAStuckLeaderIsForgotten checks that a leader whose calls time out
// without an answer is not asked again until an answer names it: the
// calls go round-robin, and the next leader a follower names takes them.
func TestAStuckLeaderIsForgotten(t *testing.T) {
	rs := newReplicaSet(t, "a", "b", "c")
	conn, err := Dial(Config{Addrs: rs.addrs})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kv := kvv1.NewKVServiceClient(conn)
	put := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, err := kv.Put(ctx, &kvv1.PutRequest{Key: "k"}, grpc.WaitForReady(true))
		return err
	}
	rs.leader.Store("c")
	for range 10 {
		if err := put(); err != nil {
			t.Fatal(err)
		}
	}
	rs.take()
	// c is paused; the others have elected a.
	rs.hung.Store("c")
	rs.leader.Store("a")
	if err := put(); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("put to the paused leader: %v, want DeadlineExceeded", err)
	}
	failed := 0
	for range 20 {
		if put() != nil {
			failed++
		}
	}
	// Round-robin may try c once more, and reach b before a.
	if got := rs.take(); failed > 1 || got["a"] < 18 {
		t.Errorf("after the leader stopped answering: %d of 20 puts failed, answered by %v; want at most one failure and 18 at a", failed, got)
	}
}
