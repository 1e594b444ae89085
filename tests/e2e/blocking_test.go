package e2e

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// TestBlockingQueryWakesOnChange measures how long a blocked
// Health().Service query takes to return after a write that changes its
// answer. The figure asserted on runs from the moment the write is sent,
// so it includes the write's own commit; the time from the write's
// response is logged too (it is often negative: the reader wakes when the
// write is applied, before the writer hears back). It runs alone, not in
// parallel, so the figures mean something; the bar is a median of 100 ms.
func TestBlockingQueryWakesOnChange(t *testing.T) {
	a, c := startAgent(t)
	reg := webInstance("n1", "10.0.0.1", "web-1", []string{"v1"}, map[string]string{"round": "0"}, consulapi.HealthPassing)
	register(t, c, reg)
	_, meta, err := c.Health().Service("web", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	idx := meta.LastIndex

	const rounds = 9
	var lat, fromReturn []time.Duration
	for round := 1; round <= rounds; round++ {
		type answer struct {
			at      time.Time
			entries []*consulapi.ServiceEntry
			meta    *consulapi.QueryMeta
			err     error
		}
		got := make(chan answer, 1)
		go func() {
			es, m, err := c.Health().Service("web", "", false, &consulapi.QueryOptions{WaitIndex: idx, WaitTime: 30 * time.Second})
			got <- answer{time.Now(), es, m, err}
		}()
		waitBlocked(t, a, "ServiceHealth", 1)

		reg.Service.Meta = map[string]string{"round": strconv.Itoa(round)}
		sent := time.Now()
		register(t, c, reg)
		written := time.Now()

		var r answer
		select {
		case r = <-got:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: the blocked query did not return within 30s of the write", round)
		}
		if r.err != nil {
			t.Fatalf("round %d: %v", round, r.err)
		}
		lat = append(lat, r.at.Sub(sent))
		fromReturn = append(fromReturn, r.at.Sub(written))
		if r.meta.LastIndex <= idx {
			t.Errorf("round %d: index %d after the write, want > %d", round, r.meta.LastIndex, idx)
		}
		if len(r.entries) != 1 || r.entries[0].Service.Meta["round"] != strconv.Itoa(round) {
			t.Errorf("round %d: the woken query returned %+v, not the write", round, r.entries)
		}
		idx = r.meta.LastIndex
	}
	med := percentile(lat, 50)
	t.Logf("blocking query wake latency from the write being sent, %d rounds: median %s, max %s; all: %s",
		rounds, med.Round(100*time.Microsecond), percentile(lat, 100).Round(100*time.Microsecond), fmtDurations(lat))
	t.Logf("the same from the write's response (negative: woke first): median %s; all: %s",
		percentile(fromReturn, 50).Round(100*time.Microsecond), fmtDurations(fromReturn))
	if med > 100*time.Millisecond {
		t.Errorf("median wake latency %s, want ≤ 100ms", med)
	}
}

// TestBlockingQueryTimesOut checks that a blocking query with nothing to
// wake it returns after its ?wait (plus at most wait/16 of jitter) with the
// same index, and that a write to another service does not wake it.
func TestBlockingQueryTimesOut(t *testing.T) {
	t.Parallel()
	a, c := startAgent(t)
	register(t, c, webInstance("n1", "10.0.0.1", "web-1", nil, nil, consulapi.HealthPassing))
	_, meta, err := c.Health().Service("web", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Long enough that the query is still parked when waitBlocked's
	// metrics poll finds it, even on a loaded machine.
	const wait = 4 * time.Second
	start := time.Now()
	done := make(chan struct{})
	var (
		entries []*consulapi.ServiceEntry
		m2      *consulapi.QueryMeta
		err2    error
	)
	go func() {
		defer close(done)
		entries, m2, err2 = c.Health().Service("web", "", false, &consulapi.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: wait})
	}()
	waitBlocked(t, a, "ServiceHealth", 1)
	// A write to another service: Consul's indexes are per resource, so
	// this must not end the wait early.
	register(t, c, &consulapi.CatalogRegistration{Node: "n2", Address: "10.0.0.2", Service: &consulapi.AgentService{Service: "db", Port: 5432}})
	<-done
	took := time.Since(start)
	if err2 != nil {
		t.Fatal(err2)
	}
	t.Logf("a blocking query with wait=%s and no change returned after %s", wait, took.Round(time.Millisecond))
	if took < wait {
		t.Errorf("returned after %s, before its wait of %s (an unrelated write woke it?)", took, wait)
	}
	if took > wait+wait/16+2*time.Second {
		t.Errorf("returned after %s, well after its wait of %s", took, wait)
	}
	if m2.LastIndex != meta.LastIndex {
		t.Errorf("index %d after a timeout with no change, want the same %d", m2.LastIndex, meta.LastIndex)
	}
	if len(entries) != 1 {
		t.Errorf("the timed-out query returned %d entries, want the 1 it had", len(entries))
	}
}

// TestReadHeaders checks the headers consul/api and consul-template parse
// on every read: X-Consul-Index (never 0), X-Consul-KnownLeader and
// X-Consul-LastContact, and that the client sees them.
func TestReadHeaders(t *testing.T) {
	t.Parallel()
	a, c := startAgent(t)
	register(t, c, webInstance("n1", "10.0.0.1", "web-1", nil, nil, consulapi.HealthPassing))
	base := "http://" + a.HTTPAddr
	for _, path := range []string{
		"/v1/catalog/nodes", "/v1/catalog/services", "/v1/catalog/service/web", "/v1/catalog/node/n1",
		"/v1/health/service/web?passing=1", "/v1/health/state/any", "/v1/health/node/n1", "/v1/health/checks/web",
		"/v1/kv/missing", "/v1/session/list", "/v1/operator/raft/configuration",
		"/v1/catalog/nodes?stale", "/v1/catalog/nodes?consistent",
	} {
		r := do(t, http.MethodGet, base+path, nil)
		if r.status != http.StatusOK && !(r.status == http.StatusNotFound && path == "/v1/kv/missing") {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
			continue
		}
		if idx, err := strconv.ParseUint(r.header.Get("X-Consul-Index"), 10, 64); err != nil || idx == 0 {
			t.Errorf("GET %s: X-Consul-Index %q, want a positive integer", path, r.header.Get("X-Consul-Index"))
		}
		if got := r.header.Get("X-Consul-KnownLeader"); got != "true" {
			t.Errorf("GET %s: X-Consul-KnownLeader %q, want true", path, got)
		}
		if _, err := strconv.ParseUint(r.header.Get("X-Consul-LastContact"), 10, 64); err != nil {
			t.Errorf("GET %s: X-Consul-LastContact %q, want milliseconds", path, r.header.Get("X-Consul-LastContact"))
		}
	}
	_, meta, err := c.Catalog().Nodes(&consulapi.QueryOptions{AllowStale: true})
	if err != nil || meta.LastIndex == 0 || !meta.KnownLeader {
		t.Errorf("consul/api QueryMeta for a stale read = %+v, %v; want an index and KnownLeader", meta, err)
	}
}
