// Package grpcapi serves beacon.agent.v1.AgentService: the node agent's
// API over its owned services and checks, its membership and lifecycle.
// Requests are turned into the same definitions files produce, so the API
// and -config-dir share defaults and validation.
package grpcapi

import (
	"context"
	"errors"
	"strings"

	"github.com/beaconmesh/beacon/platform/logging"
	"github.com/beaconmesh/beacon/platform/token"
	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/health/config"
	"github.com/beaconmesh/beacon/services/health/local"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// State is the agent's owned set, as the API uses it (*local.State).
type State interface {
	Services() []*catalogv1.Service
	Service(id string) (*catalogv1.Service, string, error)
	AddService(def *config.Service, opts local.AddOptions) error
	RemoveService(id string) error
	Checks() []*catalogv1.HealthCheck
	AddCheck(def *config.Check, opts local.AddOptions) error
	RemoveCheck(id string)
	UpdateTTL(id string, status catalogv1.HealthStatus, output string) error
	SetMaintenance(serviceID string, enable bool, reason, tok string) error
}

// Lifecycle is the agent process as the API uses it.
type Lifecycle interface {
	// Self describes the agent.
	Self(ctx context.Context) *agentv1.SelfResponse
	// Members lists the cluster's members.
	Members(ctx context.Context) ([]*catalogv1.Member, error)
	// Reload re-reads the config dirs and applies them.
	Reload(ctx context.Context) error
	// Leave starts a graceful leave; the process exits when it is done.
	Leave()
}

// Server implements agentv1.AgentServiceServer.
type Server struct {
	agentv1.UnimplementedAgentServiceServer
	state State
	life  Lifecycle
	mesh  Mesh
	logs  *logging.Monitor
}

// New returns a Server over an agent's state, lifecycle, Connect side and
// log monitor; without a mesh the Connect calls are UNIMPLEMENTED, and
// without a monitor Monitor is.
func New(state State, life Lifecycle, mesh Mesh, logs *logging.Monitor) *Server {
	return &Server{state: state, life: life, mesh: mesh, logs: logs}
}

// Self describes the agent.
func (s *Server) Self(ctx context.Context, _ *agentv1.SelfRequest) (*agentv1.SelfResponse, error) {
	return s.life.Self(ctx), nil
}

// Members passes the catalog's member list through.
func (s *Server) Members(ctx context.Context, _ *agentv1.MembersRequest) (*agentv1.MembersResponse, error) {
	ms, err := s.life.Members(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &agentv1.MembersResponse{Members: ms}, nil
}

// ListServices lists the owned service instances.
func (s *Server) ListServices(context.Context, *agentv1.ListServicesRequest) (*agentv1.ListServicesResponse, error) {
	return &agentv1.ListServicesResponse{Services: s.state.Services()}, nil
}

// GetService returns one owned service instance.
func (s *Server) GetService(_ context.Context, req *agentv1.GetServiceRequest) (*agentv1.GetServiceResponse, error) {
	if req.GetServiceId() == "" {
		return nil, status.Error(codes.InvalidArgument, "service_id is required")
	}
	svc, hash, err := s.state.Service(req.GetServiceId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &agentv1.GetServiceResponse{Service: svc, ContentHash: hash}, nil
}

// RegisterService adds or replaces a service instance.
func (s *Server) RegisterService(ctx context.Context, req *agentv1.RegisterServiceRequest) (*agentv1.RegisterServiceResponse, error) {
	def, err := serviceFromWire(req)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := def.Normalize(); err != nil {
		return nil, toStatus(err)
	}
	opts := local.AddOptions{Source: local.SourceAPI, Token: token.From(ctx), ReplaceExistingChecks: req.GetReplaceExistingChecks()}
	if err := s.state.AddService(def, opts); err != nil {
		return nil, toStatus(err)
	}
	return &agentv1.RegisterServiceResponse{}, nil
}

// DeregisterService removes a service instance, its checks and sidecar.
func (s *Server) DeregisterService(_ context.Context, req *agentv1.DeregisterServiceRequest) (*agentv1.DeregisterServiceResponse, error) {
	if req.GetServiceId() == "" {
		return nil, status.Error(codes.InvalidArgument, "service_id is required")
	}
	if err := s.state.RemoveService(req.GetServiceId()); err != nil {
		return nil, toStatus(err)
	}
	return &agentv1.DeregisterServiceResponse{}, nil
}

// ListChecks lists the owned checks.
func (s *Server) ListChecks(context.Context, *agentv1.ListChecksRequest) (*agentv1.ListChecksResponse, error) {
	return &agentv1.ListChecksResponse{Checks: s.state.Checks()}, nil
}

// RegisterCheck adds or replaces a check.
func (s *Server) RegisterCheck(ctx context.Context, req *agentv1.RegisterCheckRequest) (*agentv1.RegisterCheckResponse, error) {
	if req.GetCheck() == nil {
		return nil, status.Error(codes.InvalidArgument, "check is required")
	}
	def := checkFromWire(req.GetCheck())
	if err := def.NormalizeNodeCheck(); err != nil {
		return nil, toStatus(&config.FieldError{Field: "check", Err: err})
	}
	if err := s.state.AddCheck(&def, local.AddOptions{Source: local.SourceAPI, Token: token.From(ctx)}); err != nil {
		return nil, toStatus(err)
	}
	return &agentv1.RegisterCheckResponse{}, nil
}

// DeregisterCheck removes a check.
func (s *Server) DeregisterCheck(_ context.Context, req *agentv1.DeregisterCheckRequest) (*agentv1.DeregisterCheckResponse, error) {
	if req.GetCheckId() == "" {
		return nil, status.Error(codes.InvalidArgument, "check_id is required")
	}
	s.state.RemoveCheck(req.GetCheckId())
	return &agentv1.DeregisterCheckResponse{}, nil
}

// UpdateCheck reports the status of a TTL check.
func (s *Server) UpdateCheck(_ context.Context, req *agentv1.UpdateCheckRequest) (*agentv1.UpdateCheckResponse, error) {
	if req.GetCheckId() == "" {
		return nil, status.Error(codes.InvalidArgument, "check_id is required")
	}
	if err := s.state.UpdateTTL(req.GetCheckId(), req.GetStatus(), req.GetOutput()); err != nil {
		return nil, toStatus(err)
	}
	return &agentv1.UpdateCheckResponse{}, nil
}

// Reload re-reads the config dirs.
func (s *Server) Reload(ctx context.Context, _ *agentv1.ReloadRequest) (*agentv1.ReloadResponse, error) {
	if err := s.life.Reload(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, toStatus(ctx.Err())
		}
		// Whatever the cause, the files are what must change.
		return nil, status.Error(codes.InvalidArgument, "reload refused, nothing changed: "+strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return &agentv1.ReloadResponse{}, nil
}

// Leave starts a graceful leave.
func (s *Server) Leave(context.Context, *agentv1.LeaveRequest) (*agentv1.LeaveResponse, error) {
	s.life.Leave()
	return &agentv1.LeaveResponse{}, nil
}

// Maintenance toggles maintenance mode of the node or a service.
func (s *Server) Maintenance(ctx context.Context, req *agentv1.MaintenanceRequest) (*agentv1.MaintenanceResponse, error) {
	if err := s.state.SetMaintenance(req.GetServiceId(), req.GetEnable(), req.GetReason(), token.From(ctx)); err != nil {
		return nil, toStatus(err)
	}
	return &agentv1.MaintenanceResponse{}, nil
}

// toStatus is the API's one error table.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var fe *config.FieldError
	var fileErr *config.FileError
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, local.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, local.ErrScriptsDisabled):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, local.ErrNoSidecarPort):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, local.ErrInvalid), errors.Is(err, local.ErrNotTTL),
		errors.As(err, &fe), errors.As(err, &fileErr):
		// Joined problems come one per line; a status message reads better
		// on one.
		return status.Error(codes.InvalidArgument, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return status.Error(codes.Internal, err.Error())
}
