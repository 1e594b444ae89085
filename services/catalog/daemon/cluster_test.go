package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	operatorv1 "github.com/beaconmesh/beacon/proto/beacon/operator/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/catalog/cluster"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// replica is one in-process catalog replica on real loopback sockets.
type replica struct {
	name       string
	serverAddr string
	grpcAddr   string
	dataDir    string
	cancel     context.CancelFunc
	done       chan error
	up         atomic.Bool
	conn       *grpc.ClientConn
}

var testTiming = cluster.Timing{Heartbeat: 300 * time.Millisecond, Election: 300 * time.Millisecond, LeaderLease: 150 * time.Millisecond}

type testCluster struct {
	t        *testing.T
	replicas []*replica
}

// newTestCluster starts n replicas that find each other with
// -bootstrap-expect n and -retry-join, in the given start order.
func newTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	var serverLns, grpcLns []net.Listener
	for i := range n {
		sl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		serverLns, grpcLns = append(serverLns, sl), append(grpcLns, gl)
		c.replicas = append(c.replicas, &replica{
			name: fmt.Sprintf("s%d", i+1), serverAddr: sl.Addr().String(), grpcAddr: gl.Addr().String(), dataDir: t.TempDir(),
		})
	}
	for i, r := range c.replicas {
		c.start(r, serverLns[i], grpcLns[i])
	}
	t.Cleanup(func() {
		for _, r := range c.replicas {
			c.stop(r)
		}
	})
	return c
}

func (c *testCluster) config(r *replica) Config {
	cfg := DefaultConfig()
	cfg.Node, cfg.DataDir = r.name, r.dataDir
	cfg.BootstrapExpect = len(c.replicas)
	for _, o := range c.replicas {
		if o != r {
			cfg.RetryJoin = append(cfg.RetryJoin, o.serverAddr)
		}
	}
	cfg.RetryInterval = 100 * time.Millisecond
	cfg.Timing = testTiming
	cfg.SyncInterval = time.Hour
	cfg.Logger = testLogger(c.t, r.name)
	return cfg
}

func (c *testCluster) start(r *replica, sl, gl net.Listener) {
	c.t.Helper()
	if sl == nil {
		var err error
		// Rebind the replica's own addresses: its peers know it by them.
		if sl, err = listenRetry(r.serverAddr); err != nil {
			c.t.Fatal(err)
		}
		if gl, err = listenRetry(r.grpcAddr); err != nil {
			c.t.Fatal(err)
		}
	}
	cfg := c.config(r)
	cfg.ServerListener, cfg.GRPCListener = sl, gl
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	r.up.Store(true)
	go func() { r.done <- Run(ctx, cfg) }()
	conn, err := grpc.NewClient(r.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		c.t.Fatal(err)
	}
	r.conn = conn
}

func listenRetry(addr string) (net.Listener, error) {
	var err error
	for range 50 {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			return l, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, err
}

// stop shuts a replica down; it must stop within 15 s (generous: the race
// detector on a loaded 2-core machine slows Raft's shutdown several-fold).
func (c *testCluster) stop(r *replica) {
	if r.cancel == nil {
		return
	}
	r.up.Store(false)
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			c.t.Errorf("replica %s stopped with error: %v", r.name, err)
		}
	case <-time.After(15 * time.Second):
		var buf strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
		c.t.Errorf("replica %s did not stop within 15s; goroutines:\n%s", r.name, buf.String())
	}
	r.conn.Close()
	r.cancel = nil
}

// follower returns a replica other than leader.
func (c *testCluster) follower(leader *replica) *replica {
	c.t.Helper()
	for _, r := range c.replicas {
		if r != leader {
			return r
		}
	}
	c.t.Fatal("a cluster of one has no follower")
	return nil
}

// leader waits until every live replica agrees on a leader and returns it.
func (c *testCluster) leader(timeout time.Duration) *replica {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var addr string
		agree := true
		for _, r := range c.replicas {
			if r.cancel == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			resp, err := operatorv1.NewStatusServiceClient(r.conn).Leader(ctx, &operatorv1.LeaderRequest{})
			cancel()
			if err != nil || resp.GetAddress() == "" || (addr != "" && resp.GetAddress() != addr) {
				agree = false
				break
			}
			addr = resp.GetAddress()
		}
		if agree && addr != "" {
			for _, r := range c.replicas {
				if r.serverAddr == addr && r.cancel != nil {
					return r
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("no agreed leader within %s", timeout)
	return nil
}

func put(ctx context.Context, r *replica, key, value string) error {
	_, err := kvv1.NewKVServiceClient(r.conn).Put(ctx, &kvv1.PutRequest{Key: key, Value: []byte(value)})
	return err
}

// waitValue waits until a stale read of key on r returns value.
func waitValue(t *testing.T, r *replica, key, value string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := kvv1.NewKVServiceClient(r.conn).Get(ctx, &kvv1.GetRequest{Key: key, Options: &queryv1.ReadOptions{Consistency: queryv1.Consistency_CONSISTENCY_STALE}})
		cancel()
		if err == nil && resp.GetPair() != nil {
			last = string(resp.GetPair().GetValue())
			if last == value {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("replica %s: key %q = %q, want %q", r.name, key, last, value)
}

func TestThreeReplicasReplicateAndFailOver(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.leader(15 * time.Second)
	follower := c.follower(leader)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A write through a follower is forwarded to the leader and reaches all.
	if err := put(ctx, follower, "via-follower", "v1"); err != nil {
		t.Fatalf("put through follower %s: %v", follower.name, err)
	}
	// So is a put batch, as one entry.
	batch, err := kvv1.NewKVServiceClient(follower.conn).PutBatch(ctx, &kvv1.PutBatchRequest{Puts: []*kvv1.PutRequest{
		{Key: "batch-a", Value: []byte("a")}, {Key: "batch-b", Value: []byte("b")}}})
	if err != nil || len(batch.GetOk()) != 2 || !batch.GetOk()[0] || !batch.GetOk()[1] {
		t.Fatalf("put batch through follower %s: %v, %v", follower.name, batch, err)
	}
	for _, r := range c.replicas {
		waitValue(t, r, "via-follower", "v1", 5*time.Second)
		waitValue(t, r, "batch-a", "a", 5*time.Second)
		waitValue(t, r, "batch-b", "b", 5*time.Second)
	}

	// Keep writing while the leader is killed; every acknowledged write
	// must survive.
	var mu sync.Mutex
	var acked []string
	stopWrites := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopWrites:
					return
				default:
				}
				key := fmt.Sprintf("w%d/%d", w, i)
				target := c.replicas[(w+i)%len(c.replicas)]
				if !target.up.Load() {
					time.Sleep(time.Millisecond)
					continue
				}
				wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
				err := put(wctx, target, key, key)
				wcancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, key)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	killedAt := time.Now()
	c.stop(leader)
	newLeader := c.leader(5 * time.Second)
	if newLeader == leader {
		t.Fatal("the stopped replica is still reported as leader")
	}
	t.Logf("new leader %s after %s", newLeader.name, time.Since(killedAt).Round(time.Millisecond))
	// Writes continue under the new leader.
	if err := put(ctx, newLeader, "after-failover", "ok"); err != nil {
		t.Fatalf("write after failover: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stopWrites)
	wg.Wait()

	// The old leader comes back from its data dir and catches up.
	c.start(leader, nil, nil)
	c.leader(10 * time.Second)
	mu.Lock()
	keys := append([]string(nil), acked...)
	mu.Unlock()
	if len(keys) == 0 {
		t.Fatal("no write was acknowledged during the test")
	}
	t.Logf("%d writes acknowledged across the failover", len(keys))
	for _, r := range c.replicas {
		waitValue(t, r, "after-failover", "ok", 10*time.Second)
		for _, k := range keys {
			waitValue(t, r, k, k, 5*time.Second)
		}
	}
}

func TestFiveReplicasTolerateTwoDown(t *testing.T) {
	c := newTestCluster(t, 5)
	leader := c.leader(20 * time.Second)
	// Stop two replicas, the leader among them.
	down := []*replica{leader}
	for _, r := range c.replicas {
		if r != leader {
			down = append(down, r)
			break
		}
	}
	for _, r := range down {
		c.stop(r)
	}
	nl := c.leader(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, r := range c.replicas {
		if r.cancel == nil {
			continue
		}
		key := "from-" + r.name
		if err := put(ctx, r, key, r.name); err != nil {
			t.Fatalf("write through %s with two replicas down: %v", r.name, err)
		}
		waitValue(t, nl, key, r.name, 5*time.Second)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	c := newTestCluster(t, 3)
	c.leader(15 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 50 {
		if err := put(ctx, c.replicas[i%3], fmt.Sprintf("k%02d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range c.replicas {
		c.stop(r)
	}
	for _, r := range c.replicas {
		c.start(r, nil, nil)
	}
	l := c.leader(15 * time.Second)
	resp, err := kvv1.NewKVServiceClient(l.conn).List(ctx, &kvv1.ListRequest{Prefix: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetPairs()) != 50 {
		t.Fatalf("after restarting every replica, %d keys remain, want 50", len(resp.GetPairs()))
	}
}

// TestStoppedReplicaBecomesFailedMember checks that catalog replicas are
// watched through Raft's heartbeats: a stopped follower becomes a failed
// member with a critical serfHealth check, and alive again once it is back.
func TestStoppedReplicaBecomesFailedMember(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.leader(15 * time.Second)
	follower := c.follower(leader)
	status := func() (catalogv1.MemberStatus, string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := catalogv1.NewMembershipServiceClient(leader.conn).ListMembers(ctx, &catalogv1.ListMembersRequest{})
		if err != nil {
			return 0, err.Error()
		}
		for _, m := range resp.GetMembers() {
			if m.GetName() == follower.name {
				return m.GetStatus(), ""
			}
		}
		return 0, "not a member"
	}
	waitStatus := func(want catalogv1.MemberStatus, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < within {
			if got, _ := status(); got == want {
				return time.Since(start)
			}
			time.Sleep(50 * time.Millisecond)
		}
		got, why := status()
		t.Fatalf("%s is %v (%s), want %v within %s", follower.name, got, why, want, within)
		return 0
	}
	waitStatus(catalogv1.MemberStatus_MEMBER_STATUS_ALIVE, 10*time.Second)
	c.stop(follower)
	took := waitStatus(catalogv1.MemberStatus_MEMBER_STATUS_FAILED, 15*time.Second)
	t.Logf("%s failed %s after it stopped", follower.name, took.Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	checks, err := catalogv1.NewHealthServiceClient(leader.conn).NodeChecks(ctx, &catalogv1.NodeChecksRequest{Node: follower.name})
	if err != nil {
		t.Fatal(err)
	}
	var serf *catalogv1.HealthCheck
	for _, ch := range checks.GetChecks() {
		if ch.GetCheckId() == "serfHealth" {
			serf = ch
		}
	}
	if serf.GetStatus() != catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL {
		t.Errorf("serfHealth of the stopped replica = %v", serf)
	}
	c.start(follower, nil, nil)
	waitStatus(catalogv1.MemberStatus_MEMBER_STATUS_ALIVE, 15*time.Second)
}
