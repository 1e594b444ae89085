// Package fakecatalog is an in-memory stand-in for the catalog in the
// agent's tests: the CatalogService, HealthService and MembershipService
// calls the agent makes, with the real catalog's habits that matter to it
// (identical registrations change nothing, a check without status is
// critical, blocking reads on min_index, a left member's services go).
// It counts every call, so tests can assert how many writes the agent made.
package fakecatalog

import (
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/token"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Catalog is the fake. The zero value is not usable; call New.
type Catalog struct {
	catalogv1.UnimplementedCatalogServiceServer
	catalogv1.UnimplementedHealthServiceServer
	catalogv1.UnimplementedMembershipServiceServer

	mu       sync.Mutex
	index    uint64
	changed  chan struct{}
	nodes    map[string]*catalogv1.Node
	services map[string]map[string]*catalogv1.Service     // node → id → service
	checks   map[string]map[string]*catalogv1.HealthCheck // node → id → check
	members  map[string]*catalogv1.Member
	calls    map[string]int
	tokens   []string
	fail     error
	ca       *CA
}

// New returns an empty catalog.
func New() *Catalog {
	return &Catalog{
		index:    1,
		changed:  make(chan struct{}),
		nodes:    map[string]*catalogv1.Node{},
		services: map[string]map[string]*catalogv1.Service{},
		checks:   map[string]map[string]*catalogv1.HealthCheck{},
		members:  map[string]*catalogv1.Member{},
		calls:    map[string]int{},
		ca:       NewCA(TrustDomain),
	}
}

// TrustDomain is the fake CA's trust domain.
const TrustDomain = "11111111-2222-3333-4444-555555555555.consul"

// CA returns the fake's Connect CA and intentions.
func (c *Catalog) CA() *CA { return c.ca }

// Serve serves the fake on 127.0.0.1:0 until the test ends and returns a
// client connection to it.
func (c *Catalog) Serve(t testing.TB) (addr string, conn *grpc.ClientConn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	catalogv1.RegisterCatalogServiceServer(srv, c)
	catalogv1.RegisterHealthServiceServer(srv, c)
	catalogv1.RegisterMembershipServiceServer(srv, c)
	connectv1.RegisterCAServiceServer(srv, c.ca)
	connectv1.RegisterIntentionServiceServer(srv, c.ca)
	go func() { _ = srv.Serve(lis) }()
	conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
	})
	return lis.Addr().String(), conn
}

// Calls returns how many times method (e.g. "Register") was called.
func (c *Catalog) Calls(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[method]
}

// Writes returns how many Register and Deregister calls were made.
func (c *Catalog) Writes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls["Register"] + c.calls["Deregister"]
}

// Tokens returns the ACL token each Register carried ("" for none).
func (c *Catalog) Tokens() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.tokens)
}

// SetFailure makes every call fail with err (nil: succeed again).
func (c *Catalog) SetFailure(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = err
}

// Service returns a copy of one service instance, or nil.
func (c *Catalog) Service(node, id string) *catalogv1.Service {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.services[node][id]; s != nil {
		return proto.Clone(s).(*catalogv1.Service)
	}
	return nil
}

// Check returns a copy of one check, or nil.
func (c *Catalog) Check(node, id string) *catalogv1.HealthCheck {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.checks[node][id]; h != nil {
		return proto.Clone(h).(*catalogv1.HealthCheck)
	}
	return nil
}

// ServiceIDs returns the IDs of node's services, sorted.
func (c *Catalog) ServiceIDs(node string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for id := range c.services[node] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// CheckIDs returns the IDs of node's checks, sorted.
func (c *Catalog) CheckIDs(node string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for id := range c.checks[node] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Member returns a copy of a member, or nil.
func (c *Catalog) Member(name string) *catalogv1.Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.members[name]; m != nil {
		return proto.Clone(m).(*catalogv1.Member)
	}
	return nil
}

// Node returns a copy of a registered node, or nil.
func (c *Catalog) Node(name string) *catalogv1.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[name]; n != nil {
		return proto.Clone(n).(*catalogv1.Node)
	}
	return nil
}

// Restore empties the catalog, as a restore of an old snapshot would.
func (c *Catalog) Restore() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes = map[string]*catalogv1.Node{}
	c.services = map[string]map[string]*catalogv1.Service{}
	c.checks = map[string]map[string]*catalogv1.HealthCheck{}
	c.members = map[string]*catalogv1.Member{}
	c.bumpLocked()
}

// Put stores a service or check behind the agent's back.
func (c *Catalog) Put(node string, svc *catalogv1.Service, checks ...*catalogv1.HealthCheck) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if svc != nil {
		c.svcMap(node)[svc.GetId()] = proto.Clone(svc).(*catalogv1.Service)
	}
	for _, h := range checks {
		h = proto.Clone(h).(*catalogv1.HealthCheck)
		h.Node = node
		c.checkMap(node)[h.GetCheckId()] = h
	}
	c.bumpLocked()
}

// Remove deletes a service (with its checks) behind the agent's back.
func (c *Catalog) Remove(node, serviceID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleteServiceLocked(node, serviceID)
	c.bumpLocked()
}

func (c *Catalog) svcMap(node string) map[string]*catalogv1.Service {
	if c.services[node] == nil {
		c.services[node] = map[string]*catalogv1.Service{}
	}
	return c.services[node]
}

func (c *Catalog) checkMap(node string) map[string]*catalogv1.HealthCheck {
	if c.checks[node] == nil {
		c.checks[node] = map[string]*catalogv1.HealthCheck{}
	}
	return c.checks[node]
}

func (c *Catalog) bumpLocked() {
	c.index++
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Catalog) enter(method string) error {
	c.mu.Lock()
	c.calls[method]++
	return c.fail
}

// Register stores a node, a service and checks; identical content changes
// nothing.
func (c *Catalog) Register(ctx context.Context, req *catalogv1.RegisterRequest) (*catalogv1.RegisterResponse, error) {
	if err := c.enter("Register"); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	defer c.mu.Unlock()
	c.tokens = append(c.tokens, token.From(ctx))
	node := req.GetNode().GetNode()
	if node == "" || req.GetNode().GetAddress() == "" {
		return nil, status.Error(codes.InvalidArgument, "node.node and node.address are required")
	}
	changed := false
	if old := c.nodes[node]; old == nil || (!req.GetSkipNodeUpdate() && !proto.Equal(old, req.GetNode())) {
		c.nodes[node] = proto.Clone(req.GetNode()).(*catalogv1.Node)
		changed = true
	}
	if svc := req.GetService(); svc != nil {
		svc = proto.Clone(svc).(*catalogv1.Service)
		if svc.Id == "" {
			svc.Id = svc.Service
		}
		if old := c.svcMap(node)[svc.GetId()]; old == nil || !proto.Equal(old, svc) {
			c.svcMap(node)[svc.GetId()] = svc
			changed = true
		}
	}
	for _, h := range req.GetChecks() {
		h = proto.Clone(h).(*catalogv1.HealthCheck)
		h.Node = node
		if h.Status == catalogv1.HealthStatus_HEALTH_STATUS_UNSPECIFIED {
			h.Status = catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL
		}
		h.ServiceName, h.ServiceTags = "", nil
		if h.GetServiceId() != "" {
			svc := c.services[node][h.GetServiceId()]
			if svc == nil {
				return nil, status.Errorf(codes.InvalidArgument, "check %q: unknown service %q", h.GetCheckId(), h.GetServiceId())
			}
			h.ServiceName, h.ServiceTags = svc.GetService(), slices.Clone(svc.GetTags())
		}
		if old := c.checkMap(node)[h.GetCheckId()]; old == nil || !proto.Equal(old, h) {
			c.checkMap(node)[h.GetCheckId()] = h
			changed = true
		}
	}
	if changed {
		c.bumpLocked()
	}
	return &catalogv1.RegisterResponse{Meta: &queryv1.WriteMeta{Index: c.index}}, nil
}

// Deregister removes a node, a service with its checks, or a check.
func (c *Catalog) Deregister(_ context.Context, req *catalogv1.DeregisterRequest) (*catalogv1.DeregisterResponse, error) {
	if err := c.enter("Deregister"); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	defer c.mu.Unlock()
	node := req.GetNode()
	switch {
	case req.GetServiceId() == "" && req.GetCheckId() == "":
		delete(c.nodes, node)
		delete(c.services, node)
		delete(c.checks, node)
	case req.GetServiceId() != "":
		c.deleteServiceLocked(node, req.GetServiceId())
	default:
		delete(c.checks[node], req.GetCheckId())
	}
	c.bumpLocked()
	return &catalogv1.DeregisterResponse{Meta: &queryv1.WriteMeta{Index: c.index}}, nil
}

func (c *Catalog) deleteServiceLocked(node, id string) {
	delete(c.services[node], id)
	for cid, h := range c.checks[node] {
		if h.GetServiceId() == id {
			delete(c.checks[node], cid)
		}
	}
}

// NodeServices returns a node's services sorted by ID.
func (c *Catalog) NodeServices(_ context.Context, req *catalogv1.NodeServicesRequest) (*catalogv1.NodeServicesResponse, error) {
	if err := c.enter("NodeServices"); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	defer c.mu.Unlock()
	resp := &catalogv1.NodeServicesResponse{Meta: &queryv1.ReadMeta{Index: c.index, KnownLeader: true}}
	if n := c.nodes[req.GetNode()]; n != nil {
		resp.Node = proto.Clone(n).(*catalogv1.Node)
	}
	for _, id := range sortedKeys(c.services[req.GetNode()]) {
		resp.Services = append(resp.Services, proto.Clone(c.services[req.GetNode()][id]).(*catalogv1.Service))
	}
	return resp, nil
}

// NodeChecks returns a node's checks, blocking while min_index is current.
func (c *Catalog) NodeChecks(ctx context.Context, req *catalogv1.NodeChecksRequest) (*catalogv1.NodeChecksResponse, error) {
	if err := c.enter("NodeChecks"); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	min := req.GetOptions().GetMinIndex()
	wait := req.GetOptions().GetMaxWait().AsDuration()
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for min > 0 && c.index <= min {
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-deadline.C:
			c.mu.Lock()
			min = 0
			continue
		case <-ch:
		}
		c.mu.Lock()
	}
	defer c.mu.Unlock()
	resp := &catalogv1.NodeChecksResponse{Meta: &queryv1.ReadMeta{Index: c.index, KnownLeader: true}}
	for _, id := range sortedKeys(c.checks[req.GetNode()]) {
		resp.Checks = append(resp.Checks, proto.Clone(c.checks[req.GetNode()][id]).(*catalogv1.HealthCheck))
	}
	return resp, nil
}

// JoinMember makes the member alive and registers its node with a
// passing serfHealth check.
func (c *Catalog) JoinMember(_ context.Context, req *catalogv1.JoinMemberRequest) (*catalogv1.JoinMemberResponse, error) {
	if err := c.enter("JoinMember"); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	defer c.mu.Unlock()
	if !strings.EqualFold(req.GetNode().GetNode(), req.GetMember().GetName()) {
		return nil, status.Error(codes.InvalidArgument, "node.node must equal member.name")
	}
	m := proto.Clone(req.GetMember()).(*catalogv1.Member)
	m.Status = catalogv1.MemberStatus_MEMBER_STATUS_ALIVE
	c.members[m.GetName()] = m
	c.nodes[m.GetName()] = proto.Clone(req.GetNode()).(*catalogv1.Node)
	c.checkMap(m.GetName())["serfHealth"] = &catalogv1.HealthCheck{
		Node: m.GetName(), CheckId: "serfHealth", Name: "Serf Health Status",
		Status: catalogv1.HealthStatus_HEALTH_STATUS_PASSING, Type: "serf",
	}
	c.bumpLocked()
	return &catalogv1.JoinMemberResponse{Meta: &queryv1.WriteMeta{Index: c.index}}, nil
}

// Heartbeat reports whether the member is known (and not left).
func (c *Catalog) Heartbeat(_ context.Context, req *catalogv1.HeartbeatRequest) (*catalogv1.HeartbeatResponse, error) {
	if err := c.enter("Heartbeat"); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	defer c.mu.Unlock()
	m := c.members[req.GetName()]
	return &catalogv1.HeartbeatResponse{Known: m != nil && m.GetStatus() != catalogv1.MemberStatus_MEMBER_STATUS_LEFT}, nil
}

// LeaveMember marks the member left and deregisters its node's services
// and checks.
func (c *Catalog) LeaveMember(_ context.Context, req *catalogv1.LeaveMemberRequest) (*catalogv1.LeaveMemberResponse, error) {
	if err := c.enter("LeaveMember"); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	defer c.mu.Unlock()
	if m := c.members[req.GetName()]; m != nil {
		m.Status = catalogv1.MemberStatus_MEMBER_STATUS_LEFT
	}
	delete(c.services, req.GetName())
	delete(c.checks, req.GetName())
	c.bumpLocked()
	return &catalogv1.LeaveMemberResponse{Meta: &queryv1.WriteMeta{Index: c.index}}, nil
}

// ListMembers lists the members by name.
func (c *Catalog) ListMembers(context.Context, *catalogv1.ListMembersRequest) (*catalogv1.ListMembersResponse, error) {
	if err := c.enter("ListMembers"); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	defer c.mu.Unlock()
	resp := &catalogv1.ListMembersResponse{Meta: &queryv1.ReadMeta{Index: c.index, KnownLeader: true}}
	for _, n := range sortedKeys(c.members) {
		resp.Members = append(resp.Members, proto.Clone(c.members[n]).(*catalogv1.Member))
	}
	return resp, nil
}

// Client calls the fake directly, without gRPC (for tests inside a
// synctest bubble, where real sockets would never let time advance).
type Client struct{ C *Catalog }

// Register implements local.Catalog.
func (d Client) Register(ctx context.Context, in *catalogv1.RegisterRequest, _ ...grpc.CallOption) (*catalogv1.RegisterResponse, error) {
	return d.C.Register(ctx, in)
}

// Deregister implements local.Catalog.
func (d Client) Deregister(ctx context.Context, in *catalogv1.DeregisterRequest, _ ...grpc.CallOption) (*catalogv1.DeregisterResponse, error) {
	return d.C.Deregister(ctx, in)
}

// NodeServices implements local.Catalog.
func (d Client) NodeServices(ctx context.Context, in *catalogv1.NodeServicesRequest, _ ...grpc.CallOption) (*catalogv1.NodeServicesResponse, error) {
	return d.C.NodeServices(ctx, in)
}

// NodeChecks implements local.Catalog.
func (d Client) NodeChecks(ctx context.Context, in *catalogv1.NodeChecksRequest, _ ...grpc.CallOption) (*catalogv1.NodeChecksResponse, error) {
	return d.C.NodeChecks(ctx, in)
}

// JoinMember implements membership.Client.
func (d Client) JoinMember(ctx context.Context, in *catalogv1.JoinMemberRequest, _ ...grpc.CallOption) (*catalogv1.JoinMemberResponse, error) {
	return d.C.JoinMember(ctx, in)
}

// Heartbeat implements membership.Client.
func (d Client) Heartbeat(ctx context.Context, in *catalogv1.HeartbeatRequest, _ ...grpc.CallOption) (*catalogv1.HeartbeatResponse, error) {
	return d.C.Heartbeat(ctx, in)
}

// LeaveMember implements membership.Client.
func (d Client) LeaveMember(ctx context.Context, in *catalogv1.LeaveMemberRequest, _ ...grpc.CallOption) (*catalogv1.LeaveMemberResponse, error) {
	return d.C.LeaveMember(ctx, in)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
