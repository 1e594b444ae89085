package listener

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the proxy's connection counters, labelled by listener. A nil
// *Metrics records nothing.
type Metrics struct {
	conns      *prometheus.CounterVec
	active     *prometheus.GaugeVec
	bytesTotal *prometheus.CounterVec
	handshake  *prometheus.CounterVec
	denials    *prometheus.CounterVec
	dials      *prometheus.CounterVec
}

// NewMetrics registers the proxy's metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beacon_proxy_connections_total", Help: "Connections accepted, by listener.",
		}, []string{"listener"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "beacon_proxy_connections_active", Help: "Connections being proxied, by listener.",
		}, []string{"listener"}),
		bytesTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beacon_proxy_bytes_total", Help: "Bytes proxied, by listener and direction (in: from the accepted side).",
		}, []string{"listener", "direction"}),
		handshake: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beacon_proxy_handshake_failures_total", Help: "Accepted connections whose TLS handshake or peer verification failed.",
		}, []string{"listener"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beacon_proxy_authz_denials_total", Help: "Connections denied by intentions.",
		}, []string{"listener"}),
		dials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beacon_proxy_dial_failures_total", Help: "Connections dropped because the other side could not be dialed.",
		}, []string{"listener"}),
	}
	for _, c := range []prometheus.Collector{m.conns, m.active, m.bytesTotal, m.handshake, m.denials, m.dials} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) accepted(name string) {
	if m != nil {
		m.conns.WithLabelValues(name).Inc()
		m.active.WithLabelValues(name).Inc()
	}
}

func (m *Metrics) closed(name string) {
	if m != nil {
		m.active.WithLabelValues(name).Dec()
	}
}

func (m *Metrics) bytes(name string, in, out int64) {
	if m != nil {
		m.bytesTotal.WithLabelValues(name, "in").Add(float64(in))
		m.bytesTotal.WithLabelValues(name, "out").Add(float64(out))
	}
}

func (m *Metrics) handshakeFailed(name string) {
	if m != nil {
		m.handshake.WithLabelValues(name).Inc()
	}
}

func (m *Metrics) denied(name string) {
	if m != nil {
		m.denials.WithLabelValues(name).Inc()
	}
}

func (m *Metrics) dialFailed(name string) {
	if m != nil {
		m.dials.WithLabelValues(name).Inc()
	}
}
