package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
)

// result is what a request made in another goroutine got.
type result struct {
	r   response
	err error
}

func (e *env) fetchAsync(ctx context.Context, path string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		r, err := e.fetch(ctx, http.MethodGet, path, "")
		ch <- result{r, err}
	}()
	return ch
}

// TestBlockingQueryWakesOnChange: a blocking read returns within 100 ms of
// the catalog's change, with the new index.
func TestBlockingQueryWakesOnChange(t *testing.T) {
	e := newEnv(t)
	seed(t, e.fake)
	e.do(http.MethodPut, "/v1/kv/x", "1").expect(t, 200, `true`)
	for _, path := range []string{
		"/v1/catalog/nodes",
		"/v1/catalog/services",
		"/v1/catalog/service/web",
		"/v1/catalog/node/n1",
		"/v1/health/service/web",
		"/v1/health/state/any",
		"/v1/kv/x",
		"/v1/kv/?recurse",
		"/v1/session/list",
		"/v1/operator/raft/configuration",
	} {
		t.Run(path, func(t *testing.T) {
			idx := e.fake.Index()
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			ch := e.fetchAsync(t.Context(), path+sep+"index="+strconv.FormatUint(idx, 10)+"&wait=30s")
			waitFor(t, "the read to block in the catalog", func() bool { return e.fake.Waiters() == 1 })
			changed := time.Now()
			e.fake.Touch()
			res := <-ch
			elapsed := time.Since(changed)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if res.r.status != 200 {
				t.Fatalf("status %d: %s", res.r.status, res.r.body)
			}
			if elapsed > 100*time.Millisecond {
				t.Errorf("returned %v after the change, want within 100ms", elapsed)
			}
			if got, want := res.r.header.Get("X-Consul-Index"), strconv.FormatUint(idx+1, 10); got != want {
				t.Errorf("X-Consul-Index = %s, want %s", got, want)
			}
		})
	}
}

// TestBlockingQueryTimesOut: with no change, the read returns after ?wait
// (plus at most wait/16 of jitter) with the same index.
func TestBlockingQueryTimesOut(t *testing.T) {
	e := newEnv(t)
	idx := strconv.FormatUint(e.fake.Index(), 10)
	const wait = 300 * time.Millisecond
	start := time.Now()
	r := e.get("/v1/kv/missing?index=" + idx + "&wait=300ms")
	elapsed := time.Since(start)
	if r.status != 404 || r.header.Get("X-Consul-Index") != idx {
		t.Fatalf("status %d, index %q; want 404 at index %s", r.status, r.header.Get("X-Consul-Index"), idx)
	}
	if elapsed < wait || elapsed > wait+wait/16+time.Second {
		t.Errorf("returned after %v, want about %v", elapsed, wait)
	}
}

// TestBlockingQueryEndsWithClient: a client that leaves cancels the
// blocking call in the catalog.
func TestBlockingQueryEndsWithClient(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	ch := e.fetchAsync(ctx, "/v1/catalog/nodes?index="+strconv.FormatUint(e.fake.Index(), 10)+"&wait=5m")
	waitFor(t, "the read to block", func() bool { return e.fake.Waiters() == 1 })
	cancel()
	if res := <-ch; res.err == nil {
		t.Fatalf("request succeeded after cancel: %d", res.r.status)
	}
	waitFor(t, "the catalog call to end", func() bool { return e.fake.Waiters() == 0 })
}

// A plain read names the index of the answer the gateway holds for it; while
// the catalog finds that index current it sends no payload, and the held
// answer is replayed, headers and status included, until something changes.
func TestHeldAnswersReplayedWhileUnchanged(t *testing.T) {
	e := newEnv(t)
	register := func(node string) {
		t.Helper()
		e.do(http.MethodPut, "/v1/catalog/register", `{"Node":"`+node+`","Address":"10.0.0.1","Service":{"Service":"web","Port":80}}`).expect(t, http.StatusOK, "")
	}
	register("n1")
	knownIndex := func(method string) uint64 {
		t.Helper()
		return e.fake.LastRequest(method).(interface{ GetOptions() *queryv1.ReadOptions }).GetOptions().GetKnownIndex()
	}
	for _, tc := range []struct {
		path, method string
		status       int
	}{
		{"/v1/health/service/web?passing", "ServiceHealth", http.StatusOK},
		{"/v1/catalog/service/web", "ServiceNodes", http.StatusOK},
		{"/v1/kv/missing", "Get", http.StatusNotFound},
	} {
		first := e.get(tc.path)
		if first.status != tc.status || knownIndex(tc.method) != 0 {
			t.Fatalf("%s: first read status %d, known_index %d", tc.path, first.status, knownIndex(tc.method))
		}
		idx, _ := strconv.ParseUint(first.header.Get("X-Consul-Index"), 10, 64)
		second := e.get(tc.path)
		if got := knownIndex(tc.method); got != idx {
			t.Errorf("%s: second read sent known_index %d, want %d", tc.path, got, idx)
		}
		if second.status != first.status || string(second.body) != string(first.body) ||
			second.header.Get("X-Consul-Index") != first.header.Get("X-Consul-Index") ||
			second.header.Get("Content-Type") != first.header.Get("Content-Type") {
			t.Errorf("%s: replayed answer %d %q %v, want %d %q %v", tc.path, second.status, second.body, second.header,
				first.status, first.body, first.header)
		}
	}
	// A change: the next read gets the new answer in full.
	before := e.get("/v1/health/service/web?passing")
	register("n2")
	after := e.get("/v1/health/service/web?passing")
	var entries []json.RawMessage
	if err := json.Unmarshal(after.body, &entries); err != nil || len(entries) != 2 {
		t.Fatalf("after a change: %d entries (%v): %s", len(entries), err, after.body)
	}
	if after.header.Get("X-Consul-Index") == before.header.Get("X-Consul-Index") {
		t.Error("the index did not move after a change")
	}
}
