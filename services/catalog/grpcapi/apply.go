package grpcapi

import (
	"context"
	"fmt"
	"time"

	"github.com/beaconmesh/beacon/services/catalog/fsm"
	"github.com/hashicorp/raft"
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
	if err := waitFuture(ctx, fut); err != nil {
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

// waitFuture waits for a Raft future or for ctx to end, whichever is
// first. Raft does not answer every future when it shuts down (entries
// already handed to its FSM goroutine are dropped unanswered), so a call
// waiting on one alone could hold the gRPC server's shutdown for good; the
// call's context ends when the server stops. A write abandoned this way
// may still commit: the client sees an error, as on any timeout.
func waitFuture(ctx context.Context, fut raft.Future) error {
	errc := make(chan error, 1)
	go func() { errc <- fut.Error() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
