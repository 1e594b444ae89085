package grpcapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/rpcserver"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	operatorv1 "github.com/beaconmesh/beacon/proto/beacon/operator/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/catalog/cluster"
	"github.com/beaconmesh/beacon/services/catalog/fsm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// testAPI is a one-replica in-memory catalog served on a real socket.
type testAPI struct {
	s    *Server
	conn *grpc.ClientConn
}

func newTestAPI(t *testing.T) *testAPI {
	t.Helper()
	machine := fsm.New(nil)
	node, err := cluster.Start(cluster.Config{Node: "n1", Datacenter: "dc1", Dev: true, FSM: machine})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Node: node, FSM: machine, Datacenter: "dc1", HoldTimeout: 2 * time.Second})
	srv := rpcserver.New(rpcserver.Config{})
	s.Register(srv.Server, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	duties := make(chan struct{})
	go func() { _ = srv.Serve(ctx, ln); close(served) }()
	go func() { s.RunLeaderDuties(ctx); close(duties) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		conn.Close()
		<-served
		<-duties
		_ = node.Shutdown()
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if err := node.WaitLeader(wctx); err != nil {
		t.Fatal(err)
	}
	if err := s.waitReady(wctx); err != nil {
		t.Fatal(err)
	}
	return &testAPI{s: s, conn: conn}
}

func (a *testAPI) kv() kvv1.KVServiceClient { return kvv1.NewKVServiceClient(a.conn) }
func (a *testAPI) catalog() catalogv1.CatalogServiceClient {
	return catalogv1.NewCatalogServiceClient(a.conn)
}
func (a *testAPI) health() catalogv1.HealthServiceClient {
	return catalogv1.NewHealthServiceClient(a.conn)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestWritesReturnIndexesAndReadsReflectThem(t *testing.T) {
	a := newTestAPI(t)
	ctx := ctxT(t)
	reg, err := a.catalog().Register(ctx, &catalogv1.RegisterRequest{
		Node:    &catalogv1.Node{Node: "web-1", Address: "10.0.0.1"},
		Service: &catalogv1.Service{Service: "web", Port: 80, Tags: []string{"v1"}},
		Checks:  []*catalogv1.HealthCheck{{CheckId: "web-http", ServiceId: "web", Status: catalogv1.HealthStatus_HEALTH_STATUS_PASSING}},
	})
	if err != nil {
		t.Fatal(err)
	}
	idx := reg.GetMeta().GetIndex()
	if idx == 0 {
		t.Fatal("register returned index 0")
	}
	for _, mode := range []queryv1.Consistency{queryv1.Consistency_CONSISTENCY_UNSPECIFIED, queryv1.Consistency_CONSISTENCY_STALE, queryv1.Consistency_CONSISTENCY_CONSISTENT} {
		resp, err := a.health().ServiceHealth(ctx, &catalogv1.ServiceHealthRequest{Service: "web", PassingOnly: true, Options: &queryv1.ReadOptions{Consistency: mode}})
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		if len(resp.GetInstances()) != 1 || resp.GetMeta().GetIndex() < idx || !resp.GetMeta().GetKnownLeader() {
			t.Errorf("%v: %d instances, meta %v (write index %d)", mode, len(resp.GetInstances()), resp.GetMeta(), idx)
		}
		if resp.GetInstances()[0].GetNode().GetDatacenter() != "dc1" {
			t.Errorf("datacenter not filled in: %v", resp.GetInstances()[0].GetNode())
		}
	}
}

func TestBlockingQueryWakesOnlyForItsAnswer(t *testing.T) {
	a := newTestAPI(t)
	ctx := ctxT(t)
	put, err := a.kv().Put(ctx, &kvv1.PutRequest{Key: "watched", Value: []byte("1")})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		resp *kvv1.GetResponse
		err  error
		at   time.Time
	}
	done := make(chan result, 1)
	go func() {
		r, err := a.kv().Get(ctx, &kvv1.GetRequest{Key: "watched", Options: &queryv1.ReadOptions{MinIndex: put.GetMeta().GetIndex(), MaxWait: durationpb.New(5 * time.Second)}})
		done <- result{r, err, time.Now()}
	}()
	// A write to another key must not end the wait.
	if _, err := a.kv().Put(ctx, &kvv1.PutRequest{Key: "other", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		t.Fatalf("woke for another key: %v %v", r.resp, r.err)
	case <-time.After(200 * time.Millisecond):
	}
	changed := time.Now()
	if _, err := a.kv().Put(ctx, &kvv1.PutRequest{Key: "watched", Value: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || string(r.resp.GetPair().GetValue()) != "2" {
			t.Fatalf("woke with %v %v", r.resp, r.err)
		}
		if d := r.at.Sub(changed); d > time.Second {
			t.Errorf("woke %s after the change", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocking query did not wake for its key")
	}
}

func TestBlockingQueryTimesOutWithSameIndex(t *testing.T) {
	a := newTestAPI(t)
	ctx := ctxT(t)
	resp, err := a.catalog().ListNodes(ctx, &catalogv1.ListNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	again, err := a.catalog().ListNodes(ctx, &catalogv1.ListNodesRequest{Options: &queryv1.ReadOptions{MinIndex: resp.GetMeta().GetIndex(), MaxWait: durationpb.New(300 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("returned after %s, before max_wait", waited)
	}
	if again.GetMeta().GetIndex() != resp.GetMeta().GetIndex() {
		t.Errorf("index moved %d -> %d with no change", resp.GetMeta().GetIndex(), again.GetMeta().GetIndex())
	}
}

func TestBadInputIsRejectedWithoutWriting(t *testing.T) {
	a := newTestAPI(t)
	ctx := ctxT(t)
	before, err := a.kv().List(ctx, &kvv1.ListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"empty key", func() error { _, err := a.kv().Put(ctx, &kvv1.PutRequest{}); return err }, codes.InvalidArgument},
		{"value over 512 KiB", func() error {
			_, err := a.kv().Put(ctx, &kvv1.PutRequest{Key: "big", Value: make([]byte, MaxValueSize+1)})
			return err
		}, codes.InvalidArgument},
		{"unknown enum", func() error {
			_, err := a.catalog().Register(ctx, &catalogv1.RegisterRequest{Node: &catalogv1.Node{Node: "n", Address: "a"}, Service: &catalogv1.Service{Service: "s", Kind: 42}})
			return err
		}, codes.InvalidArgument},
		{"check on unknown service", func() error {
			_, err := a.catalog().Register(ctx, &catalogv1.RegisterRequest{Node: &catalogv1.Node{Node: "n", Address: "a"},
				Checks: []*catalogv1.HealthCheck{{CheckId: "c", ServiceId: "nope"}}})
			return err
		}, codes.FailedPrecondition},
		{"acquire with unknown session", func() error {
			_, err := a.kv().Put(ctx, &kvv1.PutRequest{Key: "k", Acquire: "no-such-session"})
			return err
		}, codes.FailedPrecondition},
	}
	for _, c := range cases {
		err := c.call()
		if status.Code(err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	// A stale check-and-set is not an error (Consul's contract: false) and
	// writes nothing.
	put, err := a.kv().Put(ctx, &kvv1.PutRequest{Key: "cas", Value: []byte("1")})
	if err != nil {
		t.Fatal(err)
	}
	stale := put.GetMeta().GetIndex() - 1
	res, err := a.kv().Put(ctx, &kvv1.PutRequest{Key: "cas", Value: []byte("2"), Cas: &stale})
	if err != nil || res.GetOk() {
		t.Fatalf("stale cas: %v %v", res, err)
	}
	got, _ := a.kv().Get(ctx, &kvv1.GetRequest{Key: "cas"})
	if string(got.GetPair().GetValue()) != "1" {
		t.Errorf("stale cas wrote %q", got.GetPair().GetValue())
	}
	// No node "n" was created by the failed registration.
	if r, _ := a.catalog().NodeServices(ctx, &catalogv1.NodeServicesRequest{Node: "n"}); r.GetNode() != nil {
		t.Errorf("a rejected registration left node %v", r.GetNode())
	}
	after, _ := a.kv().List(ctx, &kvv1.ListRequest{})
	if len(after.GetPairs()) != len(before.GetPairs())+1 {
		t.Errorf("keys before %d after %d, want one more (cas)", len(before.GetPairs()), len(after.GetPairs()))
	}
}

func TestPutBatch(t *testing.T) {
	a := newTestAPI(t)
	ctx := ctxT(t)
	first, err := a.kv().Put(ctx, &kvv1.PutRequest{Key: "k", Value: []byte("v")})
	if err != nil {
		t.Fatal(err)
	}
	stale, current := first.GetMeta().GetIndex()-1, first.GetMeta().GetIndex()
	resp, err := a.kv().PutBatch(ctx, &kvv1.PutBatchRequest{Puts: []*kvv1.PutRequest{
		{Key: "k", Value: []byte("stale"), Cas: &stale},
		{Key: "k", Value: []byte("w"), Cas: &current},
		{Key: "b", Value: []byte("x"), Flags: 3},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{false, true, true}; !slices.Equal(resp.GetOk(), want) {
		t.Errorf("ok = %v, want %v", resp.GetOk(), want)
	}
	idx := resp.GetMeta().GetIndex()
	if idx <= current {
		t.Errorf("batch index %d, not above the earlier write's %d", idx, current)
	}
	for key, want := range map[string]string{"k": "w", "b": "x"} {
		got, err := a.kv().Get(ctx, &kvv1.GetRequest{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		if p := got.GetPair(); string(p.GetValue()) != want || p.GetModifyIndex() != idx {
			t.Errorf("%s = %q at %d, want %q at %d (the batch's one index)", key, p.GetValue(), p.GetModifyIndex(), want, idx)
		}
	}

	before, err := a.kv().List(ctx, &kvv1.ListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		puts []*kvv1.PutRequest
		want string // in the message
	}{
		{"empty", nil, "puts is empty"},
		{"over the limit", slices.Repeat([]*kvv1.PutRequest{{Key: "n"}}, MaxPutBatch+1), "limit"},
		{"bad key", []*kvv1.PutRequest{{Key: "n"}, {Key: "n"}, {Key: "a\x00b"}}, "puts[2]: key contains a NUL"},
		{"oversize value", []*kvv1.PutRequest{{Key: "n", Value: make([]byte, MaxValueSize+1)}}, "puts[0]: value"},
		{"acquire", []*kvv1.PutRequest{{Key: "n"}, {Key: "l", Acquire: "s"}}, "puts[1]: acquire"},
		{"release", []*kvv1.PutRequest{{Key: "l", Release: "s"}}, "puts[0]: acquire and release are not batched"},
	} {
		_, err := a.kv().PutBatch(ctx, &kvv1.PutBatchRequest{Puts: c.puts})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), c.want) {
			t.Errorf("%s: %v, want InvalidArgument naming %q", c.name, err, c.want)
		}
	}
	after, _ := a.kv().List(ctx, &kvv1.ListRequest{})
	if len(after.GetPairs()) != len(before.GetPairs()) {
		t.Errorf("refused batches wrote %d keys", len(after.GetPairs())-len(before.GetPairs()))
	}
}

// TestConcurrentPutsShareEntries makes many Put calls at once: the leader
// writes them in shared Raft entries, and each keeps its own outcome.
func TestConcurrentPutsShareEntries(t *testing.T) {
	a := newTestAPI(t)
	ctx := ctxT(t)
	first, err := a.kv().Put(ctx, &kvv1.PutRequest{Key: "cas", Value: []byte("0")})
	if err != nil {
		t.Fatal(err)
	}
	cas := first.GetMeta().GetIndex()

	const writers, each, casWriters = 32, 8, 16
	type outcome struct {
		key   string
		index uint64
		ok    bool
		err   error
	}
	out := make(chan outcome, writers*each+casWriters)
	for w := range writers {
		go func() {
			for i := range each {
				key := fmt.Sprintf("w%02d/%d", w, i)
				resp, err := a.kv().Put(ctx, &kvv1.PutRequest{Key: key, Value: []byte(key)})
				out <- outcome{key, resp.GetMeta().GetIndex(), resp.GetOk(), err}
			}
		}()
	}
	for w := range casWriters {
		go func() {
			resp, err := a.kv().Put(ctx, &kvv1.PutRequest{Key: "cas", Value: fmt.Appendf(nil, "%d", w+1), Cas: &cas})
			out <- outcome{"cas", resp.GetMeta().GetIndex(), resp.GetOk(), err}
		}()
	}
	indexes := map[uint64]bool{}
	casWon := 0
	for range writers*each + casWriters {
		o := <-out
		if o.err != nil {
			t.Fatalf("put %s: %v", o.key, o.err)
		}
		if o.key == "cas" {
			if o.ok {
				casWon++
			}
			continue
		}
		if !o.ok || o.index <= cas {
			t.Errorf("put %s: ok %v at index %d", o.key, o.ok, o.index)
		}
		indexes[o.index] = true
		got, err := a.kv().Get(ctx, &kvv1.GetRequest{Key: o.key})
		if err != nil {
			t.Fatal(err)
		}
		if p := got.GetPair(); string(p.GetValue()) != o.key || p.GetModifyIndex() != o.index {
			t.Errorf("%s = %q at %d, want its own value at %d", o.key, p.GetValue(), p.GetModifyIndex(), o.index)
		}
	}
	if casWon != 1 {
		t.Errorf("%d check-and-set puts on one index held, want exactly 1", casWon)
	}
	if len(indexes) >= writers*each {
		t.Errorf("%d puts took %d Raft entries: none were batched", writers*each, len(indexes))
	}
	t.Logf("%d puts in %d entries", writers*each, len(indexes))
}

func TestSessionTTLAndLockDelay(t *testing.T) {
	a := newTestAPI(t)
	ctx := ctxT(t)
	sessions := kvv1.NewSessionServiceClient(a.conn)
	// A default session depends on its node's serfHealth check.
	if _, err := catalogv1.NewMembershipServiceClient(a.conn).JoinMember(ctx, &catalogv1.JoinMemberRequest{
		Member: &catalogv1.Member{Name: "n1", Address: "127.0.0.1", Tags: map[string]string{"role": "consul"}},
		Node:   &catalogv1.Node{Node: "n1", Address: "127.0.0.1"},
	}); err != nil {
		t.Fatal(err)
	}
	created, err := sessions.CreateSession(ctx, &kvv1.CreateSessionRequest{Session: &kvv1.Session{
		Node: "n1", Ttl: durationpb.New(10 * time.Second), LockDelay: durationpb.New(time.Minute),
	}})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetId()
	acq, err := a.kv().Put(ctx, &kvv1.PutRequest{Key: "lock", Acquire: id})
	if err != nil || !acq.GetOk() {
		t.Fatalf("acquire: %v %v", acq, err)
	}
	if _, err := sessions.RenewSession(ctx, &kvv1.RenewSessionRequest{Id: id}); err != nil {
		t.Fatal(err)
	}
	// Expire it now rather than in 2×10 s: the timer path is what is tested.
	a.s.ttl.reset(id, 10*time.Millisecond)
	waitFor(t, func() bool {
		r, err := sessions.GetSession(ctx, &kvv1.GetSessionRequest{Id: id})
		return err == nil && r.GetSession() == nil
	})
	got, _ := a.kv().Get(ctx, &kvv1.GetRequest{Key: "lock"})
	if got.GetPair().GetSession() != "" {
		t.Errorf("lock still held after the session expired: %v", got.GetPair())
	}
	// Lock-delay: a new session cannot take the key for a minute.
	other, err := sessions.CreateSession(ctx, &kvv1.CreateSessionRequest{Session: &kvv1.Session{Node: "n1"}})
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.kv().Put(ctx, &kvv1.PutRequest{Key: "lock", Acquire: other.GetId()})
	if err != nil || again.GetOk() {
		t.Errorf("acquired during lock-delay: %v %v", again, err)
	}
	if _, err := sessions.RenewSession(ctx, &kvv1.RenewSessionRequest{Id: id}); status.Code(err) != codes.NotFound {
		t.Errorf("renewing an expired session: %v, want NotFound", err)
	}
}

func TestSnapshotSaveRestoreWakesReaders(t *testing.T) {
	a := newTestAPI(t)
	ctx := ctxT(t)
	snaps := operatorv1.NewSnapshotServiceClient(a.conn)
	if _, err := a.kv().Put(ctx, &kvv1.PutRequest{Key: "kept", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	stream, err := snaps.Save(ctx, &operatorv1.SaveRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	var saveIndex uint64
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if msg.GetMeta() != nil {
			saveIndex = msg.GetMeta().GetIndex()
		}
		archive.Write(msg.GetData())
	}
	if saveIndex == 0 || archive.Len() == 0 {
		t.Fatalf("save: index %d, %d bytes", saveIndex, archive.Len())
	}
	later, err := a.kv().Put(ctx, &kvv1.PutRequest{Key: "later", Value: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	woke := make(chan error, 1)
	go func() {
		_, err := a.kv().Get(ctx, &kvv1.GetRequest{Key: "later", Options: &queryv1.ReadOptions{MinIndex: later.GetMeta().GetIndex(), MaxWait: durationpb.New(8 * time.Second)}})
		woke <- err
	}()
	up, err := snaps.Restore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for b := archive.Bytes(); len(b) > 0; {
		n := min(len(b), 1000)
		if err := up.Send(&operatorv1.RestoreRequest{Data: b[:n]}); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	if _, err := up.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-woke:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("restore did not wake a blocked reader")
	}
	if r, _ := a.kv().Get(ctx, &kvv1.GetRequest{Key: "later"}); r.GetPair() != nil {
		t.Error("a key written after the save survived the restore")
	}
	if r, _ := a.kv().Get(ctx, &kvv1.GetRequest{Key: "kept"}); string(r.GetPair().GetValue()) != "v" {
		t.Error("a saved key is missing after the restore")
	}
	// Writes after a restore get indexes above everything restored.
	next, err := a.kv().Put(ctx, &kvv1.PutRequest{Key: "after", Value: []byte("y")})
	if err != nil || next.GetMeta().GetIndex() <= saveIndex {
		t.Errorf("write after restore at index %d (saved at %d): %v", next.GetMeta().GetIndex(), saveIndex, err)
	}
	// A corrupt archive is refused and changes nothing.
	bad, err := snaps.Restore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = bad.Send(&operatorv1.RestoreRequest{Data: []byte("not a snapshot")})
	if _, err := bad.CloseAndRecv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("corrupt archive: %v, want InvalidArgument", err)
	}
}

func TestMembershipFailureDetector(t *testing.T) {
	a := newTestAPI(t)
	ctx := ctxT(t)
	members := catalogv1.NewMembershipServiceClient(a.conn)
	_, err := members.JoinMember(ctx, &catalogv1.JoinMemberRequest{
		Member: &catalogv1.Member{Name: "agent-1", Address: "10.0.0.5", Tags: map[string]string{"role": "node"}},
		Node:   &catalogv1.Node{Node: "agent-1", Address: "10.0.0.5"},
		Ttl:    durationpb.New(time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	status := func() catalogv1.MemberStatus {
		r, err := members.ListMembers(ctx, &catalogv1.ListMembersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.GetMembers() {
			if m.GetName() == "agent-1" {
				return m.GetStatus()
			}
		}
		return catalogv1.MemberStatus_MEMBER_STATUS_UNSPECIFIED
	}
	if s := status(); s != catalogv1.MemberStatus_MEMBER_STATUS_ALIVE {
		t.Fatalf("after join: %v", s)
	}
	// No heartbeat for the TTL: failed, and its serfHealth is critical.
	waitFor(t, func() bool { return status() == catalogv1.MemberStatus_MEMBER_STATUS_FAILED })
	checks, _ := a.health().NodeChecks(ctx, &catalogv1.NodeChecksRequest{Node: "agent-1"})
	if len(checks.GetChecks()) != 1 || checks.GetChecks()[0].GetStatus() != catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL {
		t.Errorf("failed member's checks: %v", checks.GetChecks())
	}
	// A heartbeat brings it back.
	hb, err := members.Heartbeat(ctx, &catalogv1.HeartbeatRequest{Name: "agent-1", Ttl: durationpb.New(time.Minute)})
	if err != nil || !hb.GetKnown() {
		t.Fatalf("heartbeat: %v %v", hb, err)
	}
	if s := status(); s != catalogv1.MemberStatus_MEMBER_STATUS_ALIVE {
		t.Errorf("after heartbeat: %v", s)
	}
	// Leaving removes the node; the member stays, left, and heartbeats are
	// answered "unknown" so the agent would join again.
	if _, err := members.LeaveMember(ctx, &catalogv1.LeaveMemberRequest{Name: "agent-1"}); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != catalogv1.MemberStatus_MEMBER_STATUS_LEFT {
		t.Errorf("after leave: %v", s)
	}
	if r, _ := a.catalog().NodeServices(ctx, &catalogv1.NodeServicesRequest{Node: "agent-1"}); r.GetNode() != nil {
		t.Error("left member's node is still registered")
	}
	if hb, _ := members.Heartbeat(ctx, &catalogv1.HeartbeatRequest{Name: "agent-1"}); hb.GetKnown() {
		t.Error("heartbeat of a left member answered known")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A read naming the index of the answer the client holds gets that answer
// back without its payload while nothing changed, and in full once it did.
func TestKnownIndexLeavesOutUnchangedAnswers(t *testing.T) {
	a := newTestAPI(t)
	ctx := ctxT(t)
	register := func(id string) uint64 {
		t.Helper()
		reg, err := a.catalog().Register(ctx, &catalogv1.RegisterRequest{
			Node:    &catalogv1.Node{Node: "web-" + id, Address: "10.0.0.1"},
			Service: &catalogv1.Service{Id: id, Service: "web", Port: 80},
		})
		if err != nil {
			t.Fatal(err)
		}
		return reg.GetMeta().GetIndex()
	}
	register("a")
	read := func(known uint64, mode queryv1.Consistency) *catalogv1.ServiceHealthResponse {
		t.Helper()
		resp, err := a.health().ServiceHealth(ctx, &catalogv1.ServiceHealthRequest{Service: "web",
			Options: &queryv1.ReadOptions{KnownIndex: known, Consistency: mode}})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, mode := range []queryv1.Consistency{queryv1.Consistency_CONSISTENCY_UNSPECIFIED, queryv1.Consistency_CONSISTENCY_STALE, queryv1.Consistency_CONSISTENCY_CONSISTENT} {
		full := read(0, mode)
		if len(full.GetInstances()) == 0 || full.GetMeta().GetUnchanged() {
			t.Fatalf("%v: a read without known_index: %d instances, unchanged %v", mode, len(full.GetInstances()), full.GetMeta().GetUnchanged())
		}
		idx := full.GetMeta().GetIndex()
		same := read(idx, mode)
		if len(same.GetInstances()) != 0 || !same.GetMeta().GetUnchanged() || same.GetMeta().GetIndex() != idx {
			t.Errorf("%v: known_index %d: %d instances, meta %v; want none, unchanged", mode, idx, len(same.GetInstances()), same.GetMeta())
		}
		if older := read(idx-1, mode); len(older.GetInstances()) == 0 || older.GetMeta().GetUnchanged() {
			t.Errorf("%v: an older known_index got %d instances, unchanged %v", mode, len(older.GetInstances()), older.GetMeta().GetUnchanged())
		}
	}
	idx := read(0, queryv1.Consistency_CONSISTENCY_UNSPECIFIED).GetMeta().GetIndex()
	register("b")
	if after := read(idx, queryv1.Consistency_CONSISTENCY_UNSPECIFIED); len(after.GetInstances()) != 2 || after.GetMeta().GetUnchanged() {
		t.Errorf("after a change: %d instances, unchanged %v; want 2, changed", len(after.GetInstances()), after.GetMeta().GetUnchanged())
	}

	// The catalog's own list of a service's instances does the same.
	nodes := func(known uint64) *catalogv1.ServiceNodesResponse {
		t.Helper()
		resp, err := a.catalog().ServiceNodes(ctx, &catalogv1.ServiceNodesRequest{Service: "web",
			Options: &queryv1.ReadOptions{KnownIndex: known}})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	full := nodes(0)
	idx = full.GetMeta().GetIndex()
	if same := nodes(idx); len(same.GetInstances()) != 0 || !same.GetMeta().GetUnchanged() || same.GetMeta().GetIndex() != idx {
		t.Errorf("service nodes, known_index %d: %d instances, meta %v; want none, unchanged", idx, len(same.GetInstances()), same.GetMeta())
	}
	register("c")
	if after := nodes(idx); len(after.GetInstances()) != 3 || after.GetMeta().GetUnchanged() {
		t.Errorf("service nodes after a change: %d instances, unchanged %v; want 3, changed", len(after.GetInstances()), after.GetMeta().GetUnchanged())
	}
}
