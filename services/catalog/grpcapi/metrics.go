package grpcapi

import (
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	applySeconds  prometheus.Histogram
	leaderChanges prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, s *Server) *metrics {
	m := &metrics{
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "beacon_catalog_raft_apply_seconds",
			Help:    "Time from submitting a write to Raft until the FSM applied it on the leader.",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "beacon_catalog_raft_leader_changes_total",
			Help: "Leader changes this replica observed.",
		}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.applySeconds, m.leaderChanges,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "beacon_catalog_raft_commit_index", Help: "The last Raft index this replica applied."},
			func() float64 { return float64(s.node.Raft.AppliedIndex()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "beacon_catalog_raft_last_index", Help: "The last Raft index in this replica's log."},
			func() float64 { return float64(s.node.Raft.LastIndex()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "beacon_catalog_raft_is_leader", Help: "1 if this replica is the Raft leader."},
			func() float64 {
				if s.node.Raft.State() == raft.Leader {
					return 1
				}
				return 0
			}),
		&tableSizes{s: s, desc: prometheus.NewDesc("beacon_catalog_state_objects", "Objects in each state-store table.", []string{"table"}, nil)},
	)
	return m
}

// tableSizes reports the state store's table sizes at scrape time.
type tableSizes struct {
	s    *Server
	desc *prometheus.Desc
}

func (t *tableSizes) Describe(ch chan<- *prometheus.Desc) { ch <- t.desc }

func (t *tableSizes) Collect(ch chan<- prometheus.Metric) {
	for table, n := range t.s.fsm.State().TableSizes() {
		ch <- prometheus.MustNewConstMetric(t.desc, prometheus.GaugeValue, float64(n), table)
	}
}
