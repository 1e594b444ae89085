package chaos

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

type opKind uint8

const (
	opRead opKind = iota
	opPut
	opCAS
	opDelete
)

// Read modes, as the ?query parameter that selects them.
const (
	modeDefault    = "default"
	modeConsistent = "consistent"
	modeStale      = "stale"
)

// kvInput is what a client asked for.
type kvInput struct {
	Kind opKind
	Key  string
	Mode string // reads: modeDefault, modeConsistent or modeStale
	// Value is the value written by a put or a CAS. Every value written in
	// a run is unique, so a value names the write that produced it.
	Value string
	// Expect is the value of the read a CAS was based on ("" = absent) and
	// CASIndex that read's ModifyIndex, sent as ?cas=. With unique values,
	// "ModifyIndex == CASIndex" and "value == Expect" are the same test, so
	// the model can compare values.
	Expect   string
	CASIndex uint64
}

type outcome uint8

const (
	// outOK: a read answered, or a write returned true.
	outOK outcome = iota
	// outFail: definitely not applied (a CAS answered false, a 4xx), or a
	// read that did not answer.
	outFail
	// outUnknown: a write that timed out, lost its connection or got a
	// 5xx: it may or may not have been applied.
	outUnknown
)

func (o outcome) String() string {
	switch o {
	case outOK:
		return "ok"
	case outFail:
		return "fail"
	default:
		return "unknown"
	}
}

// kvOutput is what the client saw.
type kvOutput struct {
	Outcome     outcome
	Value       string // reads: the value, "" when the key is absent
	ModifyIndex uint64 // reads: the pair's ModifyIndex, 0 when absent
	Index       uint64 // reads: X-Consul-Index
	Status      int    // HTTP status, 0 when there was no answer
	Err         string
}

// op is one request of the history. Call and Return are nanoseconds since
// the history's start, from the test process' monotonic clock.
type op struct {
	Client  int
	Gateway string
	Replica int // the replica of a pinned gateway, -1 for gw-all
	In      kvInput
	Out     kvOutput
	Call    int64
	Return  int64
}

func (o op) isWrite() bool { return o.In.Kind != opRead }

// history collects every client's operations.
type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []op
}

func newHistory() *history { return &history{start: time.Now()} }

// now is the time since the start; time.Since uses the monotonic clock.
func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) add(o op) {
	h.mu.Lock()
	h.ops = append(h.ops, o)
	h.mu.Unlock()
}

func (h *history) snapshot() []op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]op(nil), h.ops...)
}

// kvClient is one client of the KV API: a sequential loop of requests
// through one gateway.
type kvClient struct {
	id      int
	gw      *gateway
	hc      *http.Client
	h       *history
	rng     *rand.Rand
	keys    []string
	timeout time.Duration
	seq     int
	// lastRead is the latest linearizable read of each key, the base of
	// the next CAS on it.
	lastRead map[string]kvOutput
}

func newKVClient(id int, gw *gateway, h *history, keys []string, timeout time.Duration, seed int64) *kvClient {
	return &kvClient{
		id: id, gw: gw, h: h, keys: keys, timeout: timeout,
		hc:       &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}},
		rng:      rand.New(rand.NewPCG(uint64(seed), uint64(id))),
		lastRead: map[string]kvOutput{},
	}
}

// run issues requests until ctx ends. Weights follow the plan's R1 mix:
// default and consistent reads, stale reads, puts, CAS and deletes.
func (c *kvClient) run(ctx context.Context) {
	defer c.hc.CloseIdleConnections()
	var next *kvInput // a read forced by an indeterminate write
	for ctx.Err() == nil {
		var o op
		if next != nil {
			o = c.do(*next)
			next = nil
		} else {
			o = c.do(c.choose())
		}
		if o.isWrite() && o.Out.Outcome == outUnknown {
			// Like etcd's traffic: after an indeterminate write, read, so
			// indeterminate writes do not pile up on one key.
			next = &kvInput{Kind: opRead, Key: o.In.Key, Mode: modeConsistent}
		}
		if o.Out.Status == 0 || o.Out.Status >= 500 {
			// Back off a little from a replica that is down or leaderless.
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(20+c.rng.IntN(30)) * time.Millisecond):
			}
		}
	}
}

func (c *kvClient) choose() kvInput {
	key := c.keys[c.rng.IntN(len(c.keys))]
	switch n := c.rng.IntN(100); {
	case n < 20:
		return kvInput{Kind: opRead, Key: key, Mode: modeDefault}
	case n < 40:
		return kvInput{Kind: opRead, Key: key, Mode: modeConsistent}
	case n < 50:
		return kvInput{Kind: opRead, Key: key, Mode: modeStale}
	case n < 75:
		return kvInput{Kind: opPut, Key: key, Value: c.value()}
	case n < 95:
		base, ok := c.lastRead[key]
		if !ok {
			// A CAS needs a read to base it on: Jepsen's cas is GET then
			// PUT ?cas=<index>.
			return kvInput{Kind: opRead, Key: key, Mode: modeConsistent}
		}
		delete(c.lastRead, key)
		return kvInput{Kind: opCAS, Key: key, Value: c.value(), Expect: base.Value, CASIndex: base.ModifyIndex}
	default:
		return kvInput{Kind: opDelete, Key: key}
	}
}

func (c *kvClient) value() string {
	c.seq++
	return fmt.Sprintf("c%d-%d", c.id, c.seq)
}

// do sends one request and records it.
func (c *kvClient) do(in kvInput) op {
	o := op{Client: c.id, Gateway: c.gw.name, Replica: c.gw.pinned(), In: in}
	o.Call = c.h.now()
	o.Out = c.send(in)
	o.Return = c.h.now()
	c.h.add(o)
	if in.Kind == opRead && in.Mode != modeStale && o.Out.Outcome == outOK {
		c.lastRead[in.Key] = o.Out
	}
	return o
}

func (c *kvClient) send(in kvInput) kvOutput {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	path := "/v1/kv/" + url.PathEscape(in.Key)
	method, body := http.MethodGet, ""
	switch in.Kind {
	case opRead:
		if in.Mode != modeDefault {
			path += "?" + in.Mode
		}
	case opPut:
		method, body = http.MethodPut, in.Value
	case opCAS:
		method, body = http.MethodPut, in.Value
		path += "?cas=" + strconv.FormatUint(in.CASIndex, 10)
	case opDelete:
		method = http.MethodDelete
	}
	req, err := http.NewRequestWithContext(ctx, method, c.gw.url(path), strings.NewReader(body))
	if err != nil {
		return kvOutput{Outcome: outFail, Err: err.Error()}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return noAnswer(in, 0, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return noAnswer(in, resp.StatusCode, err)
	}
	if in.Kind == opRead {
		return readAnswer(resp, b)
	}
	return writeAnswer(resp.StatusCode, b)
}

// noAnswer is a request that got no (complete) answer: a read failed, a
// write may or may not have happened.
func noAnswer(in kvInput, status int, err error) kvOutput {
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("timeout: %w", err)
	}
	if in.Kind == opRead {
		return kvOutput{Outcome: outFail, Status: status, Err: err.Error()}
	}
	return kvOutput{Outcome: outUnknown, Status: status, Err: err.Error()}
}

func readAnswer(resp *http.Response, body []byte) kvOutput {
	out := kvOutput{Status: resp.StatusCode}
	out.Index, _ = strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	switch resp.StatusCode {
	case http.StatusNotFound:
		out.Outcome = outOK
	case http.StatusOK:
		var pairs []struct {
			Value       string
			ModifyIndex uint64
		}
		if err := json.Unmarshal(body, &pairs); err != nil || len(pairs) != 1 {
			return kvOutput{Outcome: outFail, Status: resp.StatusCode, Err: fmt.Sprintf("bad body %q: %v", body, err)}
		}
		v, err := base64.StdEncoding.DecodeString(pairs[0].Value)
		if err != nil || len(v) == 0 {
			return kvOutput{Outcome: outFail, Status: resp.StatusCode, Err: fmt.Sprintf("bad value %q: %v", pairs[0].Value, err)}
		}
		out.Outcome, out.Value, out.ModifyIndex = outOK, string(v), pairs[0].ModifyIndex
	default:
		out.Outcome, out.Err = outFail, strings.TrimSpace(string(body))
	}
	return out
}

// writeAnswer classifies a write's answer. Only answers that say the write
// was decided count as definite: true, false (a CAS that did not match),
// or a 4xx that rejects the request before it reaches Raft. A 5xx may come
// after the entry was committed (leadership lost while applying, a
// forwarded call cut off), so it is indeterminate.
func writeAnswer(status int, body []byte) kvOutput {
	out := kvOutput{Status: status}
	switch b := strings.TrimSpace(string(body)); {
	case status == http.StatusOK && b == "true":
		out.Outcome = outOK
	case status == http.StatusOK && b == "false":
		out.Outcome = outFail
	case status == http.StatusBadRequest, status == http.StatusNotFound, status == http.StatusRequestEntityTooLarge:
		out.Outcome, out.Err = outFail, b
	default:
		out.Outcome, out.Err = outUnknown, b
	}
	return out
}
