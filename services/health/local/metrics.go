package local

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	writes     *prometheus.CounterVec
	suppressed prometheus.Counter
	syncs      *prometheus.CounterVec
	syncErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beacon_health_catalog_writes_total",
			Help: "Catalog writes made by the agent, by operation (register, deregister).",
		}, []string{"op"}),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "beacon_health_check_results_unchanged_total",
			Help: "Check results that repeated the previous one and cost no write.",
		}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beacon_health_syncs_total",
			Help: "Syncs with the catalog, by kind (changes, full).",
		}, []string{"kind"}),
		syncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "beacon_health_sync_errors_total",
			Help: "Syncs with the catalog that failed and will be retried.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.writes, err = register(reg, m.writes)
	if err != nil {
		return nil, err
	}
	if m.suppressed, err = register(reg, m.suppressed); err != nil {
		return nil, err
	}
	if m.syncs, err = register(reg, m.syncs); err != nil {
		return nil, err
	}
	if m.syncErrors, err = register(reg, m.syncErrors); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered
// under its name (a process that runs the agent twice, such as tests).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register metrics: %w", err)
	}
	return c, nil
}
