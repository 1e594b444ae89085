package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/httpgw/api"
	"github.com/beaconmesh/beacon/services/httpgw/internal/fakecatalog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// cachedEnv is an env whose gateway the test can close.
func cachedEnv(t *testing.T) (*env, *api.Server) {
	t.Helper()
	s, f := newServer(t, nil)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		hs.CloseClientConnections()
		hs.Close()
	})
	seed(t, f)
	return &env{t: t, fake: f, url: hs.URL, client: &http.Client{Transport: &http.Transport{DisableCompression: true}}}, s
}

// entries is how many elements a JSON array body holds.
func entries(t *testing.T, r response) int {
	t.Helper()
	var v []json.RawMessage
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return len(v)
}

// cacheHeaders checks X-Cache and, for a hit, that Age is at least minAge.
func cacheHeaders(t *testing.T, step string, r response, hit bool, minAge int) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: status %d, body %q", step, r.status, r.body)
	}
	want := "MISS"
	if hit {
		want = "HIT"
	}
	if got := r.header.Get("X-Cache"); got != want {
		t.Fatalf("%s: X-Cache = %q, want %q", step, got, want)
	}
	age := r.header.Get("Age")
	if !hit {
		if age != "" {
			t.Errorf("%s: a miss has Age %q", step, age)
		}
		return
	}
	if n, err := strconv.Atoi(age); err != nil || n < minAge {
		t.Errorf("%s: Age = %q, want a number of at least %d", step, age, minAge)
	}
}

func registerWeb3(t *testing.T, f *fakecatalog.Fake) {
	t.Helper()
	_, err := f.Register(context.Background(), &catalogv1.RegisterRequest{Node: &catalogv1.Node{Node: "n1"}, SkipNodeUpdate: true,
		Service: &catalogv1.Service{Id: "web-3", Service: "web", Port: 8082}})
	if err != nil {
		t.Fatal(err)
	}
}

// A service's health read with ?cached: the first is a miss that starts a
// background refresh, the next are hits kept current by it, a blocking read
// waits on the cache, and a failing refresh makes the answer's Age grow.
func TestCachedHealthReadIsRefreshedInBackground(t *testing.T) {
	e, s := cachedEnv(t)
	const path = "/v1/health/service/web?cached"

	first := e.get(path)
	cacheHeaders(t, "first read", first, false, 0)
	if n := entries(t, first); n != 2 {
		t.Fatalf("first read: %d entries, want 2", n)
	}
	waitFor(t, "the background refresh blocks on the catalog", func() bool { return e.fake.Waiters() == 1 })

	second := e.get(path)
	cacheHeaders(t, "second read", second, true, 0)
	if string(second.body) != string(first.body) || second.header.Get("X-Consul-Index") != first.header.Get("X-Consul-Index") {
		t.Errorf("the hit differs from the miss: %s (index %s) vs %s (index %s)",
			second.body, second.header.Get("X-Consul-Index"), first.body, first.header.Get("X-Consul-Index"))
	}
	if got := e.fake.Waiters(); got != 1 {
		t.Errorf("%d reads wait on the catalog after a hit, want the refresh's 1", got)
	}

	// A blocking cached read returns once the cache has the change.
	idx := first.header.Get("X-Consul-Index")
	done := make(chan response, 1)
	go func() {
		r, err := e.fetch(context.Background(), http.MethodGet, path+"&index="+idx+"&wait=10s", "")
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	select {
	case r := <-done:
		t.Fatalf("the blocking read returned before any change: %d %s", r.status, r.body)
	case <-time.After(200 * time.Millisecond):
	}
	registerWeb3(t, e.fake)
	select {
	case r := <-done:
		cacheHeaders(t, "blocking read", r, true, 0)
		if n := entries(t, r); n != 3 {
			t.Errorf("blocking read: %d entries, want 3", n)
		}
		if r.header.Get("X-Consul-Index") == idx {
			t.Errorf("blocking read returned the index it waited past, %s", idx)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the blocking read did not return within 5s of the change")
	}
	if n := entries(t, e.get(path)); n != 3 {
		t.Errorf("a hit after the change: %d entries, want 3", n)
	}

	// While the refresh fails, hits still answer, and Age tells how long
	// the answer has not been known current.
	e.fake.SetError("ServiceHealth", status.Error(codes.Unavailable, "no leader"))
	e.fake.Touch() // the refresh's blocking read returns; its next one fails
	waitFor(t, "the refresh fails", func() bool { return e.fake.Waiters() == 0 })
	time.Sleep(1100 * time.Millisecond)
	stale := e.get(path)
	cacheHeaders(t, "read while the catalog fails", stale, true, 1)
	if n := entries(t, stale); n != 3 {
		t.Errorf("read while the catalog fails: %d entries, want 3", n)
	}
	e.fake.SetError("ServiceHealth", nil)
	waitFor(t, "the refresh recovers", func() bool {
		r := e.get(path)
		return r.header.Get("Age") == "0" && e.fake.Waiters() == 1
	})

	// The wait's parameters are checked as on any read.
	for _, bad := range []string{"&index=abc", "&index=-1", "&index=1&wait=soon"} {
		if r := e.get(path + bad); r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", bad, r.status)
		}
	}

	// ?cached does not mix with ?consistent.
	r := e.get(path + "&consistent")
	r.expect(t, http.StatusBadRequest, "")
	if string(r.body) != "Cannot specify ?cached with ?consistent, conflicting semantics." {
		t.Errorf("?cached&consistent: body %q", r.body)
	}

	// Closing the gateway stops the refresh.
	s.Close()
	waitFor(t, "the refresh stops", func() bool { return e.fake.Waiters() == 0 })
}

// The catalog's service list with ?cached: kept as fetched, served however
// old unless Cache-Control asks for max-age, with stale-if-error honoured
// unless must-revalidate; entries are per token; a blocking read misses.
func TestCachedServiceListIsSimple(t *testing.T) {
	e, _ := cachedEnv(t)
	const path = "/v1/catalog/services?cached"
	names := func(r response) int {
		t.Helper()
		var m map[string][]string
		if err := json.Unmarshal(r.body, &m); err != nil {
			t.Fatalf("body %q: %v", r.body, err)
		}
		return len(m)
	}
	cc := func(v string) []string { return []string{"Cache-Control", v} }

	first := e.get(path)
	cacheHeaders(t, "first read", first, false, 0)
	n := names(first)
	if _, err := e.fake.Register(context.Background(), &catalogv1.RegisterRequest{Node: &catalogv1.Node{Node: "n1"},
		SkipNodeUpdate: true, Service: &catalogv1.Service{Service: "api", Port: 9000}}); err != nil {
		t.Fatal(err)
	}
	hit := e.get(path)
	cacheHeaders(t, "read after a change", hit, true, 0)
	if names(hit) != n {
		t.Errorf("a simple hit saw the change: %d services, want the cached %d", names(hit), n)
	}
	fresh := e.do(http.MethodGet, path, "", cc("max-age=0")...)
	cacheHeaders(t, "max-age=0", fresh, false, 0)
	if names(fresh) != n+1 {
		t.Errorf("max-age=0: %d services, want %d", names(fresh), n+1)
	}
	time.Sleep(1100 * time.Millisecond)
	cacheHeaders(t, "a second later", e.get(path), true, 1)
	cacheHeaders(t, "max-age=30", e.do(http.MethodGet, path, "", cc("max-age=30")...), true, 1)

	e.fake.SetError("ListServices", status.Error(codes.Unavailable, "no leader"))
	if r := e.do(http.MethodGet, path, "", cc("max-age=0")...); r.status < 500 {
		t.Errorf("max-age=0 with the catalog failing: status %d, want an error", r.status)
	}
	cacheHeaders(t, "stale-if-error", e.do(http.MethodGet, path, "", cc("max-age=0, stale-if-error=60")...), true, 1)
	if r := e.do(http.MethodGet, path, "", cc("max-age=0, stale-if-error=60, must-revalidate")...); r.status < 500 {
		t.Errorf("must-revalidate with the catalog failing: status %d, want an error", r.status)
	}
	if r := e.do(http.MethodGet, path, "", cc("max-age=soon")...); r.status != http.StatusBadRequest {
		t.Errorf("max-age=soon: status %d, want 400", r.status)
	}
	e.fake.SetError("ListServices", nil)

	// Another token has its own entry; a blocking read goes to the catalog.
	cacheHeaders(t, "another token", e.do(http.MethodGet, path, "", "X-Consul-Token", "other"), false, 0)
	cacheHeaders(t, "blocking read", e.get(path+"&index=1"), false, 0)
}
