package rpcserver

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/rpcclient"
	"github.com/beaconmesh/beacon/platform/token"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// tokenEcho is a health server that reports the caller's token in its
// error, so a test can see the token cross the wire.
type tokenEcho struct {
	healthpb.UnimplementedHealthServer
}

func (tokenEcho) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return nil, status.Error(codes.PermissionDenied, "token="+token.From(ctx))
}

func serve(t *testing.T, reg prometheus.Registerer, register func(*grpc.Server)) (addr string, srv *Server) {
	t.Helper()
	srv = New(Config{Registerer: reg})
	if register != nil {
		register(srv.Server)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(5 * time.Second):
			t.Error("server did not stop within 5s")
		}
	})
	return ln.Addr().String(), srv
}

func TestServerHasHealthReflectionAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	addr, srv := serve(t, reg, nil)
	srv.Health.SetServingStatus("beacon.test.v1.Thing", healthpb.HealthCheckResponse_SERVING)

	conn, err := rpcclient.Dial(rpcclient.Config{Addrs: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "beacon.test.v1.Thing"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", resp, err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	got, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range got.GetListServicesResponse().GetService() {
		names[s.GetName()] = true
	}
	if !names["grpc.health.v1.Health"] || !names["grpc.reflection.v1.ServerReflection"] {
		t.Errorf("reflection lists %v", names)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "grpc_server_handled_total" {
			found = true
		}
	}
	if !found {
		t.Error("grpc_server_handled_total is not registered")
	}
}

func TestTokenCrossesTheWire(t *testing.T) {
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, tokenEcho{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	conn, err := rpcclient.Dial(rpcclient.Config{Addrs: []string{ln.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(token.With(context.Background(), "s3cret"), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Convert(err).Message() != "token=s3cret" {
		t.Fatalf("token did not arrive: %v", err)
	}
}

func TestSharedMetricsPerRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	// Two servers on one registry (the dev agent) must not collide.
	New(Config{Registerer: reg})
	New(Config{Registerer: reg})
}
