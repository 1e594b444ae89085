// Package fakecatalog is an in-memory stand-in for the catalog's gRPC
// services, for the gateway's tests: enough state and semantics (indexes,
// blocking reads, CAS, locks, sessions) to exercise every route, served by a
// real gRPC server on 127.0.0.1 so the generated clients are what the
// gateway talks to.
package fakecatalog

import (
	"context"
	"net"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/token"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	operatorv1 "github.com/beaconmesh/beacon/proto/beacon/operator/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Fake is the in-memory catalog. Its exported fields configure the answers
// of the status, operator and snapshot calls; once it serves, read and
// write them only inside Edit.
type Fake struct {
	catalogv1.UnimplementedCatalogServiceServer
	catalogv1.UnimplementedHealthServiceServer
	kvv1.UnimplementedKVServiceServer
	kvv1.UnimplementedSessionServiceServer
	kvv1.UnimplementedTxnServiceServer
	operatorv1.UnimplementedStatusServiceServer
	operatorv1.UnimplementedOperatorServiceServer
	operatorv1.UnimplementedSnapshotServiceServer
	connectv1.UnimplementedCAServiceServer
	connectv1.UnimplementedIntentionServiceServer

	mu       sync.Mutex
	index    uint64
	changed  chan struct{}
	nodes    map[string]*catalogv1.Node
	services map[string]map[string]*catalogv1.Service     // node → service ID
	checks   map[string]map[string]*catalogv1.HealthCheck // node → check ID
	kv       map[string]*kvv1.KVPair
	sessions map[string]*kvv1.Session
	sessSeq  int
	connect  connectState

	waiters  int
	errs     map[string]error
	tokens   []string
	requests map[string]proto.Message

	// LeaderAddr, PeerAddrs, Datacenters and Raft answer the status and operator calls.
	LeaderAddr  string
	PeerAddrs   []string
	Datacenters []string
	Raft        []*operatorv1.RaftServer
	// Snapshot is what Save streams; Restored is what Restore received.
	Snapshot []byte
	Restored []byte
	// LastContact is reported in every read's meta.
	LastContact time.Duration
}

// New returns an empty catalog at index 1.
func New() *Fake {
	return &Fake{
		index:       1,
		changed:     make(chan struct{}),
		nodes:       map[string]*catalogv1.Node{},
		services:    map[string]map[string]*catalogv1.Service{},
		checks:      map[string]map[string]*catalogv1.HealthCheck{},
		kv:          map[string]*kvv1.KVPair{},
		sessions:    map[string]*kvv1.Session{},
		connect:     newConnectState(),
		errs:        map[string]error{},
		requests:    map[string]proto.Message{},
		LeaderAddr:  "127.0.0.1:8300",
		PeerAddrs:   []string{"127.0.0.1:8300"},
		Datacenters: []string{"dc1"},
	}
}

// Start serves f on 127.0.0.1:0 until the test ends and returns the address.
func Start(t testing.TB, f *Fake) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fakecatalog: listen: %v", err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(f.unaryInterceptor),
		grpc.ChainStreamInterceptor(f.streamInterceptor),
	)
	catalogv1.RegisterCatalogServiceServer(srv, f)
	catalogv1.RegisterHealthServiceServer(srv, f)
	kvv1.RegisterKVServiceServer(srv, f)
	kvv1.RegisterSessionServiceServer(srv, f)
	kvv1.RegisterTxnServiceServer(srv, f)
	operatorv1.RegisterStatusServiceServer(srv, f)
	operatorv1.RegisterOperatorServiceServer(srv, f)
	operatorv1.RegisterSnapshotServiceServer(srv, f)
	connectv1.RegisterCAServiceServer(srv, f)
	connectv1.RegisterIntentionServiceServer(srv, f)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// Edit runs fn with the fake locked, to read or change its exported fields.
func (f *Fake) Edit(fn func(f *Fake)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// SetError makes every call of method (its short name, "ListNodes") fail
// with err; nil clears it.
func (f *Fake) SetError(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.errs, method)
		return
	}
	f.errs[method] = err
}

// Tokens returns the ACL tokens calls carried, in order ("" for none).
func (f *Fake) Tokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tokens...)
}

// LastRequest returns the last request of method (its short name).
func (f *Fake) LastRequest(method string) proto.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[method]
}

// Index returns the current index.
func (f *Fake) Index() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.index
}

// Waiters returns how many reads are blocked right now.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waiters
}

// Touch advances the index without changing anything, waking blocked reads.
func (f *Fake) Touch() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bump()
}

func (f *Fake) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := f.enter(ctx, info.FullMethod, req); err != nil {
		return nil, err
	}
	resp, err := h(ctx, req)
	if err == nil {
		// Reads honour known_index as the catalog does.
		rq, isRead := req.(interface{ GetOptions() *queryv1.ReadOptions })
		rs, hasMeta := resp.(interface {
			proto.Message
			GetMeta() *queryv1.ReadMeta
		})
		if isRead && hasMeta {
			queryv1.LeaveOutUnchanged(rq.GetOptions(), rs, rs.GetMeta())
		}
	}
	return resp, err
}

func (f *Fake) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := f.enter(ss.Context(), info.FullMethod, nil); err != nil {
		return err
	}
	return h(srv, ss)
}

// enter records the call and returns the error set for its method.
func (f *Fake) enter(ctx context.Context, fullMethod string, req any) error {
	name := path.Base(fullMethod)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = append(f.tokens, token.From(ctx))
	if m, ok := req.(proto.Message); ok {
		f.requests[name] = proto.Clone(m)
	}
	return f.errs[name]
}

// bump advances the index and wakes every blocked read. Call with mu held.
func (f *Fake) bump() uint64 {
	f.index++
	close(f.changed)
	f.changed = make(chan struct{})
	return f.index
}

// block waits, as a blocking query does, until the index passes
// o.min_index, o.max_wait passes or ctx ends.
func (f *Fake) block(ctx context.Context, o *queryv1.ReadOptions) {
	if o.GetMinIndex() == 0 {
		return
	}
	wait := o.GetMaxWait().AsDuration()
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	f.mu.Lock()
	f.waiters++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.waiters--
		f.mu.Unlock()
	}()
	for {
		f.mu.Lock()
		if f.index > o.GetMinIndex() {
			f.mu.Unlock()
			return
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// meta is the read meta of the current state. Call with mu held.
func (f *Fake) meta() *queryv1.ReadMeta {
	m := &queryv1.ReadMeta{Index: f.index, KnownLeader: f.LeaderAddr != ""}
	if f.LastContact > 0 {
		m.LastContact = durationpb.New(f.LastContact)
	}
	return m
}
