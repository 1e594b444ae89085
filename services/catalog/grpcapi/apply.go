package grpcapi

import (
	"context"
	"fmt"
	"time"

	"github.com/beaconmesh/beacon/services/catalog/fsm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// apply commits one command through Raft on this replica, the leader, and
// returns the FSM's result. Semantic failures come back as statuses.
func (s *Server) apply(ctx context.Context, t fsm.MessageType, msg proto.Message) (*fsm.Result, error) {
	buf, err := fsm.Encode(t, msg)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encode raft command: %v", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, toStatus(err)
	}
	start := time.Now()
	fut := s.node.Raft.Apply(buf, s.cfg.ApplyTimeout)
	if err := fut.Error(); err != nil {
		return nil, toStatus(err)
	}
	s.metrics.applySeconds.Observe(time.Since(start).Seconds())
	res, ok := fut.Response().(*fsm.Result)
	if !ok {
		return nil, status.Errorf(codes.Internal, "raft command %d: unexpected fsm response %T", t, fut.Response())
	}
	if res.Err != nil {
		return nil, toStatus(fmt.Errorf("%w", res.Err))
	}
	if res.Index == 0 {
		res.Index = fut.Index()
	}
	return res, nil
}
