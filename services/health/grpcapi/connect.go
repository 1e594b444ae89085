package grpcapi

import (
	"context"
	"errors"
	"strings"
	"time"

	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/health/connect"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Mesh is the agent's Connect side as the API uses it (*connect.Mesh).
type Mesh interface {
	// Leaf returns service's leaf, blocking while its index is at most
	// minIndex (for up to maxWait) when minIndex is above 0.
	Leaf(ctx context.Context, service string, minIndex uint64, maxWait time.Duration) (*connect.Leaf, error)
	// Authorize decides whether clientURI may connect to target.
	Authorize(ctx context.Context, target, clientURI string) (connect.Decision, error)
}

// ConnectLeaf returns a service's leaf certificate and private key.
func (s *Server) ConnectLeaf(ctx context.Context, req *agentv1.ConnectLeafRequest) (*agentv1.ConnectLeafResponse, error) {
	if s.mesh == nil {
		return nil, status.Error(codes.Unimplemented, "connect is not enabled on this agent")
	}
	o := req.GetOptions()
	l, err := s.mesh.Leaf(ctx, req.GetService(), o.GetMinIndex(), o.GetMaxWait().AsDuration())
	if err != nil {
		return nil, connectStatus(err)
	}
	return &agentv1.ConnectLeafResponse{
		Meta: &queryv1.ReadMeta{Index: l.Index, KnownLeader: true},
		Cert: &connectv1.IssuedCert{
			SerialNumber: l.SerialNumber,
			CertPem:      l.CertPEM,
			Service:      l.Service,
			ServiceUri:   l.ServiceURI,
			ValidAfter:   timestamppb.New(l.ValidAfter),
			ValidBefore:  timestamppb.New(l.ValidBefore),
			RootId:       l.RootID,
		},
		PrivateKeyPem: l.PrivateKeyPEM,
		CreateIndex:   l.Index,
		ModifyIndex:   l.Index,
	}, nil
}

// ConnectAuthorize decides whether a client certificate may connect to a
// service.
func (s *Server) ConnectAuthorize(ctx context.Context, req *agentv1.ConnectAuthorizeRequest) (*agentv1.ConnectAuthorizeResponse, error) {
	if s.mesh == nil {
		return nil, status.Error(codes.Unimplemented, "connect is not enabled on this agent")
	}
	d, err := s.mesh.Authorize(ctx, req.GetTarget(), req.GetClientCertUri())
	if err != nil {
		return nil, connectStatus(err)
	}
	return &agentv1.ConnectAuthorizeResponse{Authorized: d.Authorized, Reason: d.Reason}, nil
}

// connectStatus maps the mesh's errors; a catalog error keeps its code.
func connectStatus(err error) error {
	switch {
	case errors.Is(err, connect.ErrInvalid):
		// The message is Consul's, without the sentinel's prefix.
		return status.Error(codes.InvalidArgument, strings.TrimPrefix(err.Error(), connect.ErrInvalid.Error()+": "))
	case errors.Is(err, connect.ErrNoLeaf):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return toStatus(err)
	}
	if st, ok := status.FromError(err); ok {
		return status.Error(st.Code(), err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
