package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// TestAgentMetrics reads /v1/agent/metrics from the dev agent, whose
// services share one registry: as JSON through the official client's
// Agent().Metrics(), and in Prometheus' text format, as a scrape config
// pointed at ?format=prometheus gets it.
func TestAgentMetrics(t *testing.T) {
	t.Parallel()
	a, c := startAgent(t) // its readiness checks leave gateway request series

	info, err := c.Agent().Metrics()
	if err != nil {
		t.Fatal(err)
	}
	ts, err := time.Parse("2006-01-02 15:04:05 -0700 MST", info.Timestamp)
	if err != nil || time.Since(ts) > time.Minute || ts.After(time.Now()) {
		t.Errorf("Timestamp = %q (%v): want now, in Consul's layout", info.Timestamp, err)
	}
	if info.Points == nil {
		t.Error("Points is null, want []")
	}
	gauge := func(name string) (consulapi.GaugeValue, bool) {
		for _, g := range info.Gauges {
			if g.Name == name {
				return g, true
			}
		}
		return consulapi.GaugeValue{}, false
	}
	// go_goroutines comes from the registry the dev agent shares, and the
	// Raft gauge from the catalog replica: the gateway serves every
	// service's metrics, not only its own.
	if g, ok := gauge("go_goroutines"); !ok || g.Value < 1 || g.Labels == nil {
		t.Errorf("go_goroutines = %+v, %v", g, ok)
	}
	if g, ok := gauge("beacon_catalog_raft_is_leader"); !ok || g.Value != 1 {
		t.Errorf("beacon_catalog_raft_is_leader = %+v, %v; want 1 on the dev agent", g, ok)
	}
	sampled := func(vs []consulapi.SampledValue, name, route string) (consulapi.SampledValue, bool) {
		for _, v := range vs {
			if v.Name == name && v.Labels["route"] == route && v.Labels["method"] == "GET" {
				return v, true
			}
		}
		return consulapi.SampledValue{}, false
	}
	if v, ok := sampled(info.Counters, "beacon_httpgw_requests_total", "/v1/health/service/{name...}"); !ok ||
		v.Count != 1 || v.Sum < 1 || v.Min != v.Sum || v.Max != v.Sum || v.Mean != v.Sum {
		t.Errorf("beacon_httpgw_requests_total for /v1/health/service = %+v, %v", v, ok)
	}
	if v, ok := sampled(info.Samples, "beacon_httpgw_request_duration_seconds", "/v1/health/service/{name...}"); !ok ||
		v.Count < 1 || v.Sum <= 0 || v.Mean != v.Sum/float64(v.Count) {
		t.Errorf("beacon_httpgw_request_duration_seconds for /v1/health/service = %+v, %v", v, ok)
	}

	r := do(t, http.MethodGet, "http://"+a.HTTPAddr+"/v1/agent/metrics?format=prometheus", nil)
	if r.status != http.StatusOK {
		t.Fatalf("?format=prometheus: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("?format=prometheus: Content-Type %q", ct)
	}
	for _, line := range []string{
		"# TYPE go_goroutines gauge",
		"beacon_catalog_raft_is_leader 1",
		"# TYPE beacon_httpgw_requests_total counter",
		`beacon_httpgw_requests_total{code="200",method="GET",route="/v1/agent/metrics"} 1`,
	} {
		if !strings.Contains(r.body, line+"\n") {
			t.Errorf("?format=prometheus: no line %q in:\n%.3000s", line, r.body)
		}
	}
}
