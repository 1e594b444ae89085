package grpcapi

import (
	"context"
	"time"

	"github.com/beaconmesh/beacon/platform/putbatch"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/catalog/fsm"
	"github.com/beaconmesh/beacon/services/catalog/state"
	"github.com/hashicorp/go-memdb"
	"google.golang.org/grpc"
)

type kvService struct {
	kvv1.UnimplementedKVServiceServer
	s    *Server
	puts *putbatch.Batcher // the Put calls the leader serves, batched
}

// putBatchTimeout bounds one batch of puts on the leader; the batch runs
// detached from the calls that make it up.
const putBatchTimeout = 30 * time.Second

func newKVService(s *Server) *kvService {
	k := &kvService{s: s}
	k.puts = putbatch.New(leaderKV{k}, putBatchTimeout)
	return k
}

// leaderKV is the leader's own way of writing puts, for the batcher.
type leaderKV struct{ k *kvService }

func (l leaderKV) Put(ctx context.Context, req *kvv1.PutRequest, _ ...grpc.CallOption) (*kvv1.PutResponse, error) {
	return l.k.putHere(ctx, req)
}

func (l leaderKV) PutBatch(ctx context.Context, req *kvv1.PutBatchRequest, _ ...grpc.CallOption) (*kvv1.PutBatchResponse, error) {
	return l.k.putBatchHere(ctx, req)
}

func (k *kvService) Get(ctx context.Context, req *kvv1.GetRequest) (*kvv1.GetResponse, error) {
	if err := key("key", req.GetKey(), false); err != nil {
		return nil, err
	}
	resp := &kvv1.GetResponse{}
	return serveRead(ctx, k.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*kvv1.GetResponse, error) {
		return kvv1.NewKVServiceClient(cc).Get(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, pair, err := st.KVGet(ws, req.GetKey())
		resp.Pair = pair
		return idx, err
	})
}

func (k *kvService) List(ctx context.Context, req *kvv1.ListRequest) (*kvv1.ListResponse, error) {
	if err := key("prefix", req.GetPrefix(), true); err != nil {
		return nil, err
	}
	resp := &kvv1.ListResponse{}
	return serveRead(ctx, k.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*kvv1.ListResponse, error) {
		return kvv1.NewKVServiceClient(cc).List(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, pairs, err := st.KVList(ws, req.GetPrefix())
		resp.Pairs = pairs
		return idx, err
	})
}

func (k *kvService) Keys(ctx context.Context, req *kvv1.KeysRequest) (*kvv1.KeysResponse, error) {
	if err := key("prefix", req.GetPrefix(), true); err != nil {
		return nil, err
	}
	if len(req.GetSeparator()) > MaxNameLen {
		return nil, invalid("separator is longer than %d bytes", MaxNameLen)
	}
	resp := &kvv1.KeysResponse{}
	return serveRead(ctx, k.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*kvv1.KeysResponse, error) {
		return kvv1.NewKVServiceClient(cc).Keys(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, keys, err := st.KVKeys(ws, req.GetPrefix(), req.GetSeparator())
		resp.Keys = keys
		return idx, err
	})
}

func (k *kvService) Put(ctx context.Context, req *kvv1.PutRequest) (*kvv1.PutResponse, error) {
	if err := validatePut(req); err != nil {
		return nil, err
	}
	if resp, ok, err := forward(ctx, k.s, func(ctx context.Context, cc *grpc.ClientConn) (*kvv1.PutResponse, error) {
		return kvv1.NewKVServiceClient(cc).Put(ctx, req)
	}); ok {
		return resp, err
	}
	// Concurrent puts leave together, as one Raft entry (see putbatch);
	// lock operations go alone, through putHere.
	return k.puts.Put(ctx, req)
}

// putHere writes one put on this replica, the leader.
func (k *kvService) putHere(ctx context.Context, req *kvv1.PutRequest) (*kvv1.PutResponse, error) {
	// Lock-delay is decided here on the leader, as in Consul: a key whose
	// holder's session was invalidated cannot be acquired for a while, so a
	// lock holder that lost its session has time to notice.
	if req.GetAcquire() != "" && time.Now().Before(k.s.fsm.State().KVLockDelay(req.GetKey())) {
		return &kvv1.PutResponse{Meta: &queryv1.WriteMeta{Index: k.s.node.Raft.AppliedIndex()}, Ok: false}, nil
	}
	res, err := k.s.apply(ctx, fsm.KVPutType, req)
	if err != nil {
		return nil, err
	}
	return &kvv1.PutResponse{Meta: &queryv1.WriteMeta{Index: res.Index}, Ok: res.OK}, nil
}

func (k *kvService) PutBatch(ctx context.Context, req *kvv1.PutBatchRequest) (*kvv1.PutBatchResponse, error) {
	if err := validatePutBatch(req.GetPuts()); err != nil {
		return nil, err
	}
	if resp, ok, err := forward(ctx, k.s, func(ctx context.Context, cc *grpc.ClientConn) (*kvv1.PutBatchResponse, error) {
		return kvv1.NewKVServiceClient(cc).PutBatch(ctx, req)
	}); ok {
		return resp, err
	}
	return k.putBatchHere(ctx, req)
}

// putBatchHere writes a batch of valid puts on this replica, the leader.
func (k *kvService) putBatchHere(ctx context.Context, req *kvv1.PutBatchRequest) (*kvv1.PutBatchResponse, error) {
	res, err := k.s.apply(ctx, fsm.KVPutBatchType, req)
	if err != nil {
		return nil, err
	}
	return &kvv1.PutBatchResponse{Meta: &queryv1.WriteMeta{Index: res.Index}, Ok: res.PutOK}, nil
}

func (k *kvService) Delete(ctx context.Context, req *kvv1.DeleteRequest) (*kvv1.DeleteResponse, error) {
	if err := key("key", req.GetKey(), req.GetRecurse()); err != nil {
		return nil, err
	}
	if req.GetRecurse() && req.Cas != nil {
		return nil, invalid("cas cannot be combined with recurse")
	}
	if resp, ok, err := forward(ctx, k.s, func(ctx context.Context, cc *grpc.ClientConn) (*kvv1.DeleteResponse, error) {
		return kvv1.NewKVServiceClient(cc).Delete(ctx, req)
	}); ok {
		return resp, err
	}
	res, err := k.s.apply(ctx, fsm.KVDeleteType, req)
	if err != nil {
		return nil, err
	}
	return &kvv1.DeleteResponse{Meta: &queryv1.WriteMeta{Index: res.Index}, Ok: res.OK}, nil
}

type txnService struct {
	kvv1.UnimplementedTxnServiceServer
	s *Server
}

func (t *txnService) Txn(ctx context.Context, req *kvv1.TxnRequest) (*kvv1.TxnResponse, error) {
	if err := validateTxn(req.GetOps()); err != nil {
		return nil, err
	}
	if err := validateReadOptions(req.GetOptions()); err != nil {
		return nil, err
	}
	if readOnly(req.GetOps()) {
		return t.read(ctx, req)
	}
	if resp, ok, err := forward(ctx, t.s, func(ctx context.Context, cc *grpc.ClientConn) (*kvv1.TxnResponse, error) {
		return kvv1.NewTxnServiceClient(cc).Txn(ctx, req)
	}); ok {
		return resp, err
	}
	res, err := t.s.apply(ctx, fsm.TxnType, req)
	if err != nil {
		return nil, err
	}
	resp := &kvv1.TxnResponse{WriteMeta: &queryv1.WriteMeta{Index: res.Index}, Errors: res.Errors}
	if len(res.Errors) == 0 {
		resp.Results = res.Results
	}
	return resp, nil
}

// read answers a read-only transaction without Raft, in the requested
// consistency mode (blocking is not supported, as in Consul).
func (t *txnService) read(ctx context.Context, req *kvv1.TxnRequest) (*kvv1.TxnResponse, error) {
	if resp, ok, err := forwardRead(ctx, t.s, req.GetOptions(), func(ctx context.Context, cc *grpc.ClientConn) (*kvv1.TxnResponse, error) {
		return kvv1.NewTxnServiceClient(cc).Txn(ctx, req)
	}); ok {
		return resp, err
	}
	opts := &queryv1.ReadOptions{Consistency: req.GetOptions().GetConsistency()}
	resp := &kvv1.TxnResponse{}
	meta, err := t.s.blockingQuery(ctx, opts, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, results, errs := st.TxnRead(ws, req.GetOps())
		resp.Results, resp.Errors = results, errs
		if len(errs) > 0 {
			resp.Results = nil
		}
		return idx, nil
	})
	resp.ReadMeta = meta
	return resp, err
}
