package daemon

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/beaconmesh/beacon/services/dnsgw/view"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus collectors.
type metrics struct {
	queries       *prometheus.CounterVec
	latency       prometheus.Histogram
	invalid       prometheus.Counter
	viewNodes     prometheus.Gauge
	viewInstances prometheus.Gauge
	viewIndex     prometheus.Gauge
	viewUpdates   prometheus.Counter
	catalogErrors prometheus.Counter
	viewAge       prometheus.GaugeFunc

	// counters caches the queries counter of each (qtype, rcode) label
	// pair, keyed by counterKey: a query then costs one lookup, not the
	// label hashing of WithLabelValues.
	counters sync.Map
}

func newMetrics(f *view.Follower) *metrics {
	return &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beacon_dnsgw_queries_total",
			Help: "DNS queries answered, by question type and response code.",
		}, []string{"qtype", "rcode"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "beacon_dnsgw_query_duration_seconds",
			Help:    "Time from reading a DNS query to writing its reply, recursion included.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "beacon_dnsgw_invalid_packets_total",
			Help: "Packets dropped because they did not parse as DNS messages.",
		}),
		viewNodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "beacon_dnsgw_view_nodes",
			Help: "Nodes in the catalog view answers come from.",
		}),
		viewInstances: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "beacon_dnsgw_view_instances",
			Help: "Service instances in the catalog view, critical ones included.",
		}),
		viewIndex: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "beacon_dnsgw_view_index",
			Help: "Catalog index the view reflects.",
		}),
		viewUpdates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "beacon_dnsgw_view_updates_total",
			Help: "Catalog views built and swapped in.",
		}),
		catalogErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "beacon_dnsgw_catalog_errors_total",
			Help: "Failed catalog queries; answers then come from the last view.",
		}),
		viewAge: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "beacon_dnsgw_view_age_seconds",
			Help: "Seconds the view has not been known current: 0 while following the catalog, else the time since the catalog was lost (or since start, before the first view).",
		}, func() float64 { return f.Age().Seconds() }),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.queries, m.latency, m.invalid, m.viewNodes, m.viewInstances, m.viewIndex, m.viewUpdates, m.catalogErrors, m.viewAge}
}

// register adds every collector to r. On failure it removes those it
// added, and only those: a collector of the same name belongs to someone
// else.
func (m *metrics) register(r prometheus.Registerer) error {
	var added []prometheus.Collector
	for _, c := range m.collectors() {
		if err := r.Register(c); err != nil {
			for _, a := range added {
				r.Unregister(a)
			}
			var dup prometheus.AlreadyRegisteredError
			if errors.As(err, &dup) {
				return fmt.Errorf("register dnsgw metrics: one gateway per registry: %w", err)
			}
			return fmt.Errorf("register dnsgw metrics: %w", err)
		}
		added = append(added, c)
	}
	return nil
}

func (m *metrics) unregister(r prometheus.Registerer) {
	for _, c := range m.collectors() {
		r.Unregister(c)
	}
}

func (m *metrics) observe(qtype uint16, rcode int, elapsed time.Duration) {
	key := counterKey(qtype, rcode)
	c, ok := m.counters.Load(key)
	if !ok {
		c, _ = m.counters.LoadOrStore(key, m.queries.WithLabelValues(qtypeLabel(qtype), rcodeLabel(rcode)))
	}
	c.(prometheus.Counter).Inc()
	m.latency.Observe(elapsed.Seconds())
}

func (m *metrics) swapped(v *view.View) {
	m.viewNodes.Set(float64(v.NodeCount()))
	m.viewInstances.Set(float64(v.InstanceCount()))
	m.viewIndex.Set(float64(v.Index()))
	m.viewUpdates.Inc()
}

// counterKey folds the types and codes that share the "other" label into
// one key, so the counter cache stays as small as the label set.
func counterKey(qtype uint16, rcode int) uint32 {
	if qtypeLabel(qtype) == "other" {
		qtype = dns.TypeNone
	}
	if rcodeLabel(rcode) == "other" {
		rcode = 0xFFFF
	}
	return uint32(qtype)<<16 | uint32(uint16(rcode))
}

// qtypeLabel keeps the label's values few: types anyone asks a catalog
// about by name, every other one as "other".
func qtypeLabel(t uint16) string {
	switch t {
	case dns.TypeA, dns.TypeAAAA, dns.TypeANY, dns.TypeCNAME, dns.TypeSRV, dns.TypeTXT,
		dns.TypePTR, dns.TypeSOA, dns.TypeNS, dns.TypeMX, dns.TypeHTTPS, dns.TypeSVCB,
		dns.TypeCAA, dns.TypeDS, dns.TypeDNSKEY, dns.TypeAXFR, dns.TypeIXFR:
		return dns.TypeToString[t]
	}
	return "other"
}

func rcodeLabel(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "other"
}
