package api

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/beaconmesh/beacon/services/httpgw/consuljson"
	"github.com/prometheus/common/expfmt"
)

// promText is the Prometheus text exposition format, and the Content-Type
// Consul documents for /v1/agent/metrics?format=prometheus.
var promText = expfmt.NewFormat(expfmt.TypeTextPlain)

// agentMetrics is GET /v1/agent/metrics: the metrics of this process —
// in `beacon agent -dev`, of every service, which share one registry —
// from the same gatherer as /metrics. Prometheus' text format is served
// for ?format=prometheus or an Accept header a Prometheus scraper sends;
// otherwise go-metrics' JSON summary, which consul/api's Agent().Metrics
// decodes. Like Consul, any other ?format gets the JSON: Consul checks for
// "prometheus" only and rejects no value.
//
// Unlike Consul, the text format needs no prometheus_retention_time:
// Beacon always keeps Prometheus metrics, so there is no 415.
func (s *Server) agentMetrics(w http.ResponseWriter, r *http.Request) (any, error) {
	families, err := s.gatherer.Gather()
	if err != nil {
		// Gather returns what it could alongside the error; partial metrics
		// serve a monitor better than none, as promhttp's ContinueOnError.
		if len(families) == 0 {
			return nil, fmt.Errorf("gather metrics: %w", err)
		}
		s.log.Warn("agent/metrics: some metrics could not be gathered", "err", err)
	}
	if !wantsPrometheus(r) {
		return consuljson.MetricsSummaryFromFamilies(families, time.Now()), nil
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, promText)
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return nil, fmt.Errorf("encode metric family %q: %w", f.GetName(), err)
		}
	}
	return rawReply{contentType: string(promText), body: buf.Bytes()}, nil
}

// wantsPrometheus reports whether r asks for Prometheus' text format:
// ?format=prometheus, or, as Consul has done since 1.7.2 so that a scrape
// config needs no parameter, an Accept header naming OpenMetrics or a
// versioned text/plain (what Prometheus servers send; browsers and curl
// send neither).
func wantsPrometheus(r *http.Request) bool {
	if r.URL.Query().Get("format") == "prometheus" {
		return true
	}
	for _, field := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(field, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || params["q"] == "0" {
				continue
			}
			if mt == "application/openmetrics-text" || (mt == "text/plain" && params["version"] != "") {
				return true
			}
		}
	}
	return false
}
