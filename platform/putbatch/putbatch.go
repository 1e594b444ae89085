// Package putbatch gathers concurrent KV puts into PutBatch calls.
//
// Each KV put alone costs a call and a Raft entry, and under load that
// overhead, not the write, is what limits the rate. Plain and
// check-and-set puts that arrive while a call is under way wait for it to
// end and then leave together in one PutBatch call, which the catalog
// commits as one Raft entry, in arrival order, each put on its own terms.
// A put that finds no call under way leaves at once, so a lone writer
// waits for nobody.
//
// Puts in one batch share the entry's Raft index (their ModifyIndex), as
// the writes of one transaction do. Lock operations (acquire, release)
// are never batched.
//
// The HTTP gateway batches the puts of its clients before they reach the
// catalog; the catalog's leader batches the Put calls made to it directly.
package putbatch

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/beaconmesh/beacon/platform/token"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
)

// KV is where the puts go: beacon.kv.v1.KVService's client, or the
// catalog's own implementation of it.
type KV interface {
	Put(ctx context.Context, in *kvv1.PutRequest, opts ...grpc.CallOption) (*kvv1.PutResponse, error)
	PutBatch(ctx context.Context, in *kvv1.PutBatchRequest, opts ...grpc.CallOption) (*kvv1.PutBatchResponse, error)
}

const (
	// maxPutCalls is how many batch calls may be under way per token. One
	// is best measured: the fewer the calls, the bigger the batches, and
	// the fewer the Raft entries (with 16, puts at 64 clients on three
	// replicas ran 40% slower than with 1).
	maxPutCalls = 1
	// maxPutBatch and maxPutBatchBytes bound one call: far below the
	// catalog's limits (1024 puts, 4 MiB messages).
	maxPutBatch      = 256
	maxPutBatchBytes = 1 << 20
)

// Batcher queues puts per token: the catalog authorizes a call by its
// token, so puts made with different tokens never share one.
type Batcher struct {
	kv      KV
	timeout time.Duration // of one call
	mu      sync.Mutex
	queues  map[string]*putQueue
}

// putQueue is one token's puts.
type putQueue struct {
	calls   int           // batch calls under way
	waiting []*pendingPut // puts for the next call, in arrival order
}

// pendingPut is one put and, once its call returns, its outcome.
type pendingPut struct {
	ctx   context.Context
	req   *kvv1.PutRequest
	size  int        // encoded, counted against maxPutBatchBytes
	call  *batchCall // the call carrying it, once taken (under Batcher.mu)
	done  chan struct{}
	ok    bool
	index uint64
	err   error
}

// batchCall is one PutBatch call and the puts it carries. The call runs
// detached from any one client, carrying the first put's context values
// (its token among them), and is abandoned once none of its puts' clients
// still waits: they left, or the server is stopping and must not wait on
// it.
type batchCall struct {
	puts    []*pendingPut
	ctx     context.Context
	cancel  context.CancelFunc
	waiting atomic.Int32 // puts whose clients have not left
}

// leave records that the client of one of c's puts has left.
func (c *batchCall) leave() {
	if c.waiting.Add(-1) == 0 {
		c.cancel()
	}
}

// New is a Batcher sending to kv, each call bounded by timeout.
func New(kv KV, timeout time.Duration) *Batcher {
	return &Batcher{kv: kv, timeout: timeout, queues: map[string]*putQueue{}}
}

// Put writes req, alone or batched with others; the answer says whether
// its check-and-set held, and the index of the entry that wrote it. When
// ctx ends first the put may still be written, as with any call abandoned
// in flight.
func (b *Batcher) Put(ctx context.Context, req *kvv1.PutRequest) (*kvv1.PutResponse, error) {
	if req.GetAcquire() != "" || req.GetRelease() != "" {
		ctx, cancel := context.WithTimeout(ctx, b.timeout)
		defer cancel()
		return b.kv.Put(ctx, req)
	}
	p := &pendingPut{ctx: ctx, req: req, size: proto.Size(req), done: make(chan struct{})}
	tok := token.From(ctx)
	b.mu.Lock()
	q := b.queues[tok]
	if q == nil {
		q = &putQueue{}
		b.queues[tok] = q
	}
	q.waiting = append(q.waiting, p)
	var c *batchCall
	if q.calls < maxPutCalls {
		if c = b.take(q); c == nil && q.calls == 0 {
			delete(b.queues, tok) // this put's own client left already
		}
	}
	b.mu.Unlock()
	if c != nil {
		// This put's own call runs here, without a hand-off; the calls
		// after it run on their own goroutines. Meanwhile only its
		// client's leaving needs watching: the other puts' clients wait
		// below.
		var stop func() bool
		if p.call == c {
			stop = context.AfterFunc(ctx, c.leave)
		}
		b.run(tok, q, c, stop)
	}
	select {
	case <-p.done:
		if p.err != nil {
			return nil, p.err
		}
		return &kvv1.PutResponse{Meta: &queryv1.WriteMeta{Index: p.index}, Ok: p.ok}, nil
	case <-ctx.Done():
		b.mu.Lock()
		pc := p.call
		b.mu.Unlock()
		if pc != nil && pc != c {
			pc.leave()
		}
		return nil, ctx.Err()
	}
}

// take removes the next batch from q and counts its call as under way. A
// put whose client has already left (and been told it failed) is dropped,
// never sent later: its client may have written the key again since. It
// returns nil, counting nothing, when no waiting put is left. Call with
// b.mu held.
func (b *Batcher) take(q *putQueue) *batchCall {
	var batch []*pendingPut
	size, n := 0, 0
	for ; n < len(q.waiting) && len(batch) < maxPutBatch; n++ {
		p := q.waiting[n]
		if p.ctx.Err() != nil {
			continue
		}
		size += p.size
		if len(batch) > 0 && size > maxPutBatchBytes {
			break
		}
		batch = append(batch, p)
	}
	clear(q.waiting[:n]) // the array outlives the taken puts: let their values go
	q.waiting = q.waiting[n:]
	if len(batch) == 0 {
		return nil
	}
	q.calls++
	c := &batchCall{puts: batch}
	c.ctx, c.cancel = context.WithTimeout(context.WithoutCancel(batch[0].ctx), b.timeout)
	c.waiting.Store(int32(len(batch)))
	for _, p := range batch {
		p.call = c
	}
	return c
}

// run makes c's call, answers its puts, and starts the next call if puts
// are waiting. stop, if not nil, ends the watch on the client of the put
// whose goroutine runs c, before that put is answered.
func (b *Batcher) run(tok string, q *putQueue, c *batchCall, stop func() bool) {
	b.call(c, stop)
	b.mu.Lock()
	q.calls--
	next := b.take(q)
	if next == nil && q.calls == 0 {
		delete(b.queues, tok)
	}
	b.mu.Unlock()
	if next != nil {
		go b.run(tok, q, next, nil)
	}
}

// call sends c's puts in one PutBatch call. If the catalog refuses a
// batch of several as invalid, each put is sent alone, so that one bad put
// fails only its own request; so they are if the catalog is older than
// PutBatch.
func (b *Batcher) call(c *batchCall, stop func() bool) {
	defer c.cancel()
	batch, ctx := c.puts, c.ctx
	in := &kvv1.PutBatchRequest{Puts: make([]*kvv1.PutRequest, len(batch))}
	for i, p := range batch {
		in.Puts[i] = p.req
	}
	resp, err := b.kv.PutBatch(ctx, in)
	if err == nil && len(resp.GetOk()) != len(batch) {
		err = status.Errorf(codes.Internal, "put batch: %d outcomes for %d puts", len(resp.GetOk()), len(batch))
	}
	switch code := status.Code(err); {
	case err == nil:
		for i, p := range batch {
			p.ok, p.index = resp.GetOk()[i], resp.GetMeta().GetIndex()
		}
	case code == codes.InvalidArgument && len(batch) > 1,
		code == codes.Unimplemented: // a catalog older than PutBatch
		for _, p := range batch {
			r, err := b.kv.Put(ctx, p.req)
			p.ok, p.index, p.err = r.GetOk(), r.GetMeta().GetIndex(), err
		}
	default:
		for _, p := range batch {
			p.err = err
		}
	}
	// The watch on the running put's client ends before it is answered,
	// so that the client's leaving afterwards starts nothing.
	if stop != nil {
		stop()
	}
	for _, p := range batch {
		close(p.done)
	}
}
