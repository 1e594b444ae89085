package grpcapi

import (
	"context"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/catalog/fsm"
	"github.com/beaconmesh/beacon/services/catalog/state"
	"github.com/hashicorp/go-memdb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

type catalogService struct {
	catalogv1.UnimplementedCatalogServiceServer
	s *Server
}

func (c *catalogService) Register(ctx context.Context, req *catalogv1.RegisterRequest) (*catalogv1.RegisterResponse, error) {
	if err := validateRegister(req, c.s.cfg.Datacenter); err != nil {
		return nil, err
	}
	if resp, ok, err := forward(ctx, c.s, func(ctx context.Context, cc *grpc.ClientConn) (*catalogv1.RegisterResponse, error) {
		return catalogv1.NewCatalogServiceClient(cc).Register(ctx, req)
	}); ok {
		return resp, err
	}
	if req.GetNode().GetDatacenter() == "" {
		req = proto.Clone(req).(*catalogv1.RegisterRequest)
		req.Node.Datacenter = c.s.cfg.Datacenter
	}
	res, err := c.s.apply(ctx, fsm.RegisterType, req)
	if err != nil {
		return nil, err
	}
	return &catalogv1.RegisterResponse{Meta: &queryv1.WriteMeta{Index: res.Index}}, nil
}

func (c *catalogService) Deregister(ctx context.Context, req *catalogv1.DeregisterRequest) (*catalogv1.DeregisterResponse, error) {
	if err := name("node", req.GetNode()); err != nil {
		return nil, err
	}
	if err := optName("service_id", req.GetServiceId()); err != nil {
		return nil, err
	}
	if err := optName("check_id", req.GetCheckId()); err != nil {
		return nil, err
	}
	if resp, ok, err := forward(ctx, c.s, func(ctx context.Context, cc *grpc.ClientConn) (*catalogv1.DeregisterResponse, error) {
		return catalogv1.NewCatalogServiceClient(cc).Deregister(ctx, req)
	}); ok {
		return resp, err
	}
	res, err := c.s.apply(ctx, fsm.DeregisterType, req)
	if err != nil {
		return nil, err
	}
	return &catalogv1.DeregisterResponse{Meta: &queryv1.WriteMeta{Index: res.Index}}, nil
}

func (c *catalogService) ListDatacenters(ctx context.Context, req *catalogv1.ListDatacentersRequest) (*catalogv1.ListDatacentersResponse, error) {
	return &catalogv1.ListDatacentersResponse{Datacenters: []string{c.s.cfg.Datacenter}}, nil
}

func (c *catalogService) ListNodes(ctx context.Context, req *catalogv1.ListNodesRequest) (*catalogv1.ListNodesResponse, error) {
	resp := &catalogv1.ListNodesResponse{}
	return serveRead(ctx, c.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*catalogv1.ListNodesResponse, error) {
		return catalogv1.NewCatalogServiceClient(cc).ListNodes(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, nodes, err := st.Nodes(ws, req.GetNodeMeta())
		resp.Nodes = nodes
		return idx, err
	})
}

func (c *catalogService) ListServices(ctx context.Context, req *catalogv1.ListServicesRequest) (*catalogv1.ListServicesResponse, error) {
	resp := &catalogv1.ListServicesResponse{}
	return serveRead(ctx, c.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*catalogv1.ListServicesResponse, error) {
		return catalogv1.NewCatalogServiceClient(cc).ListServices(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, svcs, err := st.Services(ws, req.GetNodeMeta(), req.GetNode())
		resp.Services = svcs
		return idx, err
	})
}

func (c *catalogService) ServiceNodes(ctx context.Context, req *catalogv1.ServiceNodesRequest) (*catalogv1.ServiceNodesResponse, error) {
	if err := name("service", req.GetService()); err != nil {
		return nil, err
	}
	resp := &catalogv1.ServiceNodesResponse{}
	return serveRead(ctx, c.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*catalogv1.ServiceNodesResponse, error) {
		return catalogv1.NewCatalogServiceClient(cc).ServiceNodes(ctx, req)
	}, currentFirst(req.GetOptions(), func(st *state.Store) uint64 {
		return st.ServiceNodesIndex(req.GetService(), req.GetConnect())
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, inst, err := st.ServiceNodes(ws, req.GetService(), req.GetTags(), req.GetNodeMeta(), req.GetConnect())
		resp.Instances = inst
		return idx, err
	}))
}

func (c *catalogService) NodeServices(ctx context.Context, req *catalogv1.NodeServicesRequest) (*catalogv1.NodeServicesResponse, error) {
	if err := name("node", req.GetNode()); err != nil {
		return nil, err
	}
	resp := &catalogv1.NodeServicesResponse{}
	return serveRead(ctx, c.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*catalogv1.NodeServicesResponse, error) {
		return catalogv1.NewCatalogServiceClient(cc).NodeServices(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, node, svcs, err := st.NodeServices(ws, req.GetNode())
		resp.Node, resp.Services = node, svcs
		return idx, err
	})
}

type healthService struct {
	catalogv1.UnimplementedHealthServiceServer
	s *Server
}

func (h *healthService) NodeChecks(ctx context.Context, req *catalogv1.NodeChecksRequest) (*catalogv1.NodeChecksResponse, error) {
	if err := name("node", req.GetNode()); err != nil {
		return nil, err
	}
	resp := &catalogv1.NodeChecksResponse{}
	return serveRead(ctx, h.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*catalogv1.NodeChecksResponse, error) {
		return catalogv1.NewHealthServiceClient(cc).NodeChecks(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, checks, err := st.NodeChecks(ws, req.GetNode())
		resp.Checks = checks
		return idx, err
	})
}

func (h *healthService) ServiceChecks(ctx context.Context, req *catalogv1.ServiceChecksRequest) (*catalogv1.ServiceChecksResponse, error) {
	if err := name("service", req.GetService()); err != nil {
		return nil, err
	}
	resp := &catalogv1.ServiceChecksResponse{}
	return serveRead(ctx, h.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*catalogv1.ServiceChecksResponse, error) {
		return catalogv1.NewHealthServiceClient(cc).ServiceChecks(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, checks, err := st.ServiceChecks(ws, req.GetService(), req.GetNodeMeta())
		resp.Checks = checks
		return idx, err
	})
}

func (h *healthService) ChecksInState(ctx context.Context, req *catalogv1.ChecksInStateRequest) (*catalogv1.ChecksInStateResponse, error) {
	if err := enum("state", req.GetState()); err != nil {
		return nil, err
	}
	resp := &catalogv1.ChecksInStateResponse{}
	return serveRead(ctx, h.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*catalogv1.ChecksInStateResponse, error) {
		return catalogv1.NewHealthServiceClient(cc).ChecksInState(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, checks, err := st.ChecksInState(ws, req.GetState(), req.GetNodeMeta())
		resp.Checks = checks
		return idx, err
	})
}

func (h *healthService) ServiceHealth(ctx context.Context, req *catalogv1.ServiceHealthRequest) (*catalogv1.ServiceHealthResponse, error) {
	if err := name("service", req.GetService()); err != nil {
		return nil, err
	}
	resp := &catalogv1.ServiceHealthResponse{}
	return serveRead(ctx, h.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*catalogv1.ServiceHealthResponse, error) {
		return catalogv1.NewHealthServiceClient(cc).ServiceHealth(ctx, req)
	}, currentFirst(req.GetOptions(), func(st *state.Store) uint64 {
		return st.ServiceHealthIndex(req.GetService(), req.GetConnect())
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, inst, err := st.ServiceHealth(ws, req.GetService(), req.GetTags(), req.GetNodeMeta(), req.GetPassingOnly(), req.GetConnect())
		resp.Instances = inst
		return idx, err
	}))
}

func (h *healthService) ListServiceHealth(ctx context.Context, req *catalogv1.ListServiceHealthRequest) (*catalogv1.ListServiceHealthResponse, error) {
	resp := &catalogv1.ListServiceHealthResponse{}
	return serveRead(ctx, h.s, req.GetOptions(), resp, &resp.Meta, func(ctx context.Context, cc *grpc.ClientConn) (*catalogv1.ListServiceHealthResponse, error) {
		return catalogv1.NewHealthServiceClient(cc).ListServiceHealth(ctx, req)
	}, func(ws memdb.WatchSet, st *state.Store) (uint64, error) {
		idx, nodes, nodeChecks, inst, err := st.AllServiceHealth(ws)
		resp.Nodes, resp.NodeChecks, resp.Instances = nodes, nodeChecks, inst
		return idx, err
	})
}

// RegisterSelf joins this replica as a member and registers its service,
// through its own API (forwarded to the leader when needed).
func (s *Server) RegisterSelf(ctx context.Context, join *catalogv1.JoinMemberRequest, reg *catalogv1.RegisterRequest) error {
	if _, err := (&membershipService{s: s}).JoinMember(ctx, join); err != nil {
		return err
	}
	_, err := (&catalogService{s: s}).Register(ctx, reg)
	return err
}
