// Package daemon runs the HTTP gateway: it dials the catalog and the node
// agent, serves the /v1 API of package api on an HTTP listener, and shuts
// down when its context ends. The beacon-httpgw binary and `beacon agent
// -dev` both call Run with a Config; there is no other way to start the
// gateway.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/beaconmesh/beacon/platform/rpcclient"
	"github.com/beaconmesh/beacon/services/httpgw/api"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// HTTP server limits. The write timeout outlasts the longest blocking query
// (10 minutes plus up to 1/16 of jitter), with room to write the answer.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 2 * time.Minute
	writeTimeout      = api.MaxBlockingTime + time.Minute
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 1 << 20
	// shutdownTimeout bounds how long Run waits for requests in flight once
	// its context ends.
	shutdownTimeout = 5 * time.Second
)

// Config configures the gateway.
type Config struct {
	// Addr is the TCP address to listen on (default 127.0.0.1:8500).
	Addr string
	// Listener, when set, is used instead of listening on Addr. Run closes it.
	Listener net.Listener
	// CatalogAddrs are the gRPC addresses of the catalog replicas
	// (default 127.0.0.1:8502).
	CatalogAddrs []string
	// AgentAddr is the gRPC address of the node agent that serves
	// /v1/agent/* (default 127.0.0.1:8503). Empty means none: those routes
	// answer 503, except /v1/agent/self, which answers from the catalog.
	AgentAddr string
	// Datacenter is the local datacenter (default dc1).
	Datacenter string
	// NodeName is the node the gateway speaks for: the default node of new
	// sessions and the name in /v1/agent/self (default: the host name).
	NodeName string
	// Logger receives the gateway's logs; nil discards them.
	Logger *slog.Logger
	// Gatherer is served at /metrics with the gateway's own metrics; it may
	// be nil.
	Gatherer prometheus.Gatherer
}

// DefaultConfig returns Consul's defaults.
func DefaultConfig() Config {
	node, err := os.Hostname()
	if err != nil || node == "" {
		node = "beacon"
	}
	return Config{
		Addr:         "127.0.0.1:8500",
		CatalogAddrs: []string{"127.0.0.1:8502"},
		AgentAddr:    "127.0.0.1:8503",
		Datacenter:   "dc1",
		NodeName:     node,
	}
}

// datacenterName is what Consul accepts as a datacenter name.
var datacenterName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// Validate reports the first thing wrong with c.
func (c Config) Validate() error {
	if c.Listener == nil {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			return fmt.Errorf("httpgw: http address %q: %w", c.Addr, err)
		}
	}
	if len(c.CatalogAddrs) == 0 {
		return errors.New("httpgw: no catalog address")
	}
	for _, a := range c.CatalogAddrs {
		if _, _, err := net.SplitHostPort(strings.TrimSpace(a)); err != nil {
			return fmt.Errorf("httpgw: catalog address %q: %w", a, err)
		}
	}
	if c.AgentAddr != "" {
		if _, _, err := net.SplitHostPort(c.AgentAddr); err != nil {
			return fmt.Errorf("httpgw: agent address %q: %w", c.AgentAddr, err)
		}
	}
	if !datacenterName.MatchString(c.Datacenter) {
		return fmt.Errorf("httpgw: datacenter %q: want letters, digits, '-' or '_'", c.Datacenter)
	}
	if strings.TrimSpace(c.NodeName) == "" {
		return errors.New("httpgw: empty node name")
	}
	return nil
}

// Run serves the HTTP API until ctx ends, then shuts down within 5 seconds:
// requests in flight, blocking queries included, are ended with a 503. A
// Listener in cfg is closed when Run returns, whatever happens.
func Run(ctx context.Context, cfg Config) error {
	srv, ln, cleanup, err := setup(cfg)
	if err != nil {
		if cfg.Listener != nil {
			_ = cfg.Listener.Close()
		}
		return err
	}
	defer cleanup()
	log := srv.log

	log.Info("serving the HTTP API", "addr", ln.Addr().String(), "catalog", cfg.CatalogAddrs,
		"agent", cfg.AgentAddr, "datacenter", cfg.Datacenter, "node", cfg.NodeName)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("httpgw: serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	// Ending every request's context first makes blocking queries return
	// at once instead of holding Shutdown for up to 10 minutes.
	srv.stop(api.ErrShuttingDown)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	// The connections the direct path holds are not net/http's to wait
	// for; past the deadline, Wait closes them.
	if werr := srv.direct.Wait(sctx); err == nil {
		err = werr
	}
	if err != nil {
		_ = srv.Close()
		log.Warn("forced shutdown", "err", err)
	}
	<-served
	return nil
}

// server is the http.Server with what Run needs to stop it.
type server struct {
	*http.Server
	log    *slog.Logger
	stop   context.CancelCauseFunc
	direct *api.Direct
}

// setup validates cfg, dials the catalog and the node agent, builds the handler and opens the
// listener. cleanup releases what it made.
func setup(cfg Config) (_ *server, _ net.Listener, cleanup func(), err error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "httpgw")

	conn, err := rpcclient.Dial(rpcclient.Config{Addrs: cfg.CatalogAddrs})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("httpgw: dial catalog: %w", err)
	}
	defer func() {
		if err != nil {
			_ = conn.Close()
		}
	}()
	backend := api.NewBackend(conn)
	var agentConn *grpc.ClientConn
	if cfg.AgentAddr != "" {
		if agentConn, err = rpcclient.Dial(rpcclient.Config{Addrs: []string{cfg.AgentAddr}}); err != nil {
			return nil, nil, nil, fmt.Errorf("httpgw: dial node agent: %w", err)
		}
		defer func() {
			if err != nil {
				_ = agentConn.Close()
			}
		}()
		backend.Agent = api.NewAgentClient(agentConn)
	}
	handler, err := api.New(api.Options{
		Backend:    backend,
		Datacenter: cfg.Datacenter,
		NodeName:   cfg.NodeName,
		Logger:     log,
		Gatherer:   cfg.Gatherer,
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("httpgw: %w", err)
	}
	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, nil, nil, fmt.Errorf("httpgw: listen: %w", err)
		}
	}

	// Every request's context derives from base, so that Run can end them
	// all on shutdown.
	base, stop := context.WithCancelCause(context.Background())
	srv := &server{
		Server: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			BaseContext:       func(net.Listener) context.Context { return base },
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		log:  log,
		stop: stop,
	}
	// Simple requests on the hot paths are answered by the Direct the
	// handler makes, the rest by net/http.
	direct := handler.Listen(ln, srv.Server)
	srv.direct, ln = direct, direct
	cleanup = func() {
		stop(nil)
		handler.Close()
		_ = ln.Close()
		_ = conn.Close()
		if agentConn != nil {
			_ = agentConn.Close()
		}
	}
	return srv, ln, cleanup, nil
}
