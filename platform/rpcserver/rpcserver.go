// Package rpcserver builds the gRPC server every Beacon process runs: server
// reflection (for grpcurl), grpc.health.v1, structured request logs, panic
// recovery and Prometheus request metrics, with an optional TLS config.
package rpcserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// Config configures a Server.
type Config struct {
	// Logger receives one line per failed call (successful calls at debug).
	Logger *slog.Logger
	// Registerer receives the grpc_server_* metrics; nil means none.
	Registerer prometheus.Registerer
	// TLS, when set, makes the server speak TLS (mutual when it asks for
	// client certificates).
	TLS *tls.Config
	// Options are appended to the server's options.
	Options []grpc.ServerOption
}

// Server is a grpc.Server with health and reflection registered.
type Server struct {
	*grpc.Server
	// Health reports SERVING for "" and for each service the owner marks.
	Health  *health.Server
	metrics *grpcprom.ServerMetrics
}

// New returns a Server. Register services on it, then call Serve.
func New(cfg Config) *Server {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	metrics := serverMetrics(cfg.Registerer)
	recoverOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "panic in grpc handler", "panic", p)
		return status.Errorf(codes.Internal, "internal error: %v", p)
	})
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(
			metrics.UnaryServerInterceptor(),
			callLog{logger}.unary,
			recovery.UnaryServerInterceptor(recoverOpt),
		),
		grpc.ChainStreamInterceptor(
			metrics.StreamServerInterceptor(),
			callLog{logger}.stream,
			recovery.StreamServerInterceptor(recoverOpt),
		),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	opts = append(opts, cfg.Options...)
	s := grpc.NewServer(opts...)
	h := health.NewServer()
	healthpb.RegisterHealthServer(s, h)
	reflection.Register(s)
	return &Server{Server: s, Health: h, metrics: metrics}
}

// Serve serves on lis until ctx ends, then stops gracefully, cutting off
// calls still running after a grace period (blocking queries would otherwise
// hold shutdown for minutes).
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	s.metrics.InitializeMetrics(s.Server)
	errc := make(chan error, 1)
	go func() { errc <- s.Server.Serve(lis) }()
	select {
	case err := <-errc:
		if err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("grpc serve %s: %w", lis.Addr(), err)
		}
		return nil
	case <-ctx.Done():
	}
	s.Health.Shutdown()
	done := make(chan struct{})
	go func() { s.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		s.Stop()
		<-done
	}
	<-errc
	return nil
}

var (
	metricsMu  sync.Mutex
	metricsFor = map[prometheus.Registerer]*grpcprom.ServerMetrics{}
)

// serverMetrics returns the one ServerMetrics of reg, so that several gRPC
// servers in one process (the dev agent) share one set of series.
func serverMetrics(reg prometheus.Registerer) *grpcprom.ServerMetrics {
	metricsMu.Lock()
	defer metricsMu.Unlock()
	if m, ok := metricsFor[reg]; ok {
		return m
	}
	m := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets([]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 300}),
	))
	if reg != nil {
		reg.MustRegister(m)
	}
	metricsFor[reg] = m
	return m
}
