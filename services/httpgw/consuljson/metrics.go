package consuljson

import (
	"math"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// MetricsInterval is the aggregation interval of Consul's in-memory
// metrics: the rates in /v1/agent/metrics are per second over it.
const MetricsInterval = 10 * time.Second

// metricsTimeLayout is how Consul writes the Timestamp of
// /v1/agent/metrics: time.Time.String of a whole second, in UTC.
const metricsTimeLayout = "2006-01-02 15:04:05 -0700 MST"

// MetricsSummary is /v1/agent/metrics: go-metrics' in-memory summary,
// which consul/api decodes into its MetricsInfo.
type MetricsSummary struct {
	Timestamp string
	Gauges    []GaugeValue
	Points    []PointValue
	Counters  []SampledValue
	Samples   []SampledValue
}

// GaugeValue is one gauge. Value is a float32, as in go-metrics and in
// consul/api, which would fail to decode anything wider.
type GaugeValue struct {
	Name   string
	Value  float32
	Labels map[string]string
}

// PointValue is a named series of points. Beacon has none; the type is
// here so that Points has its shape.
type PointValue struct {
	Name   string
	Points []float32
}

// SampledValue is one counter or sample aggregated over an interval.
type SampledValue struct {
	Name   string
	Count  int
	Rate   float64
	Sum    float64
	Min    float64
	Max    float64
	Mean   float64
	Stddev float64
	Labels map[string]string
}

// MetricsSummaryFromFamilies converts gathered Prometheus families, taken
// at now, into Consul's summary. Gauges (and untyped metrics) become
// Gauges; counters, Counters; histograms and summaries, Samples. Series
// whose values JSON cannot carry (NaN, ±Inf, or a gauge beyond float32)
// are left out, since one of them would make the whole answer unencodable.
// The order is the families' own: by name, then by labels.
func MetricsSummaryFromFamilies(families []*dto.MetricFamily, now time.Time) MetricsSummary {
	out := MetricsSummary{
		Timestamp: now.Truncate(time.Second).UTC().Format(metricsTimeLayout),
		Gauges:    []GaugeValue{},
		Points:    []PointValue{},
		Counters:  []SampledValue{},
		Samples:   []SampledValue{},
	}
	perSecond := MetricsInterval.Seconds()
	for _, f := range families {
		name := f.GetName()
		for _, m := range f.GetMetric() {
			labels := metricLabels(m)
			switch f.GetType() {
			case dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
				v := m.GetGauge().GetValue()
				if f.GetType() == dto.MetricType_UNTYPED {
					v = m.GetUntyped().GetValue()
				}
				if g := float32(v); finite(float64(g)) {
					out.Gauges = append(out.Gauges, GaugeValue{Name: name, Value: g, Labels: labels})
				}
			case dto.MetricType_COUNTER:
				// A Prometheus counter is a running total since the process
				// started, while a go-metrics counter sums the increments of
				// one 10 s interval, and no interval's worth is known here
				// without keeping state between requests. The closest honest
				// mapping is the total as one sample: Count 1, every statistic
				// the total, Stddev 0, and the rate go-metrics would report had
				// the whole total arrived within one interval.
				v := m.GetCounter().GetValue()
				if finite(v) {
					out.Counters = append(out.Counters, SampledValue{
						Name: name, Count: 1, Rate: v / perSecond,
						Sum: v, Min: v, Max: v, Mean: v, Labels: labels,
					})
				}
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				if s, ok := sampled(name, labels, h.GetSampleCount(), h.GetSampleSum(), perSecond); ok {
					out.Samples = append(out.Samples, s)
				}
			case dto.MetricType_SUMMARY:
				sm := m.GetSummary()
				if s, ok := sampled(name, labels, sm.GetSampleCount(), sm.GetSampleSum(), perSecond); ok {
					out.Samples = append(out.Samples, s)
				}
			}
		}
	}
	return out
}

// sampled is a histogram or summary as a sample: its count and sum are
// known, its extremes and spread are not, so Min, Max and Stddev are 0.
func sampled(name string, labels map[string]string, count uint64, sum, perSecond float64) (SampledValue, bool) {
	if !finite(sum) || count > math.MaxInt {
		return SampledValue{}, false
	}
	s := SampledValue{Name: name, Count: int(count), Rate: sum / perSecond, Sum: sum, Labels: labels}
	if count > 0 {
		s.Mean = sum / float64(count)
	}
	return s, true
}

// metricLabels is m's labels as a map, never nil: Consul writes {}.
func metricLabels(m *dto.Metric) map[string]string {
	labels := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	return labels
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
