package fakecatalog

import (
	"context"
	"fmt"
	"strings"

	"github.com/beaconmesh/beacon/platform/reason"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Get implements kvv1.KVServiceServer.
func (f *Fake) Get(ctx context.Context, in *kvv1.GetRequest) (*kvv1.GetResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	return &kvv1.GetResponse{Meta: f.meta(), Pair: f.kv[in.GetKey()]}, nil
}

// List implements kvv1.KVServiceServer.
func (f *Fake) List(ctx context.Context, in *kvv1.ListRequest) (*kvv1.ListResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	return &kvv1.ListResponse{Meta: f.meta(), Pairs: f.tree(f.kv, in.GetPrefix())}, nil
}

// Keys implements kvv1.KVServiceServer.
func (f *Fake) Keys(ctx context.Context, in *kvv1.KeysRequest) (*kvv1.KeysResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &kvv1.KeysResponse{Meta: f.meta()}
	for _, p := range f.tree(f.kv, in.GetPrefix()) {
		k := p.GetKey()
		if sep := in.GetSeparator(); sep != "" {
			if i := strings.Index(k[len(in.GetPrefix()):], sep); i >= 0 {
				k = k[:len(in.GetPrefix())+i+len(sep)]
			}
		}
		if n := len(out.Keys); n == 0 || out.Keys[n-1] != k {
			out.Keys = append(out.Keys, k)
		}
	}
	return out, nil
}

// Put implements kvv1.KVServiceServer.
func (f *Fake) Put(ctx context.Context, in *kvv1.PutRequest) (*kvv1.PutResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range []string{in.GetAcquire(), in.GetRelease()} {
		if id != "" && f.sessions[id] == nil {
			// As the catalog answers: the reason tells the gateway.
			return nil, reason.Error(codes.FailedPrecondition, fmt.Sprintf("unknown session %q", id), reason.UnknownSession)
		}
	}
	old := f.kv[in.GetKey()]
	if in.Cas != nil && !casHolds(old, in.GetCas()) {
		return &kvv1.PutResponse{}, nil
	}
	p := &kvv1.KVPair{Key: in.GetKey(), Value: in.GetValue(), Flags: in.GetFlags()}
	if old != nil {
		p.Session, p.LockIndex, p.CreateIndex = old.GetSession(), old.GetLockIndex(), old.GetCreateIndex()
	}
	switch {
	case in.GetAcquire() != "":
		if p.Session != "" && p.Session != in.GetAcquire() {
			return &kvv1.PutResponse{}, nil
		}
		if p.Session == "" {
			p.LockIndex++
		}
		p.Session = in.GetAcquire()
	case in.GetRelease() != "":
		if p.Session != in.GetRelease() {
			return &kvv1.PutResponse{}, nil
		}
		p.Session = ""
	}
	idx := f.bump()
	if p.CreateIndex == 0 {
		p.CreateIndex = idx
	}
	p.ModifyIndex = idx
	f.kv[p.Key] = p
	return &kvv1.PutResponse{Meta: &queryv1.WriteMeta{Index: idx}, Ok: true}, nil
}

// PutBatch implements kvv1.KVServiceServer: each put as Put would, in
// order (lock operations refused, as the catalog does).
func (f *Fake) PutBatch(ctx context.Context, in *kvv1.PutBatchRequest) (*kvv1.PutBatchResponse, error) {
	out := &kvv1.PutBatchResponse{Meta: &queryv1.WriteMeta{}}
	for i, p := range in.GetPuts() {
		if p.GetAcquire() != "" || p.GetRelease() != "" {
			return nil, status.Errorf(codes.InvalidArgument, "puts[%d]: acquire and release are not batched: use Put", i)
		}
	}
	for _, p := range in.GetPuts() {
		resp, err := f.Put(ctx, p)
		if err != nil {
			return nil, err
		}
		out.Ok = append(out.Ok, resp.GetOk())
		out.Meta.Index = max(out.Meta.Index, resp.GetMeta().GetIndex())
	}
	return out, nil
}

// casHolds: 0 means "does not exist", N means "modify_index is N".
func casHolds(p *kvv1.KVPair, cas uint64) bool {
	if cas == 0 {
		return p == nil
	}
	return p != nil && p.GetModifyIndex() == cas
}

// Delete implements kvv1.KVServiceServer.
func (f *Fake) Delete(ctx context.Context, in *kvv1.DeleteRequest) (*kvv1.DeleteResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in.Cas != nil && !casHolds(f.kv[in.GetKey()], in.GetCas()) {
		return &kvv1.DeleteResponse{}, nil
	}
	idx := f.bump()
	if in.GetRecurse() {
		for _, p := range f.tree(f.kv, in.GetKey()) {
			delete(f.kv, p.GetKey())
		}
	} else {
		delete(f.kv, in.GetKey())
	}
	return &kvv1.DeleteResponse{Meta: &queryv1.WriteMeta{Index: idx}, Ok: true}, nil
}

// tree lists the pairs under prefix by key.
func (f *Fake) tree(kv map[string]*kvv1.KVPair, prefix string) []*kvv1.KVPair {
	var out []*kvv1.KVPair
	for _, k := range sortedKeys(kv) {
		if strings.HasPrefix(k, prefix) {
			out = append(out, kv[k])
		}
	}
	return out
}

// CreateSession implements kvv1.SessionServiceServer.
func (f *Fake) CreateSession(ctx context.Context, in *kvv1.CreateSessionRequest) (*kvv1.CreateSessionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := proto.Clone(in.GetSession()).(*kvv1.Session)
	if f.nodes[s.GetNode()] == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "missing node registration %q", s.GetNode())
	}
	if !in.GetNodeChecksSet() {
		s.NodeChecks = []string{"serfHealth"}
	}
	if s.Behavior == kvv1.SessionBehavior_SESSION_BEHAVIOR_UNSPECIFIED {
		s.Behavior = kvv1.SessionBehavior_SESSION_BEHAVIOR_RELEASE
	}
	if s.LockDelay == nil {
		s.LockDelay = durationpb.New(0)
	}
	f.sessSeq++
	s.Id = fmt.Sprintf("00000000-0000-4000-8000-%012d", f.sessSeq)
	idx := f.bump()
	s.CreateIndex, s.ModifyIndex = idx, idx
	f.sessions[s.Id] = s
	return &kvv1.CreateSessionResponse{Meta: &queryv1.WriteMeta{Index: idx}, Id: s.Id}, nil
}

// DestroySession implements kvv1.SessionServiceServer; the session's locks
// are released or its keys deleted, by its behavior.
func (f *Fake) DestroySession(ctx context.Context, in *kvv1.DestroySessionRequest) (*kvv1.DestroySessionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sessions[in.GetId()]
	if s == nil {
		return nil, status.Errorf(codes.NotFound, "session %q not found", in.GetId())
	}
	delete(f.sessions, s.GetId())
	idx := f.bump()
	for k, p := range f.kv {
		if p.GetSession() != s.GetId() {
			continue
		}
		if s.GetBehavior() == kvv1.SessionBehavior_SESSION_BEHAVIOR_DELETE {
			delete(f.kv, k)
			continue
		}
		np := proto.Clone(p).(*kvv1.KVPair)
		np.Session, np.ModifyIndex = "", idx
		f.kv[k] = np
	}
	return &kvv1.DestroySessionResponse{Meta: &queryv1.WriteMeta{Index: idx}}, nil
}

// RenewSession implements kvv1.SessionServiceServer.
func (f *Fake) RenewSession(ctx context.Context, in *kvv1.RenewSessionRequest) (*kvv1.RenewSessionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sessions[in.GetId()]
	if s == nil {
		return nil, status.Errorf(codes.NotFound, "session %q not found", in.GetId())
	}
	return &kvv1.RenewSessionResponse{Meta: &queryv1.WriteMeta{Index: f.index}, Session: s}, nil
}

// GetSession implements kvv1.SessionServiceServer.
func (f *Fake) GetSession(ctx context.Context, in *kvv1.GetSessionRequest) (*kvv1.GetSessionResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	return &kvv1.GetSessionResponse{Meta: f.meta(), Session: f.sessions[in.GetId()]}, nil
}

// ListSessions implements kvv1.SessionServiceServer.
func (f *Fake) ListSessions(ctx context.Context, in *kvv1.ListSessionsRequest) (*kvv1.ListSessionsResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	return &kvv1.ListSessionsResponse{Meta: f.meta(), Sessions: f.sessionsOn("")}, nil
}

// NodeSessions implements kvv1.SessionServiceServer.
func (f *Fake) NodeSessions(ctx context.Context, in *kvv1.NodeSessionsRequest) (*kvv1.NodeSessionsResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	return &kvv1.NodeSessionsResponse{Meta: f.meta(), Sessions: f.sessionsOn(in.GetNode())}, nil
}

// sessionsOn lists the sessions of node ("" for all) by ID.
func (f *Fake) sessionsOn(node string) []*kvv1.Session {
	var out []*kvv1.Session
	for _, id := range sortedKeys(f.sessions) {
		if s := f.sessions[id]; node == "" || s.GetNode() == node {
			out = append(out, s)
		}
	}
	return out
}

// Txn implements kvv1.TxnServiceServer for the common KV verbs: the
// operations run on a copy that replaces the store only if all succeed.
func (f *Fake) Txn(ctx context.Context, in *kvv1.TxnRequest) (*kvv1.TxnResponse, error) {
	if len(in.GetOps()) > 128 {
		return nil, status.Error(codes.InvalidArgument, "too many operations")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	kv := make(map[string]*kvv1.KVPair, len(f.kv))
	for k, v := range f.kv {
		kv[k] = v
	}
	idx := f.index + 1
	writes := false
	out := &kvv1.TxnResponse{}
	fail := func(i int, format string, args ...any) (*kvv1.TxnResponse, error) {
		return &kvv1.TxnResponse{Errors: []*kvv1.TxnError{{OpIndex: int32(i), What: fmt.Sprintf(format, args...)}}}, nil
	}
	for i, op := range in.GetOps() {
		o := op.GetKv()
		old := kv[o.GetKey()]
		switch o.GetVerb() {
		case kvv1.KVVerb_KV_VERB_SET, kvv1.KVVerb_KV_VERB_CAS:
			if o.GetVerb() == kvv1.KVVerb_KV_VERB_CAS && !casHolds(old, o.GetIndex()) {
				return fail(i, "failed to set key %q, index is stale", o.GetKey())
			}
			p := &kvv1.KVPair{Key: o.GetKey(), Value: o.GetValue(), Flags: o.GetFlags(), CreateIndex: idx, ModifyIndex: idx}
			if old != nil {
				p.CreateIndex, p.Session, p.LockIndex = old.GetCreateIndex(), old.GetSession(), old.GetLockIndex()
			}
			kv[p.Key], writes = p, true
			out.Results = append(out.Results, &kvv1.TxnResult{Result: &kvv1.TxnResult_Kv{Kv: &kvv1.KVPair{
				Key: p.Key, Flags: p.Flags, Session: p.Session, LockIndex: p.LockIndex, CreateIndex: p.CreateIndex, ModifyIndex: p.ModifyIndex,
			}}})
		case kvv1.KVVerb_KV_VERB_GET, kvv1.KVVerb_KV_VERB_GET_OR_EMPTY:
			if old == nil && o.GetVerb() == kvv1.KVVerb_KV_VERB_GET {
				return fail(i, "key %q doesn't exist", o.GetKey())
			}
			if old == nil {
				old = &kvv1.KVPair{Key: o.GetKey()}
			}
			out.Results = append(out.Results, &kvv1.TxnResult{Result: &kvv1.TxnResult_Kv{Kv: old}})
		case kvv1.KVVerb_KV_VERB_GET_TREE:
			for _, p := range f.tree(kv, o.GetKey()) {
				out.Results = append(out.Results, &kvv1.TxnResult{Result: &kvv1.TxnResult_Kv{Kv: p}})
			}
		case kvv1.KVVerb_KV_VERB_CHECK_INDEX:
			if !casHolds(old, o.GetIndex()) || old == nil {
				return fail(i, "current modify index %d != %d", old.GetModifyIndex(), o.GetIndex())
			}
		case kvv1.KVVerb_KV_VERB_CHECK_NOT_EXISTS:
			if old != nil {
				return fail(i, "key %q exists", o.GetKey())
			}
		case kvv1.KVVerb_KV_VERB_DELETE:
			delete(kv, o.GetKey())
			writes = true
		case kvv1.KVVerb_KV_VERB_DELETE_CAS:
			if !casHolds(old, o.GetIndex()) {
				return fail(i, "failed to delete key %q, index is stale", o.GetKey())
			}
			delete(kv, o.GetKey())
			writes = true
		case kvv1.KVVerb_KV_VERB_DELETE_TREE:
			for _, p := range f.tree(kv, o.GetKey()) {
				delete(kv, p.GetKey())
			}
			writes = true
		default:
			return fail(i, "verb %v is not supported by the fake", o.GetVerb())
		}
	}
	if !writes {
		out.ReadMeta = f.meta()
		return out, nil
	}
	f.kv = kv
	out.WriteMeta = &queryv1.WriteMeta{Index: f.bump()}
	return out, nil
}
