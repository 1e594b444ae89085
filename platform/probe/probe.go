// Package probe is the health probe every Beacon binary carries for
// container healthchecks (images are FROM scratch: no shell, no curl).
// Each binary's `probe` subcommand is one call to Command with the check
// that fits the process: gRPC health, an HTTP GET, a DNS query or a TCP
// connect.
package probe

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// GRPCContext checks grpc.health.v1 of service ("" for the server) at
// addr, waiting for the connection until ctx ends.
func GRPCContext(ctx context.Context, addr, service string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service}, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("health check %s: %w", addr, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("%s is %s", addr, resp.GetStatus())
	}
	return nil
}
