package grpcapi

import (
	"context"
	"errors"

	"github.com/beaconmesh/beacon/platform/reason"
	"github.com/beaconmesh/beacon/services/catalog/state"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The messages clients see; the HTTP gateway maps the codes to Consul's
// status codes (Unavailable "No cluster leader" becomes a 500, as in Consul).
var (
	errNoLeader = status.Error(codes.Unavailable, "No cluster leader")
	// errNotCaughtUp: a stale read reached a replica that has not caught up
	// with a leader since it started, and no leader could take it.
	errNotCaughtUp = status.Error(codes.Unavailable, "replica has not caught up with the leader since it started; stale reads are not served yet")
)

// toStatus is the catalog's one error table: every error leaving the API
// passes through it.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrAbortedByRestore):
		return status.Errorf(codes.Unavailable, "leadership changed, the write may not have been applied: %v", err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return status.Error(codes.Unavailable, "server is shutting down")
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return status.Error(codes.Unavailable, "timed out enqueuing the write in raft")
	case errors.Is(err, state.ErrUnknownSession):
		return reason.Error(codes.FailedPrecondition, err.Error(), reason.UnknownSession)
	case errors.Is(err, state.ErrUnknownMember):
		return status.Error(codes.NotFound, err.Error())
	}
	// What remains are semantic failures returned by the state store, such
	// as a check on a service that is not registered.
	return status.Error(codes.FailedPrecondition, err.Error())
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}
