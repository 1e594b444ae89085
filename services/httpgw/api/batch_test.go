package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
		bs.serve(w, r, run)
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
	deadline := time.Now().Add(5 * time.Second)
	for {
		bs.mu.Lock()
		q := bs.reads["/v1/health/service/web?passing\x00"]
		queued := q != nil && q.next != nil && q.next.readers == n
		bs.mu.Unlock()
		if queued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the readers did not queue behind the call under way")
		}
		time.Sleep(time.Millisecond)
	}
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
		if gz := w.Header().Get("Content-Encoding") == "gzip"; gz != (i%2 == 0) {
			t.Errorf("reader %d: gzip %v, asked %v", i, gz, i%2 == 0)
		}
	}
	bs.mu.Lock()
	left := len(bs.reads)
	bs.mu.Unlock()
	if left != 0 {
		t.Errorf("%d queues left after every batch ended", left)
	}
}

func TestBatchable(t *testing.T) {
	tests := []struct {
		pattern, url string
		want         bool
	}{
		{"/v1/health/service/{name...}", "/v1/health/service/web?passing", true},
		{"/v1/catalog/services", "/v1/catalog/services", true},
		{"/v1/kv/{key...}", "/v1/kv/a?recurse", true},
		{"/v1/health/service/{name...}", "/v1/health/service/web?index=7", false},
		{"/v1/agent/services", "/v1/agent/services", false},
		{"/v1/snapshot", "/v1/snapshot", false},
	}
	for _, tt := range tests {
		if got := batchable(tt.pattern, httptest.NewRequest(http.MethodGet, tt.url, nil)); got != tt.want {
			t.Errorf("batchable(%s, %s) = %v, want %v", tt.pattern, tt.url, got, tt.want)
		}
	}
}
