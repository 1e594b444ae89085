package putbatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/beaconmesh/beacon/platform/token"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
)

// batchKV is a KV whose PutBatch calls can be held, recording each
// call's keys and token. A put of key "bad" is invalid; a put with cas 1
// does not hold.
type batchKV struct {
	mu      sync.Mutex
	hold    chan struct{} // while open, PutBatch calls wait for it
	entered chan struct{} // one value per PutBatch call entered
	batches [][]string
	tokens  []string
	singles []string // keys put through Put
	err     error    // returned by every PutBatch call
	// abandoned counts held calls whose context ended.
	abandoned int
}

func newBatchKV() *batchKV {
	return &batchKV{entered: make(chan struct{}, 1024)}
}

func (k *batchKV) PutBatch(ctx context.Context, in *kvv1.PutBatchRequest, _ ...grpc.CallOption) (*kvv1.PutBatchResponse, error) {
	k.mu.Lock()
	hold := k.hold
	var keys []string
	out := &kvv1.PutBatchResponse{Meta: &queryv1.WriteMeta{Index: 7}}
	for _, p := range in.GetPuts() {
		keys = append(keys, p.GetKey())
		out.Ok = append(out.Ok, p.Cas == nil || p.GetCas() != 1)
	}
	k.batches = append(k.batches, keys)
	k.tokens = append(k.tokens, token.From(ctx))
	err := k.err
	k.mu.Unlock()
	k.entered <- struct{}{}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			k.mu.Lock()
			k.abandoned++
			k.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	if slices.Contains(keys, "bad") {
		return nil, status.Error(codes.InvalidArgument, "puts[0]: key is bad")
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (k *batchKV) Put(ctx context.Context, in *kvv1.PutRequest, _ ...grpc.CallOption) (*kvv1.PutResponse, error) {
	k.mu.Lock()
	k.singles = append(k.singles, in.GetKey())
	k.mu.Unlock()
	if in.GetKey() == "bad" {
		return nil, status.Error(codes.InvalidArgument, "key is bad")
	}
	return &kvv1.PutResponse{Ok: true}, nil
}

// holdCalls makes PutBatch calls wait until the returned func is first
// called.
func (k *batchKV) holdCalls() (release func()) {
	ch := make(chan struct{})
	k.mu.Lock()
	k.hold = ch
	k.mu.Unlock()
	return sync.OnceFunc(func() {
		k.mu.Lock()
		if k.hold == ch { // not replaced by a later holdCalls
			k.hold = nil
		}
		k.mu.Unlock()
		close(ch)
	})
}

func (k *batchKV) sizes() []int {
	k.mu.Lock()
	defer k.mu.Unlock()
	var n []int
	for _, b := range k.batches {
		n = append(n, len(b))
	}
	return n
}

type putOutcome struct {
	key string
	ok  bool
	err error
}

// putAll starts one put per request and returns a channel of outcomes.
func putAll(ctx context.Context, b *Batcher, reqs ...*kvv1.PutRequest) <-chan putOutcome {
	out := make(chan putOutcome, len(reqs))
	for _, r := range reqs {
		go func() {
			resp, err := b.Put(ctx, r)
			out <- putOutcome{r.GetKey(), resp.GetOk(), err}
		}()
	}
	return out
}

// waitQueued waits until n puts are queued for tok.
func waitQueued(t *testing.T, b *Batcher, tok string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b.mu.Lock()
		q := b.queues[tok]
		got := 0
		if q != nil {
			got = len(q.waiting)
		}
		b.mu.Unlock()
		if got == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d puts never queued", n)
}

func keyed(prefix string, n int) []*kvv1.PutRequest {
	reqs := make([]*kvv1.PutRequest, n)
	for i := range reqs {
		reqs[i] = &kvv1.PutRequest{Key: fmt.Sprintf("%s%03d", prefix, i)}
	}
	return reqs
}

// fillCalls starts maxPutCalls held calls, so that what follows queues.
func fillCalls(t *testing.T, k *batchKV, b *Batcher, ctx context.Context) <-chan putOutcome {
	t.Helper()
	first := putAll(ctx, b, keyed("first", maxPutCalls)...)
	for range maxPutCalls {
		<-k.entered
	}
	return first
}

func TestPutBatcherLonePutLeavesAtOnce(t *testing.T) {
	k := newBatchKV()
	b := New(k, time.Minute)
	for i := range 3 {
		resp, err := b.Put(t.Context(), &kvv1.PutRequest{Key: fmt.Sprint(i)})
		if !resp.GetOk() || err != nil {
			t.Fatalf("put %d: %v %v", i, resp.GetOk(), err)
		}
		if got := resp.GetMeta().GetIndex(); got != 7 {
			t.Errorf("put %d: index %d, want the batch's 7", i, got)
		}
	}
	if got := k.sizes(); !slices.Equal(got, []int{1, 1, 1}) {
		t.Errorf("batch sizes %v, want three calls of one", got)
	}
	if len(b.queues) != 0 {
		t.Errorf("%d queues left behind", len(b.queues))
	}
}

func TestPutBatcherQueuesWhileCallsAreUnderWay(t *testing.T) {
	k := newBatchKV()
	b := New(k, time.Minute)
	ctx := t.Context()
	release := k.holdCalls()
	first := fillCalls(t, k, b, ctx)

	reqs := keyed("k", 10)
	reqs[4].Cas = new(uint64(1)) // does not hold
	rest := putAll(ctx, b, reqs...)
	waitQueued(t, b, "", 10)
	release()

	for range maxPutCalls {
		if o := <-first; !o.ok || o.err != nil {
			t.Errorf("%s: %v %v", o.key, o.ok, o.err)
		}
	}
	for range reqs {
		o := <-rest
		if want := o.key != "k004"; o.ok != want || o.err != nil {
			t.Errorf("%s: ok %v err %v, want ok %v", o.key, o.ok, o.err, want)
		}
	}
	if got, want := k.sizes(), append(slices.Repeat([]int{1}, maxPutCalls), 10); !slices.Equal(got, want) {
		t.Errorf("batch sizes %v, want %v", got, want)
	}
}

func TestPutBatcherBoundsABatch(t *testing.T) {
	big := make([]byte, maxPutBatchBytes/2+1)
	tests := []struct {
		name string
		reqs []*kvv1.PutRequest
		want []int // sizes of the calls after the held ones
	}{
		{"count", keyed("k", maxPutBatch+44), []int{maxPutBatch, 44}},
		{"bytes", []*kvv1.PutRequest{{Key: "a", Value: big}, {Key: "b", Value: big}, {Key: "c"}}, []int{1, 2}},
		{"one over the byte limit goes alone", []*kvv1.PutRequest{{Key: "a", Value: make([]byte, maxPutBatchBytes+1)}, {Key: "b"}}, []int{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newBatchKV()
			b := New(k, time.Minute)
			ctx := t.Context()
			release := k.holdCalls()
			first := fillCalls(t, k, b, ctx)
			// Queue one at a time, so that the order is known.
			var outs []<-chan putOutcome
			for i, r := range tt.reqs {
				outs = append(outs, putAll(ctx, b, r))
				waitQueued(t, b, "", i+1)
			}
			release()
			for range maxPutCalls {
				<-first
			}
			for _, o := range outs {
				if r := <-o; !r.ok || r.err != nil {
					t.Errorf("%s: %v %v", r.key, r.ok, r.err)
				}
			}
			// Batches are taken in arrival order; their calls may run
			// in either order.
			calls := slices.Clone(k.batches[maxPutCalls:])
			slices.SortFunc(calls, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
			var sizes []int
			var keys []string
			for _, c := range calls {
				sizes = append(sizes, len(c))
				keys = append(keys, c...)
			}
			if !slices.Equal(sizes, tt.want) {
				t.Errorf("batch sizes %v, want %v", sizes, tt.want)
			}
			var want []string
			for _, r := range tt.reqs {
				want = append(want, r.GetKey())
			}
			if !slices.Equal(keys, want) {
				t.Errorf("keys sent %v, want %v in arrival order", keys, want)
			}
		})
	}
}

func TestPutBatcherErrors(t *testing.T) {
	t.Run("an invalid put fails alone", func(t *testing.T) {
		k := newBatchKV()
		b := New(k, time.Minute)
		ctx := t.Context()
		release := k.holdCalls()
		first := fillCalls(t, k, b, ctx)
		rest := putAll(ctx, b, &kvv1.PutRequest{Key: "good"}, &kvv1.PutRequest{Key: "bad"}, &kvv1.PutRequest{Key: "fine"})
		waitQueued(t, b, "", 3)
		release()
		for range maxPutCalls {
			<-first
		}
		for range 3 {
			o := <-rest
			if o.key == "bad" {
				if status.Code(o.err) != codes.InvalidArgument {
					t.Errorf("bad: %v, want InvalidArgument", o.err)
				}
			} else if !o.ok || o.err != nil {
				t.Errorf("%s failed with the bad put: %v %v", o.key, o.ok, o.err)
			}
		}
		slices.Sort(k.singles)
		if !slices.Equal(k.singles, []string{"bad", "fine", "good"}) {
			t.Errorf("sent alone: %v", k.singles)
		}
	})
	t.Run("a catalog without PutBatch gets each put alone", func(t *testing.T) {
		k := newBatchKV()
		k.err = status.Error(codes.Unimplemented, "unknown method PutBatch")
		b := New(k, time.Minute)
		if resp, err := b.Put(t.Context(), &kvv1.PutRequest{Key: "x"}); !resp.GetOk() || err != nil {
			t.Errorf("put = %v, %v", resp.GetOk(), err)
		}
		if !slices.Equal(k.singles, []string{"x"}) {
			t.Errorf("sent through Put: %v", k.singles)
		}
	})
	t.Run("a failed call fails its puts", func(t *testing.T) {
		k := newBatchKV()
		k.err = status.Error(codes.Unavailable, "no leader")
		b := New(k, time.Minute)
		if _, err := b.Put(t.Context(), &kvv1.PutRequest{Key: "x"}); status.Code(err) != codes.Unavailable {
			t.Errorf("err = %v, want Unavailable", err)
		}
	})
	t.Run("a client that leaves stops waiting, and its put is never sent", func(t *testing.T) {
		k := newBatchKV()
		b := New(k, time.Minute)
		release := k.holdCalls()
		defer release()
		first := fillCalls(t, k, b, t.Context())
		ctx, cancel := context.WithCancel(t.Context())
		out := putAll(ctx, b, &kvv1.PutRequest{Key: "gone"})
		waitQueued(t, b, "", 1)
		cancel()
		if o := <-out; !errors.Is(o.err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", o.err)
		}
		stay := putAll(t.Context(), b, &kvv1.PutRequest{Key: "stays"})
		waitQueued(t, b, "", 2)
		release()
		for range maxPutCalls {
			<-first
		}
		if o := <-stay; !o.ok || o.err != nil {
			t.Errorf("stays: %v %v", o.ok, o.err)
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, keys := range k.batches {
			if slices.Contains(keys, "gone") {
				t.Errorf("the put of a client that left was sent: %v", keys)
			}
		}
	})
}

// TestPutBatcherAbandonsACallNobodyWaitsFor checks that a call stays up
// while one of its puts still waits, and ends once none does (a server
// stopping ends every call's context; it must not wait on the batch).
func TestPutBatcherAbandonsACallNobodyWaitsFor(t *testing.T) {
	k := newBatchKV()
	b := New(k, time.Minute)
	release := k.holdCalls()
	defer release()
	first := fillCalls(t, k, b, t.Context())
	ctx1, cancel1 := context.WithCancel(t.Context())
	ctx2, cancel2 := context.WithCancel(t.Context())
	out1 := putAll(ctx1, b, &kvv1.PutRequest{Key: "one"})
	out2 := putAll(ctx2, b, &kvv1.PutRequest{Key: "two"})
	waitQueued(t, b, "", 2)
	defer k.holdCalls()() // the calls after the first are held
	release()             // the first call ends; the batch of two is sent
	for range maxPutCalls {
		<-first
	}
	<-k.entered
	abandoned := func() int {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.abandoned
	}
	cancel1()
	if o := <-out1; !errors.Is(o.err, context.Canceled) {
		t.Errorf("one: %v, want context.Canceled", o.err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := abandoned(); n != 0 {
		t.Fatalf("the call was abandoned while %q still waited", "two")
	}
	cancel2()
	<-out2
	deadline := time.Now().Add(5 * time.Second)
	for abandoned() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the call went on with no put waiting for it")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPutBatcherAbandonsALonePutsCall checks the call a put makes on its
// own client's goroutine (it found no call under way): that client's
// leaving abandons it too.
func TestPutBatcherAbandonsALonePutsCall(t *testing.T) {
	k := newBatchKV()
	b := New(k, time.Minute)
	defer k.holdCalls()()
	ctx, cancel := context.WithCancel(t.Context())
	out := putAll(ctx, b, &kvv1.PutRequest{Key: "lone"})
	<-k.entered
	cancel()
	select {
	case o := <-out:
		if !errors.Is(o.err, context.Canceled) {
			t.Errorf("lone: %v, want context.Canceled", o.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the call went on with no put waiting for it")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.abandoned != 1 {
		t.Errorf("%d calls abandoned, want 1", k.abandoned)
	}
}

func TestPutBatcherSeparatesTokensAndLocks(t *testing.T) {
	k := newBatchKV()
	b := New(k, time.Minute)
	release := k.holdCalls()
	first := fillCalls(t, k, b, t.Context())
	a := putAll(token.With(t.Context(), "tok-a"), b, keyed("a", 3)...)
	bb := putAll(token.With(t.Context(), "tok-b"), b, keyed("b", 2)...)
	lock := putAll(t.Context(), b, &kvv1.PutRequest{Key: "lock", Acquire: "sess"})
	if o := <-lock; !o.ok || o.err != nil {
		t.Errorf("acquire waited for the batches or failed: %v %v", o.ok, o.err)
	}
	for range 2 * maxPutCalls {
		<-k.entered // each token's first puts leave at once
	}
	release()
	for range maxPutCalls {
		<-first
	}
	for range 3 {
		<-a
	}
	for range 2 {
		<-bb
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !slices.Equal(k.singles, []string{"lock"}) {
		t.Errorf("sent through Put: %v, want the acquire alone", k.singles)
	}
	for i, keys := range k.batches {
		want := map[byte]string{'f': "", 'a': "tok-a", 'b': "tok-b"}[keys[0][0]]
		for _, key := range keys {
			if key[0] != keys[0][0] || k.tokens[i] != want {
				t.Errorf("call %d with token %q mixes %v", i, k.tokens[i], keys)
			}
		}
	}
}
