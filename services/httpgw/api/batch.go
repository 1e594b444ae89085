package api

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/beaconmesh/beacon/platform/token"
)

// Read batching. Many clients ask the same few questions: every sidecar
// and load balancer polls /v1/health/service/<its upstream>, and thousands
// of watchers block on the same query at the same index. Identical reads
// share one catalog call and one JSON encoding.
//
// A plain read never joins a call already under way: it waits for the next
// one, which starts only after it arrived, so its answer reflects every
// write that completed before it was sent and default and ?consistent reads
// stay linearizable. A read alone starts its call at once; under load, a
// read waits at most for the call in flight to end before its own starts.
//
// A blocking read (?index) joins the call under way for the same query,
// index and wait: that call returns only once the index passes the one they
// share, or when its wait ends, which Consul's clients take as a spurious
// wake-up and ask again. Ten thousand watchers of one service then cost one
// catalog call, and wake together when it returns.
//
// A shared call runs detached from any one client; when every reader has
// left, it is cancelled.

// batchPrefixes are the routes whose GET handlers only read the catalog and
// return a value (no streaming, no side effect), so their answers can be
// shared.
var batchPrefixes = []string{"/v1/catalog/", "/v1/health/", "/v1/kv/"}

// batchMode says how a GET of the route pattern with query q may share its answer:
// not at all, with the next call (plain reads), or with the call under way
// (blocking reads, join).
func batchMode(pattern string, q url.Values) (share, join bool) {
	for _, p := range batchPrefixes {
		if strings.HasPrefix(pattern, p) {
			_, blocking := q["index"]
			return true, blocking
		}
	}
	return false, false
}

// batches holds, per distinct read, the call under way and the batch that
// will run next.
type batches struct {
	mu    sync.Mutex
	reads map[string]*batchQueue
	known knownAnswers // the last answer of each plain read
}

// batchQueue is one distinct read.
type batchQueue struct {
	key     string // in batches.reads
	running bool
	current *batch // the call under way that readers may still join
	next    *batch // readers waiting for the next call
}

// batch is one shared call and its recorded answer.
type batch struct {
	done    chan struct{}
	r       *http.Request // the first reader's request, detached from its client
	join    bool          // a blocking read
	cancel  context.CancelFunc
	readers int // how many are waiting for it
	resp    recorder
}

func newBatches() *batches {
	return &batches{reads: map[string]*batchQueue{}, known: knownAnswers{byKey: map[string]*recorder{}}}
}

// appendBatchKey appends to b what identifies reads that get the same
// answer: the route, the whole query and the token the call is made with
// (already in r's context).
func appendBatchKey(b []byte, r *http.Request) []byte {
	b = append(b, r.URL.Path...)
	b = append(b, '?')
	b = append(b, r.URL.RawQuery...)
	b = append(b, 0)
	return append(b, token.From(r.Context())...)
}

// newBatch is a batch whose call runs r detached from r's client, recording
// its answer uncompressed: each reader gets its own encoding and its own
// HEAD handling.
func newBatch(r *http.Request) *batch {
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	return &batch{done: make(chan struct{}), r: detachedRead(ctx, r), cancel: cancel}
}

// detachedRead is r as a GET that runs under ctx, for a call shared by
// many readers (a batch, the agent cache): detached from r's connection,
// since the answer is recorded and each reader sends its own reply, and
// without Accept-Encoding, since each reader gets its own encoding.
func detachedRead(ctx context.Context, r *http.Request) *http.Request {
	dr := r.Clone(context.WithValue(ctx, connKey{}, (*connState)(nil)))
	dr.Method = http.MethodGet
	dr.Header.Del("Accept-Encoding")
	return dr
}

// serve answers r with a shared run of run for r's key: the one under way
// when join is set and there is one, else the next, started at once when
// none is under way. It returns false, having written nothing, when r's
// context ended first (the client left, or the server is stopping).
func (bs *batches) serve(w http.ResponseWriter, r *http.Request, join bool, run func(http.ResponseWriter, *http.Request)) bool {
	// The key is built on the stack and becomes a string only for a new
	// queue: the thousands of watchers joining one call allocate none.
	var kb [128]byte
	k := appendBatchKey(kb[:0], r)
	bs.mu.Lock()
	q := bs.reads[string(k)]
	if q == nil {
		q = &batchQueue{key: string(k)}
		bs.reads[q.key] = q
	}
	var b *batch
	if join && q.current != nil {
		b = q.current
		b.readers++
	} else {
		if q.next == nil {
			q.next = newBatch(r)
			q.next.join = join
		}
		b = q.next
		b.readers++
		if !q.running {
			bs.start(q, run)
		}
	}
	bs.mu.Unlock()

	select {
	case <-b.done:
		b.resp.replay(w, r)
		return true
	case <-r.Context().Done():
		// The client left. The others still get the answer; when none is
		// left, the call is abandoned.
		bs.mu.Lock()
		b.readers--
		if b.readers == 0 {
			b.cancel()
			if q.current == b {
				q.current = nil
			}
			if q.next == b {
				q.next = nil
			}
		}
		bs.mu.Unlock()
		return false
	}
}

// start runs q's next batch in its own goroutine; when it ends, the batch
// that gathered meanwhile runs. bs.mu is held.
func (bs *batches) start(q *batchQueue, run func(http.ResponseWriter, *http.Request)) {
	key := q.key
	b := q.next
	q.next, q.current, q.running = nil, b, true
	var held *recorder
	var call *knownCall
	if !b.join {
		// A plain read tells the catalog which answer it holds, and gets
		// it back without the payload when nothing changed.
		held = bs.known.byKey[key]
		call = &knownCall{}
		if held != nil {
			call.index = held.index
		}
		b.r = b.r.WithContext(context.WithValue(b.r.Context(), knownCallKey{}, call))
	}
	go func() {
		run(&b.resp, b.r)
		switch {
		case call == nil:
		case b.resp.unchanged && call.calls.Load() == 1 && held != nil:
			b.resp.reuse(held) // held stays the answer to hold
		case b.resp.unchanged:
			// The held answer stands for one call's result; a handler
			// that made more gets to answer in full.
			b.resp = recorder{}
			run(&b.resp, b.r.WithContext(context.WithValue(b.r.Context(), knownCallKey{}, (*knownCall)(nil))))
			bs.known.keep(&bs.mu, key, &b.resp)
		default:
			bs.known.keep(&bs.mu, key, &b.resp)
		}
		b.resp.seal()
		b.cancel()
		close(b.done)
		bs.mu.Lock()
		defer bs.mu.Unlock()
		if q.current == b {
			q.current = nil
		}
		if q.next != nil {
			bs.start(q, run)
			return
		}
		q.running = false
		if bs.reads[key] == q {
			delete(bs.reads, key)
		}
	}()
}

// recorder is an http.ResponseWriter that keeps the answer to replay it to
// every reader of a batch.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer

	// index is the answer's X-Consul-Index (0: not a read answer), and
	// unchanged says the catalog left the payload out because the index is
	// the one the call said it held (setReadMeta sets both).
	index     uint64
	unchanged bool

	// Set by seal, when the call has ended: the headers every reader gets,
	// ready to be assigned (their values are shared, never modified), and
	// the gzipped form of a body that may be compressed, made once for all
	// the readers that ask for it.
	plain     http.Header
	negotiate bool // the body went through writeBody: gzip on request
	gzipOnce  sync.Once
	gzipped   http.Header
	gzipBody  []byte
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

// reuse makes rec, the answer of a call the catalog found unchanged, the
// held answer: its status, body and headers, with the read metadata of
// the new call (known leader, last contact).
func (rec *recorder) reuse(held *recorder) {
	fresh := rec.header
	rec.header = held.header.Clone()
	for _, k := range readMetaHeaders {
		if v, ok := fresh[k]; ok {
			rec.header[k] = v
		}
	}
	rec.status = held.status
	rec.body.Reset()
	rec.body.Write(held.body.Bytes())
	rec.index, rec.unchanged = held.index, false
}

// seal prepares the replay once the call has ended: the reply headers of
// an uncompressed answer, whole, so that each reader costs a few map
// assignments and one write.
func (rec *recorder) seal() {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	ct := rec.header.Get("Content-Type")
	rec.negotiate = ct != "" && rec.header.Get("Vary") != ""
	rec.plain = make(http.Header, len(rec.header)+1)
	for k, v := range rec.header {
		switch k {
		case "Content-Length", "Content-Type", "Vary":
		default:
			rec.plain[k] = v
		}
	}
	if ct != "" {
		rec.plain["Content-Type"] = []string{ct}
	}
	if rec.negotiate {
		// What writeBody would add: the body is sent as recorded, with
		// its length, unless the reader takes gzip (see gzipReply).
		rec.plain["Vary"] = []string{"Accept-Encoding"}
		rec.plain["Content-Length"] = []string{strconv.Itoa(rec.body.Len())}
	}
}

// gzipReply is the compressed form of the answer, made on first use.
func (rec *recorder) gzipReply() (http.Header, []byte) {
	rec.gzipOnce.Do(func() {
		body, ok := gzipBody(rec.body.Bytes())
		if !ok {
			rec.gzipped, rec.gzipBody = rec.plain, rec.body.Bytes()
			return
		}
		h := make(http.Header, len(rec.plain)+1)
		maps.Copy(h, rec.plain)
		h["Content-Encoding"] = []string{"gzip"}
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
		rec.gzipped, rec.gzipBody = h, body
	})
	return rec.gzipped, rec.gzipBody
}

// Answers held for ReadOptions.known_index. A plain read's call names the
// index of the last answer to the same read (same path, query and token);
// when the catalog finds that index current it leaves the payload out, and
// the gateway replays the held answer instead of decoding, converting and
// encoding the same records again.
const (
	maxKnownAnswers     = 1024
	maxKnownAnswerBytes = 64 << 20
)

// knownAnswers are the held answers, guarded by batches.mu.
type knownAnswers struct {
	byKey map[string]*recorder
	bytes int
}

// keep holds rec, a read answer the catalog gave in full, as key's answer,
// dropping others when over the bounds.
func (k *knownAnswers) keep(mu *sync.Mutex, key string, rec *recorder) {
	if rec.index == 0 || rec.body.Len() > maxKnownAnswerBytes/16 ||
		(rec.status != http.StatusOK && rec.status != http.StatusNotFound) {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	if old := k.byKey[key]; old != nil {
		k.bytes -= old.body.Len()
		delete(k.byKey, key)
	}
	for other, old := range k.byKey {
		if len(k.byKey) < maxKnownAnswers && k.bytes+rec.body.Len() <= maxKnownAnswerBytes {
			break
		}
		k.bytes -= old.body.Len()
		delete(k.byKey, other)
	}
	k.byKey[key] = rec
	k.bytes += rec.body.Len()
}

// knownCall is what a batched plain read's context carries to its catalog
// call: the index of the held answer (0: none), and how many calls the
// handler made: a held answer stands for one call's result only.
type knownCall struct {
	index uint64
	calls atomic.Int32
}

type knownCallKey struct{}

// knownIndex is the known_index for the next catalog call of r: the held
// answer's index for the first call of a batched plain read, else 0.
func knownIndex(r *http.Request) uint64 {
	c, _ := r.Context().Value(knownCallKey{}).(*knownCall)
	if c == nil || c.calls.Add(1) != 1 {
		return 0
	}
	return c.index
}

// replay writes the sealed answer to w for r, gzipped if r asks for it and
// the answer is one writeBody would compress.
func (rec *recorder) replay(w http.ResponseWriter, r *http.Request) {
	header, body := rec.plain, rec.body.Bytes()
	if rec.negotiate && len(body) >= gzipMinSize && acceptsGzip(r) {
		header, body = rec.gzipReply()
	}
	h := w.Header()
	for k, v := range header {
		h[k] = v
	}
	w.WriteHeader(rec.status)
	if r.Method != http.MethodHead {
		sendBody(w, r, body)
	}
}
