package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/beaconmesh/beacon/platform/rpcclient"
	"github.com/beaconmesh/beacon/platform/token"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/dnsgw/answer"
	"github.com/beaconmesh/beacon/services/dnsgw/recursor"
	"github.com/beaconmesh/beacon/services/dnsgw/view"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
)

// shutdownBudget is how long Run may take to stop once ctx ends.
const shutdownBudget = 5 * time.Second

// Run serves DNS until ctx ends, then stops within 5 seconds and returns
// nil. It returns an error when cfg is invalid, a listener cannot be
// opened, or a server fails while running.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		closeGiven(cfg)
		return err
	}
	base := cfg.Logger
	if base == nil {
		base = slog.New(slog.DiscardHandler)
	}
	logger := base.With("component", "dnsgw")

	conn, err := rpcclient.Dial(rpcclient.Config{Addrs: cfg.CatalogAddrs, TLS: cfg.CatalogTLS})
	if err != nil {
		closeGiven(cfg)
		return fmt.Errorf("dnsgw: %w", err)
	}
	defer conn.Close()

	var m *metrics
	follower := view.NewFollower(view.FollowerConfig{
		Source:  withToken{catalogv1.NewHealthServiceClient(conn), cfg.Token},
		Logger:  base.With("component", "dnsgw.view"),
		MaxWait: cfg.CatalogMaxWait,
		OnSwap:  func(v *view.View) { m.swapped(v) },
		OnError: func(error) { m.catalogErrors.Inc() },
	})
	m = newMetrics(follower)
	gatherer, unregister, err := setUpMetrics(cfg, m)
	if err != nil {
		closeGiven(cfg)
		return err
	}
	defer unregister()

	acfg := answer.Config{
		Domain:         cfg.Domain,
		AltDomain:      cfg.AltDomain,
		Datacenter:     cfg.Datacenter,
		NodeTTL:        cfg.NodeTTL,
		ServiceTTL:     cfg.ServiceTTL,
		OnlyPassing:    cfg.OnlyPassing,
		ARecordLimit:   cfg.ARecordLimit,
		UDPAnswerLimit: cfg.UDPAnswerLimit,
		Views:          follower,
		Observe:        m.observe,
		Logger:         logger,
	}
	if len(cfg.Recursors) > 0 {
		rec, err := recursor.New(cfg.Recursors, cfg.RecursorTimeout)
		if err != nil {
			closeGiven(cfg)
			return fmt.Errorf("dnsgw: %w", err)
		}
		acfg.Recursor = rec
	}
	handler, err := answer.New(acfg)
	if err != nil {
		closeGiven(cfg)
		return fmt.Errorf("dnsgw: %w", err)
	}

	pc, ln, err := listen(cfg)
	if err != nil {
		return err
	}

	// Everything below stops when runCtx ends: on ctx's end, or when a
	// server fails.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errc := make(chan error, 3)

	wg.Go(func() { _ = follower.Run(runCtx) })

	dnsHandler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) { handler.ServeDNSContext(runCtx, w, r) })
	invalid := func([]byte, error) { m.invalid.Inc() }
	udp := &dns.Server{
		PacketConn:     pc,
		Net:            "udp",
		Handler:        dnsHandler,
		UDPSize:        dns.DefaultMsgSize,
		ReadTimeout:    2 * time.Second,
		WriteTimeout:   2 * time.Second,
		MsgAcceptFunc:  answer.Accept,
		MsgInvalidFunc: invalid,
	}
	tcp := &dns.Server{
		Listener:       ln,
		Net:            "tcp",
		Handler:        dnsHandler,
		ReadTimeout:    2 * time.Second,
		WriteTimeout:   2 * time.Second,
		IdleTimeout:    func() time.Duration { return 8 * time.Second },
		MaxTCPQueries:  128,
		MsgAcceptFunc:  answer.Accept,
		MsgInvalidFunc: invalid,
	}
	var started []*dns.Server
	for _, srv := range []*dns.Server{udp, tcp} {
		if err := startServer(srv, &wg, errc); err != nil {
			stop()
			shutdownServers(started, logger)
			closeListeners(srv, udp, tcp)
			wg.Wait()
			return fmt.Errorf("dnsgw: start %s server: %w", srv.Net, err)
		}
		started = append(started, srv)
	}

	var metricsSrv *http.Server
	if cfg.MetricsAddr != "" {
		metricsSrv, err = serveMetrics(cfg.MetricsAddr, gatherer, &wg, errc)
		if err != nil {
			stop()
			shutdownServers(started, logger)
			wg.Wait()
			return fmt.Errorf("dnsgw: %w", err)
		}
	}
	logger.Info("dns gateway listening",
		"udp", pc.LocalAddr().String(), "tcp", ln.Addr().String(),
		"domain", cfg.Domain, "alt_domain", cfg.AltDomain, "datacenter", cfg.Datacenter,
		"catalog", cfg.CatalogAddrs, "recursors", cfg.Recursors)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		logger.Error("dns gateway server failed", "error", runErr)
	}
	stop()

	done := make(chan struct{})
	go func() {
		shutdownServers(started, logger)
		if metricsSrv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), shutdownBudget)
			_ = metricsSrv.Shutdown(sctx)
			cancel()
		}
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(shutdownBudget):
		logger.Warn("dns gateway shutdown took longer than its budget", "budget", shutdownBudget)
	}
	logger.Info("dns gateway stopped")
	return runErr
}

// withToken sends the gateway's ACL token with each catalog call.
type withToken struct {
	view.Source
	token string
}

func (w withToken) ListServiceHealth(ctx context.Context, req *catalogv1.ListServiceHealthRequest, opts ...grpc.CallOption) (*catalogv1.ListServiceHealthResponse, error) {
	return w.Source.ListServiceHealth(token.With(ctx, w.token), req, opts...)
}

// startServer runs srv in the background and waits until it serves.
func startServer(srv *dns.Server, wg *sync.WaitGroup, errc chan<- error) error {
	up := make(chan struct{})
	failed := make(chan error, 1)
	srv.NotifyStartedFunc = func() { close(up) }
	wg.Go(func() {
		err := srv.ActivateAndServe()
		select {
		case <-up:
			// Shutdown makes ActivateAndServe return nil; anything else
			// is a failure while serving.
			if err != nil {
				errc <- fmt.Errorf("%s server: %w", srv.Net, err)
			}
		default:
			failed <- err
		}
	})
	select {
	case <-up:
		return nil
	case err := <-failed:
		if err == nil {
			err = errors.New("stopped before serving")
		}
		return err
	}
}

func shutdownServers(servers []*dns.Server, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownBudget)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Go(func() {
			if err := srv.ShutdownContext(ctx); err != nil {
				logger.Warn("stop dns server", "net", srv.Net, "error", err)
			}
		})
	}
	wg.Wait()
}

// closeListeners closes the sockets of servers that never started.
func closeListeners(failed *dns.Server, udp, tcp *dns.Server) {
	if failed == udp {
		_ = udp.PacketConn.Close()
		_ = tcp.Listener.Close()
		return
	}
	_ = tcp.Listener.Close()
}

// listen returns the UDP and TCP sockets: the ones given, else new ones on
// Addr. With port 0 and neither given, both get the same port.
func listen(cfg Config) (net.PacketConn, net.Listener, error) {
	pc, ln := cfg.UDPConn, cfg.TCPListener
	if pc != nil && ln != nil {
		return pc, ln, nil
	}
	fail := func(err error) (net.PacketConn, net.Listener, error) {
		closeGiven(cfg)
		return nil, nil, fmt.Errorf("dnsgw: %w", err)
	}
	if pc == nil && ln == nil {
		_, port, _ := net.SplitHostPort(cfg.Addr)
		tries := 1
		if port == "0" {
			tries = 10
		}
		var err error
		for range tries {
			pc, ln, err = listenPair(cfg.Addr)
			if err == nil {
				return pc, ln, nil
			}
		}
		return fail(err)
	}
	if pc == nil {
		p, err := net.ListenPacket("udp", cfg.Addr)
		if err != nil {
			return fail(fmt.Errorf("listen udp %s: %w", cfg.Addr, err))
		}
		return p, ln, nil
	}
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fail(fmt.Errorf("listen tcp %s: %w", cfg.Addr, err))
	}
	return pc, l, nil
}

func listenPair(addr string) (net.PacketConn, net.Listener, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	_, port, _ := net.SplitHostPort(pc.LocalAddr().String())
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		pc.Close()
		return nil, nil, fmt.Errorf("listen tcp %s: %w", net.JoinHostPort(host, port), err)
	}
	return pc, ln, nil
}

func closeGiven(cfg Config) {
	if cfg.UDPConn != nil {
		_ = cfg.UDPConn.Close()
	}
	if cfg.TCPListener != nil {
		_ = cfg.TCPListener.Close()
	}
}

// setUpMetrics registers m where cfg says and picks what /metrics serves.
// The returned function unregisters, so a later Run on the same registry
// (a restarted dev agent) can register again.
func setUpMetrics(cfg Config, m *metrics) (prometheus.Gatherer, func(), error) {
	var regs []prometheus.Registerer
	var gatherer prometheus.Gatherer
	if cfg.Registerer != nil {
		regs = append(regs, cfg.Registerer)
		gatherer, _ = cfg.Registerer.(prometheus.Gatherer)
	}
	if cfg.MetricsAddr != "" && gatherer == nil {
		own := prometheus.NewRegistry()
		regs = append(regs, own)
		gatherer = own
	}
	var done []prometheus.Registerer
	unregister := func() {
		for _, r := range done {
			m.unregister(r)
		}
	}
	for _, r := range regs {
		if err := m.register(r); err != nil {
			unregister()
			return nil, nil, fmt.Errorf("dnsgw: %w", err)
		}
		done = append(done, r)
	}
	return gatherer, unregister, nil
}

func serveMetrics(addr string, g prometheus.Gatherer, wg *sync.WaitGroup, errc chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("metrics server: %w", err)
		}
	})
	return srv, nil
}
