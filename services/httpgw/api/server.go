// Package api serves Consul's HTTP /v1 API over Beacon's catalog: one route
// table (routes.go), one wrapper for methods, JSON and errors (handler.go),
// and a handler per route that makes one or a few gRPC calls through the
// consumer-owned interfaces in backend.go.
package api

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/beaconmesh/beacon/platform/putbatch"
)

// Options configure a Server.
type Options struct {
	// Backend holds the catalog clients; every field must be set.
	Backend Backend
	// Datacenter is the local datacenter: the only one ?dc= may name.
	Datacenter string
	// NodeName is the node the gateway reports in /v1/agent/self and the
	// default node of new sessions.
	NodeName string
	// Logger receives request failures; nil discards them.
	Logger *slog.Logger
	// Gatherer is served at /metrics along with the gateway's own metrics;
	// it may be nil.
	Gatherer prometheus.Gatherer
}

// Server is the /v1 HTTP API. It is an http.Handler.
type Server struct {
	b       Backend
	dc      string
	node    string
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	prom    http.Handler
	batches *batches
	cache   *agentCache
	puts    *putbatch.Batcher
	direct  *Direct // set by Listen, before serving

	// gatherer is opts.Gatherer and the gateway's own metrics, which
	// /metrics and /v1/agent/metrics serve.
	gatherer prometheus.Gatherer
}

// New returns a Server for opts.
func New(opts Options) (*Server, error) {
	b := opts.Backend
	if b.Catalog == nil || b.Health == nil || b.KV == nil || b.Session == nil || b.Txn == nil ||
		b.Status == nil || b.Operator == nil || b.Snapshot == nil {
		return nil, errors.New("api: every Backend client must be set")
	}
	if opts.Datacenter == "" || opts.NodeName == "" {
		return nil, errors.New("api: Datacenter and NodeName must be set")
	}
	s := &Server{
		b:       b,
		dc:      opts.Datacenter,
		node:    opts.NodeName,
		log:     opts.Logger,
		mux:     http.NewServeMux(),
		metrics: newMetrics(),
		batches: newBatches(),
		cache:   newAgentCache(),
		puts:    putbatch.New(b.KV, rpcTimeout),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	gatherers := prometheus.Gatherers{s.metrics.registry}
	if opts.Gatherer != nil {
		gatherers = append(prometheus.Gatherers{opts.Gatherer}, gatherers...)
	}
	s.gatherer = gatherers
	s.prom = promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{ErrorLog: slogPromLogger{s.log}})
	s.register(s.routes())
	return s, nil
}

// ServeHTTP implements http.Handler. Through a listener from Listen, a
// request Direct takes is answered there (see Direct.Take). The check
// adds no call frame: a blocking query parks under this one, and a deeper
// stack would double its goroutine's stack.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.direct != nil && s.direct.Take(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Listen returns ln wrapped for srv, which serves s: the hot paths are
// answered by a Direct, the rest by srv. Call it before srv serves.
func (s *Server) Listen(ln net.Listener, srv *http.Server) *Direct {
	s.direct = NewDirect(ln, srv, s.mux)
	return s.direct
}

// register groups the table's rows by path and gives each path one
// endpoint, so that a wrong method gets Consul's 405 rather than the
// ServeMux's.
func (s *Server) register(table []route) {
	byPath := map[string]*endpoint{}
	var order []string
	for _, rt := range table {
		ep, ok := byPath[rt.path]
		if !ok {
			ep = &endpoint{pattern: rt.path, runs: map[string]func(http.ResponseWriter, *http.Request){}, codes: map[string]codeOverrides{},
				cache: cacheKinds[rt.path]}
			byPath[rt.path] = ep
			order = append(order, rt.path)
		}
		if _, dup := ep.runs[rt.method]; dup {
			panic("api: route " + rt.method + " " + rt.path + " registered twice")
		}
		ep.runs[rt.method] = ep.runner(s, rt.method, rt.handler)
		ep.codes[rt.method] = rt.codes
	}
	for _, path := range order {
		ep := byPath[path]
		methods := make([]string, 0, len(ep.runs))
		for m := range ep.runs {
			methods = append(methods, m)
		}
		slices.Sort(methods)
		ep.allow = strings.Join(methods, ",")
		s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { ep.serve(s, w, r) })
	}
}

// Close stops the background refreshes of cached reads.
func (s *Server) Close() { s.cache.close() }

func (s *Server) observe(route, method string, code int, d time.Duration) {
	s.metrics.observe(route, method, code, d)
}

// slogPromLogger adapts slog to promhttp's error logger.
type slogPromLogger struct{ log *slog.Logger }

func (l slogPromLogger) Println(v ...any) { l.log.Error("metrics", "err", v) }
