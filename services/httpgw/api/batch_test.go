package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Readers that arrive while a call is under way never get its answer: they
// share the next call, which starts after they all arrived.
func TestBatchesShareOnlyCallsThatStartAfterTheReader(t *testing.T) {
	bs := newBatches()
	var calls atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	run := func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		started <- struct{}{}
		if n == 1 {
			<-release
		}
		w.Header().Set("X-Consul-Index", fmt.Sprint(n))
		writeBody(w, r, http.StatusOK, "application/json", []byte(strings.Repeat(fmt.Sprint(n), 2000)))
	}
	get := func(gzip bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/v1/health/service/web?passing", nil)
		if gzip {
			r.Header.Set("Accept-Encoding", "gzip")
		}
		w := httptest.NewRecorder()
		_ = bs.serve(w, r, false, run)
		return w
	}

	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- get(false) }()
	<-started // call 1 is under way
	const n = 10
	var wg sync.WaitGroup
	answers := make([]*httptest.ResponseRecorder, n)
	for i := range n {
		wg.Go(func() { answers[i] = get(i%2 == 0) })
	}
	// Let the ten queue up behind call 1, then end it.
	waitReaders(t, bs, "/v1/health/service/web?passing\x00", n, func(q *batchQueue) *batch { return q.next })
	close(release)
	if w := <-first; w.Header().Get("X-Consul-Index") != "1" {
		t.Errorf("the first reader got index %q, want 1", w.Header().Get("X-Consul-Index"))
	}
	wg.Wait()
	if got := calls.Load(); got != 2 {
		t.Errorf("%d calls for 11 readers, want 2 (one in flight, one shared by the rest)", got)
	}
	for i, w := range answers {
		if idx := w.Header().Get("X-Consul-Index"); idx != "2" {
			t.Errorf("reader %d got index %s: it joined a call that started before it", i, idx)
		}
		gz := w.Header().Get("Content-Encoding") == "gzip"
		if gz != (i%2 == 0) {
			t.Errorf("reader %d: gzip %v, asked %v", i, gz, i%2 == 0)
		}
		body := w.Body.Bytes()
		if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(len(body)) {
			t.Errorf("reader %d: Content-Length %s for %d bytes", i, cl, len(body))
		}
		if gz {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("reader %d: %v", i, err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatalf("reader %d: %v", i, err)
			}
		}
		if string(body) != strings.Repeat("2", 2000) {
			t.Errorf("reader %d: body %.20q…, want call 2's", i, body)
		}
	}
	bs.mu.Lock()
	left := len(bs.reads)
	bs.mu.Unlock()
	if left != 0 {
		t.Errorf("%d queues left after every batch ended", left)
	}
}

func TestBatchMode(t *testing.T) {
	tests := []struct {
		pattern, url string
		share, join  bool
	}{
		{"/v1/health/service/{name...}", "/v1/health/service/web?passing", true, false},
		{"/v1/catalog/services", "/v1/catalog/services", true, false},
		{"/v1/kv/{key...}", "/v1/kv/a?recurse", true, false},
		{"/v1/health/service/{name...}", "/v1/health/service/web?index=7", true, true},
		{"/v1/agent/services", "/v1/agent/services", false, false},
		{"/v1/snapshot", "/v1/snapshot", false, false},
	}
	for _, tt := range tests {
		share, join := batchMode(tt.pattern, httptest.NewRequest(http.MethodGet, tt.url, nil).URL.Query())
		if share != tt.share || join != tt.join {
			t.Errorf("batchMode(%s, %s) = %v, %v; want %v, %v", tt.pattern, tt.url, share, join, tt.share, tt.join)
		}
	}
}

// Blocking reads of the same query and index join the call under way: one
// call for all of them, and all answered when it returns.
func TestBlockingReadsJoinTheCallUnderWay(t *testing.T) {
	bs := newBatches()
	var calls atomic.Int32
	release := make(chan struct{})
	run := func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		<-release
		w.Header().Set("X-Consul-Index", "8")
		writeBody(w, r, http.StatusOK, "application/json", []byte("[]"))
	}
	const n = 50
	var wg sync.WaitGroup
	answers := make([]*httptest.ResponseRecorder, n)
	for i := range n {
		wg.Go(func() {
			w := httptest.NewRecorder()
			_ = bs.serve(w, httptest.NewRequest(http.MethodGet, "/v1/health/service/web?index=7&wait=1m", nil), true, run)
			answers[i] = w
		})
	}
	waitReaders(t, bs, "/v1/health/service/web?index=7&wait=1m\x00", n, func(q *batchQueue) *batch { return q.current })
	close(release)
	wg.Wait()
	if got := calls.Load(); got != 1 {
		t.Errorf("%d calls for %d blocking readers of one query, want 1", got, n)
	}
	for i, w := range answers {
		if w.Header().Get("X-Consul-Index") != "8" {
			t.Errorf("reader %d: index %q", i, w.Header().Get("X-Consul-Index"))
		}
	}
}

// A shared call whose readers have all left is cancelled.
func TestAbandonedBatchIsCancelled(t *testing.T) {
	bs := newBatches()
	cancelled := make(chan struct{})
	run := func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		close(cancelled)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequest(http.MethodGet, "/v1/health/service/web?index=7", nil).WithContext(ctx)
	served := make(chan struct{})
	go func() {
		_ = bs.serve(httptest.NewRecorder(), r, true, run)
		close(served)
	}()
	waitReaders(t, bs, "/v1/health/service/web?index=7\x00", 1, func(q *batchQueue) *batch { return q.current })
	cancel()
	<-served
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the call went on after its only reader left")
	}
}

// waitReaders waits until the batch pick returns for key has n readers.
func waitReaders(t *testing.T, bs *batches, key string, n int, pick func(*batchQueue) *batch) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		bs.mu.Lock()
		var got int
		if q := bs.reads[key]; q != nil {
			if b := pick(q); b != nil {
				got = b.readers
			}
		}
		bs.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d readers on %q, want %d", got, key, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A replayed held answer carries the read metadata of the call that found
// it unchanged: a replica cut off from its leader says so at once.
func TestReusedAnswerTakesFreshReadMeta(t *testing.T) {
	held := &recorder{}
	setReadMeta(held, &queryv1.ReadMeta{Index: 7, KnownLeader: true, LastContact: durationpb.New(8 * time.Millisecond)}, "stale")
	writeBody(held, httptest.NewRequest(http.MethodGet, "/", nil), http.StatusOK, "application/json", []byte(`[{"Key":"k"}]`))
	held.seal()

	fresh := &recorder{}
	setReadMeta(fresh, &queryv1.ReadMeta{Index: 7, KnownLeader: false, LastContact: durationpb.New(1500 * time.Millisecond), Unchanged: true}, "stale")
	writeBody(fresh, httptest.NewRequest(http.MethodGet, "/", nil), http.StatusNotFound, "application/json", []byte(`[]`))
	if !fresh.unchanged {
		t.Fatal("setReadMeta did not mark the answer unchanged")
	}
	fresh.reuse(held)
	fresh.seal()

	w := httptest.NewRecorder()
	fresh.replay(w, httptest.NewRequest(http.MethodGet, "/", nil))
	for k, want := range map[string]string{
		"X-Consul-Index": "7", "X-Consul-KnownLeader": "false", "X-Consul-LastContact": "1500",
		"X-Consul-Effective-Consistency": "stale", "Content-Type": "application/json",
	} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if w.Code != http.StatusOK || w.Body.String() != `[{"Key":"k"}]` {
		t.Errorf("replayed %d %q, want the held 200 answer", w.Code, w.Body.String())
	}
}
