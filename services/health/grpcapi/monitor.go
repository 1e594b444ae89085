package grpcapi

import (
	"fmt"
	"strings"

	"github.com/beaconmesh/beacon/platform/logging"
	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// monitorBuffer is how many lines a slow monitor may fall behind before
// lines are dropped (Consul's monitor keeps 512).
const monitorBuffer = 512

// Monitor streams the agent's log lines at the requested level and above
// until the caller cancels. Lines a slow caller could not take are
// dropped, and it is told how many, as Consul's monitor does.
func (s *Server) Monitor(req *agentv1.MonitorRequest, stream grpc.ServerStreamingServer[agentv1.MonitorResponse]) error {
	if s.logs == nil {
		return status.Error(codes.Unimplemented, "this agent does not stream its logs")
	}
	level, err := logging.ParseLevel(req.GetLevel())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "level: %v", err)
	}
	w := s.logs.Watch(level, req.GetJson(), monitorBuffer)
	defer s.logs.Stop(w)
	// An empty first message says the agent is watching.
	if err := stream.Send(&agentv1.MonitorResponse{}); err != nil {
		return err
	}
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case b := <-w.C:
			if n := w.Dropped(); n > 0 {
				if err := stream.Send(&agentv1.MonitorResponse{Line: fmt.Sprintf("Monitor dropped %d logs during monitor request", n)}); err != nil {
					return err
				}
			}
			if err := stream.Send(&agentv1.MonitorResponse{Line: strings.TrimSuffix(string(b), "\n")}); err != nil {
				return err
			}
		}
	}
}
