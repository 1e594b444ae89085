package api

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's own request metrics. They live in a registry of
// the Server's, so that several gateways in one process (tests, the dev
// agent) never register the same collector twice.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// series caches the collectors of each (route, method, code), so a
	// request costs one map lookup rather than hashing its labels twice.
	series sync.Map // seriesKey → series
}

type seriesKey struct {
	route, method string
	code          int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beacon_httpgw_requests_total",
			Help: "HTTP API requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "beacon_httpgw_request_duration_seconds",
			Help:    "Time to answer HTTP API requests, blocking queries included.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30, 60, 300, 660},
		}, []string{"route", "method"}),
	}
	m.registry.MustRegister(m.requests, m.duration)
	return m
}

func (m *metrics) observe(route, method string, code int, d time.Duration) {
	switch method {
	case "GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS":
	default:
		method = "other" // keep label values bounded
	}
	if code < 100 || code > 999 {
		code = 0 // keep label values bounded
	}
	key := seriesKey{route, method, code}
	v, ok := m.series.Load(key)
	if !ok {
		v, _ = m.series.LoadOrStore(key, series{
			requests: m.requests.WithLabelValues(route, method, strconv.Itoa(code)),
			duration: m.duration.WithLabelValues(route, method),
		})
	}
	ser := v.(series)
	ser.requests.Inc()
	ser.duration.Observe(d.Seconds())
}
