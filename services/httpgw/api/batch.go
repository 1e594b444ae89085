package api

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
)

// Read batching. Many clients poll the same few URLs (every sidecar and
// load balancer asks for /v1/health/service/<its upstream>), so identical
// reads that arrive together share one catalog call and one JSON encoding.
// A read never joins a call already under way: it waits for the next one,
// which starts only after it arrived, so its answer reflects every write
// that completed before it was sent, and default and ?consistent reads stay
// linearizable. A read alone starts its call at once; under load, a read
// waits at most for the call in flight to end before its own starts.

// batchPrefixes are the routes whose GET handlers only read the catalog and
// return a value (no streaming, no side effect), so their answers can be
// shared.
var batchPrefixes = []string{"/v1/catalog/", "/v1/health/", "/v1/kv/"}

// batchable reports whether r, a GET of the route pattern, may share its
// answer: a catalog read that is not a blocking query (those wait for their
// own index and would hold a batch open for minutes).
func batchable(pattern string, r *http.Request) bool {
	if _, blocking := r.URL.Query()["index"]; blocking {
		return false
	}
	for _, p := range batchPrefixes {
		if strings.HasPrefix(pattern, p) {
			return true
		}
	}
	return false
}

// batches holds, per distinct read, the batch that will run next.
type batches struct {
	mu    sync.Mutex
	reads map[string]*batchQueue
}

// batchQueue is one distinct read: whether a call is under way, and the
// batch of readers waiting for the next.
type batchQueue struct {
	running bool
	next    *batch
}

// batch is one shared call and its recorded answer.
type batch struct {
	done    chan struct{}
	r       *http.Request // the first reader's request, detached from its client
	readers int           // how many share it
	resp    recorder
}

func newBatches() *batches { return &batches{reads: map[string]*batchQueue{}} }

// batchKey identifies reads that get the same answer: the route, the whole
// query and the token the call is made with.
func batchKey(r *http.Request) string {
	return r.URL.Path + "?" + r.URL.RawQuery + "\x00" + requestToken(r)
}

// serve answers r with the recorded answer of the next run of run for r's
// key, starting it when none is under way.
func (bs *batches) serve(w http.ResponseWriter, r *http.Request, run func(http.ResponseWriter, *http.Request)) {
	key := batchKey(r)
	bs.mu.Lock()
	q := bs.reads[key]
	if q == nil {
		q = &batchQueue{}
		bs.reads[key] = q
	}
	if q.next == nil {
		// The shared call must not end when this reader's client leaves,
		// and records its answer uncompressed: each reader gets its own
		// encoding and its own HEAD handling.
		br := r.Clone(context.WithoutCancel(r.Context()))
		br.Method = http.MethodGet
		br.Header.Del("Accept-Encoding")
		q.next = &batch{done: make(chan struct{}), r: br}
	}
	b := q.next
	b.readers++
	if !q.running {
		bs.start(key, q, run)
	}
	bs.mu.Unlock()

	select {
	case <-b.done:
		b.resp.replay(w, r)
	case <-r.Context().Done():
		// The client left; the batch's other readers still get the answer.
	}
}

// start runs q's next batch in its own goroutine; when it ends, the batch
// that gathered meanwhile runs. bs.mu is held.
func (bs *batches) start(key string, q *batchQueue, run func(http.ResponseWriter, *http.Request)) {
	b := q.next
	q.next, q.running = nil, true
	go func() {
		run(&b.resp, b.r)
		close(b.done)
		bs.mu.Lock()
		defer bs.mu.Unlock()
		if q.next != nil {
			bs.start(key, q, run)
			return
		}
		q.running = false
		delete(bs.reads, key)
	}()
}

// recorder is an http.ResponseWriter that keeps the answer to replay it to
// every reader of a batch.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rec *recorder) Header() http.Header {
	if rec.header == nil {
		rec.header = http.Header{}
	}
	return rec.header
}

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.body.Write(p)
}

// replay writes the recorded answer to w for r: JSON and other bodies
// through writeBody, so that each reader gets gzip only if it asked for it.
func (rec *recorder) replay(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range rec.header {
		switch k {
		case "Content-Length", "Content-Type", "Vary":
		default:
			h[k] = v
		}
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	if ct := rec.header.Get("Content-Type"); ct != "" && rec.header.Get("Vary") != "" {
		writeBody(w, r, status, ct, rec.body.Bytes())
		return
	}
	if ct := rec.header.Get("Content-Type"); ct != "" {
		h.Set("Content-Type", ct)
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(rec.body.Bytes())
	}
}
