package api_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/rpcclient"
	"github.com/beaconmesh/beacon/services/httpgw/api"
	"github.com/beaconmesh/beacon/services/httpgw/consuljson"
	"github.com/beaconmesh/beacon/services/httpgw/internal/fakecatalog"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// newMetricsEnv is newEnv with g as the process' gatherer.
func newMetricsEnv(t *testing.T, g prometheus.Gatherer) *env {
	t.Helper()
	f := fakecatalog.New()
	conn, err := rpcclient.Dial(rpcclient.Config{Addrs: []string{fakecatalog.Start(t, f)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	s, err := api.New(api.Options{Backend: api.NewBackend(conn), Datacenter: "dc1", NodeName: "gw-node",
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Gatherer: g})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &env{t: t, fake: f, url: hs.URL, client: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
}

// testRegistry holds one metric of each kind, with known values, and two
// gauges JSON cannot carry.
func testRegistry(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	depth := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "test_queue_depth", Help: "h"}, []string{"queue"})
	depth.WithLabelValues("a").Set(3)
	events := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_events_total", Help: "h"}, []string{"kind"})
	events.WithLabelValues("x").Add(25)
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "test_latency_seconds", Help: "h"})
	latency.Observe(0.5)
	latency.Observe(1.5)
	size := prometheus.NewSummary(prometheus.SummaryOpts{Name: "test_size_bytes", Help: "h"})
	size.Observe(10)
	size.Observe(30)
	idle := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "test_idle_seconds", Help: "h"})
	reg.MustRegister(depth, events, latency, size, idle,
		prometheus.NewUntypedFunc(prometheus.UntypedOpts{Name: "test_untyped", Help: "h"}, func() float64 { return 7 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "test_nan", Help: "h"}, math.NaN),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "test_too_wide", Help: "h"}, func() float64 { return 1e39 }))
	return reg
}

func TestAgentMetricsJSON(t *testing.T) {
	e := newMetricsEnv(t, testRegistry(t))
	e.get("/v1/agent/self") // so that the gateway's own metrics have a series

	before := time.Now().Truncate(time.Second)
	r := e.get("/v1/agent/metrics")
	r.expect(t, 200, "")
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var got consuljson.MetricsSummary
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	ts, err := time.Parse("2006-01-02 15:04:05 -0700 MST", got.Timestamp)
	if err != nil || ts.Before(before) || ts.After(time.Now()) || !strings.HasSuffix(got.Timestamp, " +0000 UTC") {
		t.Errorf("Timestamp = %q (%v): want this second in Consul's layout", got.Timestamp, err)
	}

	noLabels := map[string]string{}
	want := consuljson.MetricsSummary{
		Timestamp: got.Timestamp,
		Gauges: []consuljson.GaugeValue{
			{Name: "test_queue_depth", Value: 3, Labels: map[string]string{"queue": "a"}},
			{Name: "test_untyped", Value: 7, Labels: noLabels},
		},
		Points: []consuljson.PointValue{},
		Counters: []consuljson.SampledValue{
			{Name: "test_events_total", Count: 1, Rate: 2.5, Sum: 25, Min: 25, Max: 25, Mean: 25, Labels: map[string]string{"kind": "x"}},
		},
		Samples: []consuljson.SampledValue{
			{Name: "test_idle_seconds", Labels: noLabels},
			{Name: "test_latency_seconds", Count: 2, Rate: 0.2, Sum: 2, Mean: 1, Labels: noLabels},
			{Name: "test_size_bytes", Count: 2, Rate: 4, Sum: 40, Mean: 20, Labels: noLabels},
		},
	}
	ours := onlyPrefix(got, "test_")
	if d := cmp.Diff(want, ours); d != "" {
		t.Errorf("summary (-want +got):\n%s", d)
	}

	// The gateway's own metrics are there too, and the empty lists and
	// label sets are written as Consul writes them.
	if !hasSampled(got.Counters, "beacon_httpgw_requests_total", map[string]string{"route": "/v1/agent/self", "method": "GET", "code": "200"}) {
		t.Errorf("no beacon_httpgw_requests_total for /v1/agent/self in %+v", got.Counters)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	if string(raw["Points"]) != "[]" {
		t.Errorf("Points = %s, want []", raw["Points"])
	}
	if !strings.Contains(string(r.body), `{"Name":"test_untyped","Value":7,"Labels":{}}`) {
		t.Errorf("body lacks the untyped gauge with empty Labels: %s", r.body)
	}

	// The official client decodes it.
	info, err := newConsulClient(t, e).Agent().Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if info.Timestamp == "" || len(info.Gauges) < 2 || len(info.Counters) < 2 || len(info.Samples) < 3 || info.Points == nil {
		t.Errorf("Agent().Metrics() = %+v", info)
	}
}

// onlyPrefix is s with only the series whose names start with prefix.
func onlyPrefix(s consuljson.MetricsSummary, prefix string) consuljson.MetricsSummary {
	out := s
	out.Gauges, out.Counters, out.Samples = nil, nil, nil
	for _, g := range s.Gauges {
		if strings.HasPrefix(g.Name, prefix) {
			out.Gauges = append(out.Gauges, g)
		}
	}
	keep := func(in []consuljson.SampledValue) []consuljson.SampledValue {
		var kept []consuljson.SampledValue
		for _, v := range in {
			if strings.HasPrefix(v.Name, prefix) {
				kept = append(kept, v)
			}
		}
		return kept
	}
	out.Counters, out.Samples = keep(s.Counters), keep(s.Samples)
	return out
}

func hasSampled(vs []consuljson.SampledValue, name string, labels map[string]string) bool {
	for _, v := range vs {
		if v.Name == name && cmp.Equal(v.Labels, labels) {
			return true
		}
	}
	return false
}

func TestAgentMetricsPrometheus(t *testing.T) {
	e := newMetricsEnv(t, testRegistry(t))
	e.get("/v1/agent/self") // so that the gateway's own metrics have a series
	const textFormat = "text/plain; version=0.0.4; charset=utf-8"
	for _, tt := range []struct {
		name, path, accept string
		prom               bool
	}{
		{"format", "/v1/agent/metrics?format=prometheus", "", true},
		{"format wins over Accept", "/v1/agent/metrics?format=prometheus", "application/json", true},
		{"OpenMetrics Accept", "/v1/agent/metrics", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", true},
		{"versioned text Accept", "/v1/agent/metrics", "text/plain;version=0.0.4;q=1,*/*;q=0.1", true},
		{"refused OpenMetrics", "/v1/agent/metrics", "application/openmetrics-text;q=0", false},
		{"curl", "/v1/agent/metrics", "*/*", false},
		{"browser", "/v1/agent/metrics", "text/html,application/xhtml+xml,*/*;q=0.8", false},
		// Consul looks for format=prometheus only; any other value gets
		// the JSON rather than an error.
		{"other format", "/v1/agent/metrics?format=json", "", false},
		{"format is case-sensitive", "/v1/agent/metrics?format=Prometheus", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.accept != "" {
				hdr = []string{"Accept", tt.accept}
			}
			r := e.do(http.MethodGet, tt.path, "", hdr...)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			ct := r.header.Get("Content-Type")
			if !tt.prom {
				if ct != "application/json" || !json.Valid(r.body) {
					t.Fatalf("Content-Type %q, body %.200q: want the JSON summary", ct, r.body)
				}
				return
			}
			if ct != textFormat {
				t.Errorf("Content-Type = %q, want %q", ct, textFormat)
			}
			for _, line := range []string{
				"# TYPE test_events_total counter",
				`test_events_total{kind="x"} 25`,
				`test_queue_depth{queue="a"} 3`,
				"test_latency_seconds_count 2",
				`test_latency_seconds_bucket{le="+Inf"} 2`,
				"test_size_bytes_sum 40",
				"test_nan NaN", // the text format carries what JSON cannot
				"# TYPE beacon_httpgw_requests_total counter",
			} {
				if !strings.Contains(string(r.body), line+"\n") {
					t.Errorf("no line %q in:\n%s", line, r.body)
				}
			}
		})
	}

	// Large answers are gzipped for clients that accept it.
	r := e.do(http.MethodGet, "/v1/agent/metrics?format=prometheus", "", "Accept-Encoding", "gzip")
	if r.status != 200 || r.header.Get("Content-Encoding") != "gzip" {
		t.Errorf("gzip: %d, Content-Encoding %q", r.status, r.header.Get("Content-Encoding"))
	}
	r = e.do(http.MethodPut, "/v1/agent/metrics", "")
	r.expectText(t, 405, "method PUT not allowed")
	if allow := r.header.Get("Allow"); allow != "GET" {
		t.Errorf("Allow = %q", allow)
	}
}

// failingGatherer returns families, if any, along with an error, as a
// Gatherer does when some of its collectors fail.
type failingGatherer struct{ families []*dto.MetricFamily }

func (g failingGatherer) Gather() ([]*dto.MetricFamily, error) {
	return g.families, errors.New("collector exploded")
}

func TestAgentMetricsGatherErrors(t *testing.T) {
	e := newMetricsEnv(t, failingGatherer{})
	// The first request finds nothing at all to serve, not even the
	// gateway's own metrics, which only have series once a request ends:
	// a 500 naming the failure.
	e.get("/v1/agent/metrics").expectText(t, 500, "collector exploded")
	// Afterwards the gateway's own families gather, and partial metrics
	// are served rather than none.
	e.get("/v1/agent/metrics").expect(t, 200, "")
	e.get("/v1/agent/metrics?format=prometheus").expectText(t, 200, `beacon_httpgw_requests_total{code="500",method="GET",route="/v1/agent/metrics"} 1`)
}
