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

	"github.com/beaconmesh/beacon/platform/leaf"
	"github.com/beaconmesh/beacon/platform/rpcclient"
	"github.com/beaconmesh/beacon/platform/token"
	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	"github.com/beaconmesh/beacon/services/proxy/authz"
	"github.com/beaconmesh/beacon/services/proxy/listener"
	"github.com/beaconmesh/beacon/services/proxy/mtls"
	"github.com/beaconmesh/beacon/services/proxy/upstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
)

// startupTimeout bounds the calls that resolve the plan, so that a proxy
// started before its agent or catalog waits for them a while, then fails.
const startupTimeout = 30 * time.Second

// Run runs the proxy described by cfg until ctx ends, then drains its
// listeners and returns. It returns early with an error if the plan
// cannot be resolved or a listener cannot be opened.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	def := DefaultConfig()
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = def.HandshakeTimeout
	}
	if cfg.LocalConnectTimeout <= 0 {
		cfg.LocalConnectTimeout = def.LocalConnectTimeout
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = def.DrainTimeout
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Token != "" {
		ctx = token.With(ctx, cfg.Token)
	}
	out := banner{cfg.Banner}
	out.starting()

	catConn, err := rpcclient.Dial(rpcclient.Config{Addrs: cfg.CatalogAddrs})
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	defer catConn.Close()
	var agent Agent
	if cfg.SidecarFor != "" {
		agentConn, err := rpcclient.Dial(rpcclient.Config{Addrs: []string{cfg.AgentAddr}})
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		defer agentConn.Close()
		agent = agentv1.NewAgentServiceClient(agentConn)
	}
	p, dc, err := resolve(ctx, cfg, agent, catalogv1.NewCatalogServiceClient(catConn))
	if err != nil {
		return err
	}
	out.describe(cfg, p)
	logger = logger.With("service", p.service)

	reg, gather := cfg.Registerer, cfg.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg, gather = r, r
	}
	metrics, err := listener.NewMetrics(reg)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}

	// The watchers outlive the listeners' drain: connections still being
	// dialed need the upstreams' instances.
	wctx, stopWatchers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatchers()
	var watchers sync.WaitGroup
	defer watchers.Wait()
	defer stopWatchers()

	mgr, err := leaf.New(leaf.Config{
		CA:         connectv1.NewCAServiceClient(catConn),
		Service:    p.service,
		Datacenter: dc,
		Logger:     logger.With("component", "leaf"),
	})
	if err != nil {
		return err
	}
	watchers.Go(func() { _ = mgr.Run(wctx) })

	var az *authz.Cache
	if p.public != nil {
		az, err = authz.New(authz.Config{
			Source:  connectv1.NewIntentionServiceClient(catConn),
			Service: p.service,
			Logger:  logger.With("component", "authz"),
		})
		if err != nil {
			return err
		}
		watchers.Go(func() { _ = az.Run(wctx) })
	}
	health := catalogv1.NewHealthServiceClient(catConn)
	ups := make([]*upstream.Upstream, len(p.upstreams))
	for i, u := range p.upstreams {
		dest := u.Service
		ups[i], err = upstream.New(upstream.Config{
			Health:         health,
			Service:        dest,
			ConnectTimeout: u.ConnectTimeout,
			Logger:         logger.With("component", "upstream", "upstream", dest),
			Handshake: func(ctx context.Context, raw net.Conn, _ upstream.Endpoint) (net.Conn, error) {
				return mtls.Client(ctx, mgr, dest, listener.Batching(raw))
			},
		})
		if err != nil {
			return err
		}
		watchers.Go(func() { _ = ups[i].Run(wctx) })
	}

	// Listen only once there is a certificate to present and intentions
	// to apply: the sidecar's TCP check then turns passing when the proxy
	// can actually serve.
	logger.Info("waiting for the leaf certificate and intentions")
	id, err := mgr.Ready(ctx)
	if err != nil {
		return err
	}
	if az != nil {
		if err := az.Ready(ctx); err != nil {
			return err
		}
	}
	logger.Info("leaf certificate ready", "spiffe_id", id.ID.String(), "valid_before", id.ValidBefore.UTC().Format(time.RFC3339))

	var lns []*listener.Listener
	closeAll := func() {
		for _, l := range lns {
			l.Close()
		}
	}
	add := func(name, addr string, prepare listener.Prepare, dial listener.Dial) error {
		nl, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s listener: %w", name, err)
		}
		l, err := listener.New(listener.Config{
			Name: name, Listener: nl, Prepare: prepare, Dial: dial,
			PrepareTimeout: cfg.HandshakeTimeout, DrainTimeout: cfg.DrainTimeout,
			Logger: logger, Metrics: metrics,
		})
		if err != nil {
			nl.Close()
			return err
		}
		lns = append(lns, l)
		return nil
	}
	if p.public != nil {
		if err := add("public", p.public.bind, listener.PublicPrepare(mgr, az), listener.TCPDial(p.public.local, cfg.LocalConnectTimeout)); err != nil {
			closeAll()
			return err
		}
		logger.Info("public listener running", "addr", lns[0].Addr().String(), "local_service", p.public.local)
	}
	for i, u := range p.upstreams {
		if err := add("upstream:"+u.Service, u.BindAddr, nil, ups[i].Dial); err != nil {
			closeAll()
			return err
		}
		logger.Info("upstream listener running", "upstream", u.Service, "addr", lns[len(lns)-1].Addr().String())
	}
	if len(lns) == 0 {
		return errors.New("nothing to proxy: no public listener and no upstream")
	}

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, len(lns)+1)
	var serving sync.WaitGroup
	for _, l := range lns {
		serving.Go(func() {
			if err := l.Serve(sctx); err != nil {
				errc <- err
				stop()
			}
		})
	}
	if cfg.MetricsAddr != "" {
		srv := &http.Server{Addr: cfg.MetricsAddr, Handler: promhttp.HandlerFor(gather, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
		ml, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			stop()
			serving.Wait()
			return fmt.Errorf("metrics listener: %w", err)
		}
		serving.Go(func() { _ = srv.Serve(ml) })
		context.AfterFunc(sctx, func() { srv.Close() })
		logger.Info("metrics listener running", "addr", ml.Addr().String())
	}
	// Every listener was opened above, so connections are accepted (the
	// kernel queues them until Serve takes them): scripts waiting for the
	// ready line may dial at once.
	logger.Info("proxy running")
	out.ready()
	<-sctx.Done()
	logger.Info("proxy stopping: draining connections", "drain_timeout", cfg.DrainTimeout)
	serving.Wait()
	close(errc)
	logger.Info("proxy stopped")
	return errors.Join(collect(errc)...)
}

func collect(ch <-chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}

// resolve builds the plan and finds the datacenter.
func resolve(ctx context.Context, cfg Config, agent Agent, cat catalogv1.CatalogServiceClient) (plan, string, error) {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	wait := grpc.WaitForReady(true)
	var p plan
	dc := cfg.Datacenter
	if cfg.SidecarFor != "" {
		svc, err := findSidecar(ctx, waitingAgent{agent, wait}, cfg.SidecarFor)
		if err != nil {
			return plan{}, "", fmt.Errorf("-sidecar-for %q: %w", cfg.SidecarFor, err)
		}
		if p, err = sidecarPlan(svc); err != nil {
			return plan{}, "", err
		}
		if dc == "" {
			self, err := agent.Self(ctx, &agentv1.SelfRequest{}, wait)
			if err != nil {
				return plan{}, "", fmt.Errorf("agent self: %w", err)
			}
			dc = self.GetConfig().GetDatacenter()
		}
	} else {
		p = plan{service: cfg.Service}
		if cfg.Listen != "" {
			p.public = &publicPlan{bind: cfg.Listen, local: cfg.ServiceAddr}
		}
	}
	p.upstreams = append(p.upstreams, cfg.Upstreams...)
	if dc == "" {
		resp, err := cat.ListDatacenters(ctx, &catalogv1.ListDatacentersRequest{}, wait)
		if err != nil {
			return plan{}, "", fmt.Errorf("catalog datacenters: %w", err)
		}
		if len(resp.GetDatacenters()) == 0 {
			return plan{}, "", errors.New("catalog datacenters: none")
		}
		dc = resp.GetDatacenters()[0]
	}
	return p, dc, nil
}

// waitingAgent adds a call option to every call.
type waitingAgent struct {
	Agent
	opt grpc.CallOption
}

func (a waitingAgent) ListServices(ctx context.Context, in *agentv1.ListServicesRequest, opts ...grpc.CallOption) (*agentv1.ListServicesResponse, error) {
	return a.Agent.ListServices(ctx, in, append(opts, a.opt)...)
}
