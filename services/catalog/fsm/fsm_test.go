package fsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	"github.com/beaconmesh/beacon/services/catalog/state"
)

// testLogger routes FSM logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func encode(t testing.TB, typ MessageType, m proto.Message) []byte {
	t.Helper()
	b, err := Encode(typ, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func apply(t testing.TB, f *FSM, idx uint64, typ MessageType, m proto.Message) *Result {
	t.Helper()
	raw := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: encode(t, typ, m)})
	res, ok := raw.(*Result)
	if !ok {
		t.Fatalf("Apply(%d) returned %T, want *Result", typ, raw)
	}
	return res
}

func registerN1() *catalogv1.RegisterRequest {
	return &catalogv1.RegisterRequest{
		Node:    &catalogv1.Node{Node: "n1", Address: "10.0.0.1"},
		Service: &catalogv1.Service{Service: "web", Port: 80},
		Checks: []*catalogv1.HealthCheck{
			{CheckId: "serfHealth", Status: catalogv1.HealthStatus_HEALTH_STATUS_PASSING},
		},
	}
}

func txn(ops ...*kvv1.KVOp) *kvv1.TxnRequest {
	req := &kvv1.TxnRequest{}
	for _, op := range ops {
		req.Ops = append(req.Ops, &kvv1.TxnOp{Op: &kvv1.TxnOp_Kv{Kv: op}})
	}
	return req
}

func TestApplyEveryType(t *testing.T) {
	f := New(testLogger(t))
	steps := []struct {
		name    string
		typ     MessageType
		msg     proto.Message
		want    *Result
		wantErr error
	}{
		{"register", RegisterType, registerN1(), &Result{OK: true}, nil},
		{"session create", SessionCreateType,
			&kvv1.Session{Id: "s1", Node: "n1", NodeChecks: []string{"serfHealth"}, LockDelay: durationpb.New(time.Minute)},
			&Result{OK: true}, nil},
		{"acquire", KVPutType, &kvv1.PutRequest{Key: "lock", Value: []byte("me"), Acquire: "s1"}, &Result{OK: true}, nil},
		{"stale cas", KVPutType, &kvv1.PutRequest{Key: "lock", Cas: proto.Uint64(1)}, &Result{OK: false}, nil},
		{"txn", TxnType, txn(&kvv1.KVOp{Verb: kvv1.KVVerb_KV_VERB_SET, Key: "x", Value: []byte("1")}),
			&Result{OK: true, Results: []*kvv1.TxnResult{{Result: &kvv1.TxnResult_Kv{Kv: &kvv1.KVPair{Key: "x", CreateIndex: 5, ModifyIndex: 5}}}}}, nil},
		{"failed txn", TxnType, txn(&kvv1.KVOp{Verb: kvv1.KVVerb_KV_VERB_GET, Key: "nope"}),
			&Result{OK: false, Errors: []*kvv1.TxnError{{OpIndex: 0, What: `key "nope" doesn't exist`}}}, nil},
		{"delete", KVDeleteType, &kvv1.DeleteRequest{Key: "x"}, &Result{OK: true}, nil},
		{"session destroy", SessionDestroyType, &kvv1.DestroySessionRequest{Id: "s1"}, &Result{OK: true}, nil},
		{"deregister", DeregisterType, &catalogv1.DeregisterRequest{Node: "n1"}, &Result{OK: true}, nil},
		{"register without node", RegisterType, &catalogv1.RegisterRequest{}, &Result{}, state.ErrMissingNode},
		{"session on unknown node", SessionCreateType, &kvv1.Session{Id: "s2", Node: "n1"}, &Result{}, state.ErrUnknownNode},
		{"put without key", KVPutType, &kvv1.PutRequest{}, &Result{}, state.ErrMissingKey},
		{"put batch", KVPutBatchType, &kvv1.PutBatchRequest{Puts: []*kvv1.PutRequest{{Key: "b"}, {Key: "b", Cas: proto.Uint64(0)}}},
			&Result{OK: true, PutOK: []bool{true, false}}, nil},
		{"put batch with a lock", KVPutBatchType, &kvv1.PutBatchRequest{Puts: []*kvv1.PutRequest{{Key: "b", Acquire: "s1"}}},
			&Result{}, state.ErrInvalidRequest},
	}
	for i, st := range steps {
		idx := uint64(i + 1)
		got := apply(t, f, idx, st.typ, st.msg)
		if !errors.Is(got.Err, st.wantErr) || (got.Err != nil) != (st.wantErr != nil) {
			t.Errorf("%s: Err = %v, want %v", st.name, got.Err, st.wantErr)
		}
		st.want.Index = idx
		if d := cmp.Diff(st.want, got, protocmp.Transform(), cmpopts.EquateEmpty(), cmpopts.IgnoreFields(Result{}, "Err")); d != "" {
			t.Errorf("%s: result (-want +got):\n%s", st.name, d)
		}
	}

	// The lock was released by the destroy, at its index, with a lock-delay.
	st := f.State()
	_, p, err := st.KVGet(nil, "lock")
	if err != nil {
		t.Fatal(err)
	}
	want := &kvv1.KVPair{Key: "lock", Value: []byte("me"), LockIndex: 1, CreateIndex: 3, ModifyIndex: 8}
	if d := cmp.Diff(want, p, protocmp.Transform()); d != "" {
		t.Errorf("lock (-want +got):\n%s", d)
	}
	if st.KVLockDelay("lock").Before(time.Now()) {
		t.Error("no lock-delay after the session was destroyed")
	}
	if _, nodes, _ := st.Nodes(nil, nil); len(nodes) != 0 {
		t.Errorf("nodes = %v after deregister", nodes)
	}
}

func TestApplyIgnoresUnknownIgnorableTypes(t *testing.T) {
	f := New(testLogger(t))
	for _, data := range [][]byte{
		{byte(IgnoreUnknownTypeFlag)},
		{byte(IgnoreUnknownTypeFlag | 42), 0xff, 0x00, 0x13},
		encode(t, IgnoreUnknownTypeFlag|RegisterType, registerN1()),
	} {
		if got := f.Apply(&raft.Log{Index: 1, Data: data}); got != nil {
			t.Errorf("Apply(%x) = %v, want nil", data, got)
		}
	}
	if f.State().MaxIndex() != 1 {
		t.Error("an ignored command changed the state")
	}
	if _, nodes, _ := f.State().Nodes(nil, nil); len(nodes) != 0 {
		t.Error("an ignored command registered a node")
	}
	// Entries that are not commands are not the FSM's business.
	if got := f.Apply(&raft.Log{Index: 2, Type: raft.LogNoop}); got != nil {
		t.Errorf("Apply(noop) = %v, want nil", got)
	}
}

// applyPanic returns what Apply panicked with, or nil.
func applyPanic(f *FSM, l *raft.Log) (v any) {
	defer func() { v = recover() }()
	f.Apply(l)
	return nil
}

func TestApplyPanicsOnlyOnUndecodableEntries(t *testing.T) {
	tests := map[string][]byte{
		"empty":            nil,
		"unknown type":     {99},
		"bad proto":        {byte(RegisterType), 0xff, 0xff, 0xff},
		"truncated proto":  encode(t, RegisterType, registerN1())[:10],
		"invalid utf-8":    {byte(KVPutType), 0x0a, 0x02, 0xff, 0xfe},
		"unknown type 127": {127, 0x00},
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			f := New(testLogger(t))
			v := applyPanic(f, &raft.Log{Index: 7, Data: data})
			de, ok := v.(*DecodeError)
			if !ok {
				t.Fatalf("Apply panicked with %v (%T), want a *DecodeError", v, v)
			}
			if de.Index != 7 || de.Err == nil {
				t.Errorf("DecodeError = %+v, want index 7 and a cause", de)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	if _, err := Encode(RegisterType, &kvv1.PutRequest{}); err == nil {
		t.Error("Encode accepted a PutRequest as a register command")
	}
	if _, err := Encode(KVPutType, nil); err == nil {
		t.Error("Encode accepted a nil message for a known type")
	}
	b, err := Encode(KVPutType, &kvv1.PutRequest{Key: "k", Value: []byte("v")})
	if err != nil {
		t.Fatal(err)
	}
	var got kvv1.PutRequest
	if MessageType(b[0]) != KVPutType || proto.Unmarshal(b[1:], &got) != nil || got.GetKey() != "k" {
		t.Errorf("Encode = %x, does not decode back", b)
	}
	if b, err := Encode(IgnoreUnknownTypeFlag|9, nil); err != nil || !bytes.Equal(b, []byte{137}) {
		t.Errorf("Encode(ignorable, nil) = %x, %v", b, err)
	}
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	failWrite         bool
	closed, cancelled bool
}

func (s *memSink) Write(p []byte) (int, error) {
	if s.failWrite {
		return 0, errors.New("disk full")
	}
	return s.Buffer.Write(p)
}
func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

func populated(t *testing.T) *FSM {
	t.Helper()
	f := New(testLogger(t))
	apply(t, f, 1, RegisterType, registerN1())
	apply(t, f, 2, SessionCreateType, &kvv1.Session{Id: "s1", Node: "n1"})
	apply(t, f, 3, KVPutType, &kvv1.PutRequest{Key: "a", Value: []byte("1"), Acquire: "s1"})
	apply(t, f, 4, KVPutType, &kvv1.PutRequest{Key: "b"})
	apply(t, f, 5, KVDeleteType, &kvv1.DeleteRequest{Key: "b"})
	return f
}

func persisted(t *testing.T, st *state.Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := st.Snapshot().Persist(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSnapshotAndRestore(t *testing.T) {
	src := populated(t)
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes after Snapshot are not in it.
	apply(t, src, 6, KVPutType, &kvv1.PutRequest{Key: "later"})
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if !sink.closed || sink.cancelled {
		t.Errorf("sink closed=%v cancelled=%v, want closed only", sink.closed, sink.cancelled)
	}

	dst := New(testLogger(t))
	old := dst.State()
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-old.AbandonCh():
	default:
		t.Error("the replaced store was not abandoned")
	}
	if dst.State() == old {
		t.Fatal("State() still returns the old store")
	}
	if _, p, _ := dst.State().KVGet(nil, "later"); p != nil {
		t.Error("a write after Snapshot leaked into it")
	}
	if _, p, _ := dst.State().KVGet(nil, "a"); p.GetSession() != "s1" {
		t.Errorf("a = %v, want held by s1", p)
	}
	if got := dst.State().MaxIndex(); got != 5 {
		t.Errorf("restored MaxIndex = %d, want 5", got)
	}
}

func TestSnapshotPersistFailureCancelsSink(t *testing.T) {
	snap, err := populated(t).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{failWrite: true}
	if err := snap.Persist(sink); err == nil {
		t.Fatal("Persist succeeded on a failing sink")
	}
	if !sink.cancelled || sink.closed {
		t.Errorf("sink closed=%v cancelled=%v, want cancelled only", sink.closed, sink.cancelled)
	}
}

func TestRestoreFailureKeepsState(t *testing.T) {
	f := populated(t)
	before := f.State()
	if err := f.Restore(io.NopCloser(bytes.NewReader([]byte("not a snapshot")))); !errors.Is(err, state.ErrCorruptSnapshot) {
		t.Fatalf("Restore error = %v, want ErrCorruptSnapshot", err)
	}
	if f.State() != before {
		t.Error("a failed restore replaced the state")
	}
	select {
	case <-before.AbandonCh():
		t.Error("a failed restore abandoned the current store")
	default:
	}
}

func TestWriteSnapshot(t *testing.T) {
	src := populated(t)
	var buf bytes.Buffer
	idx, err := src.WriteSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if idx != 5 {
		t.Errorf("index = %d, want 5", idx)
	}
	dst := New(nil)
	if err := dst.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(persisted(t, dst.State()), persisted(t, src.State())) {
		t.Error("restored state differs from the source")
	}
}

// TestRaft runs the FSM under a real single-node Raft: commands go through
// the log, and a saved snapshot goes back in through raft's Restore.
func TestRaft(t *testing.T) {
	f := New(testLogger(t))
	conf := raft.DefaultConfig()
	conf.LocalID = "n1"
	conf.HeartbeatTimeout = 50 * time.Millisecond
	conf.ElectionTimeout = 50 * time.Millisecond
	conf.LeaderLeaseTimeout = 50 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.LogOutput = io.Discard
	store := raft.NewInmemStore()
	addr, trans := raft.NewInmemTransport("")
	r, err := raft.NewRaft(conf, f, store, store, raft.NewInmemSnapshotStore(), trans)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown().Error() })
	if err := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: conf.LocalID, Address: addr}}}).Error(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.LeaderCh():
	case <-time.After(10 * time.Second):
		t.Fatal("no leader within 10s")
	}

	raftApply := func(typ MessageType, m proto.Message) *Result {
		t.Helper()
		fut := r.Apply(encode(t, typ, m), 5*time.Second)
		if err := fut.Error(); err != nil {
			t.Fatal(err)
		}
		res, ok := fut.Response().(*Result)
		if !ok || res.Index != fut.Index() {
			t.Fatalf("response %#v, want a *Result at index %d", fut.Response(), fut.Index())
		}
		return res
	}
	if res := raftApply(RegisterType, registerN1()); !res.OK {
		t.Fatalf("register: %+v", res)
	}
	if res := raftApply(KVPutType, &kvv1.PutRequest{Key: "k", Value: []byte("v"), Cas: proto.Uint64(0)}); !res.OK {
		t.Fatalf("put: %+v", res)
	}
	if res := raftApply(KVPutType, &kvv1.PutRequest{Key: "k", Cas: proto.Uint64(0)}); res.OK || res.Err != nil {
		t.Fatalf("second create-only put: %+v, want not OK without error", res)
	}
	if err := r.Snapshot().Error(); err != nil {
		t.Fatalf("raft snapshot: %v", err)
	}

	// Restore a snapshot taken elsewhere.
	other := populated(t)
	var buf bytes.Buffer
	idx, err := other.WriteSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	old := f.State()
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: idx, Size: int64(buf.Len())}
	if err := r.Restore(meta, &buf, 5*time.Second); err != nil {
		t.Fatalf("raft restore: %v", err)
	}
	select {
	case <-old.AbandonCh():
	default:
		t.Error("old store not abandoned by the restore")
	}
	if !bytes.Equal(persisted(t, f.State()), persisted(t, other.State())) {
		t.Error("state after raft restore differs from the snapshot's")
	}
	if res := raftApply(KVPutType, &kvv1.PutRequest{Key: "after"}); !res.OK || res.Index <= idx {
		t.Errorf("put after restore: %+v, want OK past index %d", res, idx)
	}
}

// TestBlockingQueryWakes waits as a blocking query does: on a watch set with
// the store's abandon channel, woken by a write and then by a restore.
func TestBlockingQueryWakes(t *testing.T) {
	f := populated(t)
	wait := func(ws memdb.WatchSet) <-chan error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		done := make(chan error, 1)
		go func() {
			defer cancel()
			done <- ws.WatchCtx(ctx)
		}()
		return done
	}

	ws := memdb.NewWatchSet()
	ws.Add(f.State().AbandonCh())
	if _, _, err := f.State().KVGet(ws, "a"); err != nil {
		t.Fatal(err)
	}
	woken := wait(ws)
	apply(t, f, 10, KVPutType, &kvv1.PutRequest{Key: "a", Value: []byte("2")})
	if err := <-woken; err != nil {
		t.Fatalf("write did not wake the query: %v", err)
	}

	ws = memdb.NewWatchSet()
	ws.Add(f.State().AbandonCh())
	if _, _, err := f.State().KVGet(ws, "a"); err != nil {
		t.Fatal(err)
	}
	woken = wait(ws)
	var buf bytes.Buffer
	if _, err := populated(t).WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if err := f.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	if err := <-woken; err != nil {
		t.Fatalf("restore did not wake the query: %v", err)
	}
}

// TestConcurrentUse reads while commands apply and snapshots restore; run
// with -race.
func TestConcurrentUse(t *testing.T) {
	f := populated(t)
	var buf bytes.Buffer
	if _, err := f.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	snapData := buf.Bytes()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				st := f.State()
				st.ServiceHealth(nil, "web", nil, nil, true, false)
				st.KVList(nil, "")
				st.SessionList(nil)
				st.KVLockDelay("a")
				st.TableSizes()
			}
		}()
	}
	for i := uint64(10); i < 200; i++ {
		switch i % 4 {
		case 0:
			apply(t, f, i, KVPutType, &kvv1.PutRequest{Key: fmt.Sprintf("k/%d", i)})
		case 1:
			apply(t, f, i, RegisterType, registerN1())
		case 2:
			snap, _ := f.Snapshot()
			if err := snap.Persist(&memSink{}); err != nil {
				t.Error(err)
			}
		case 3:
			if i%40 == 3 {
				if err := f.Restore(io.NopCloser(bytes.NewReader(snapData))); err != nil {
					t.Error(err)
				}
			}
		}
	}
	close(done)
	wg.Wait()
}
