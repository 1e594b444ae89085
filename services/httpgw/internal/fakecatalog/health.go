package fakecatalog

import (
	"context"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"google.golang.org/protobuf/proto"
)

// Stored messages are never changed in place (writes replace them), so
// answers may share them with the state without copying.

// NodeChecks implements catalogv1.HealthServiceServer.
func (f *Fake) NodeChecks(ctx context.Context, in *catalogv1.NodeChecksRequest) (*catalogv1.NodeChecksResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	return &catalogv1.NodeChecksResponse{Meta: f.meta(), Checks: f.nodeChecks(in.GetNode(), true)}, nil
}

// ServiceChecks implements catalogv1.HealthServiceServer.
func (f *Fake) ServiceChecks(ctx context.Context, in *catalogv1.ServiceChecksRequest) (*catalogv1.ServiceChecksResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &catalogv1.ServiceChecksResponse{Meta: f.meta()}
	for _, inst := range f.select_(in.GetService(), nil, in.GetNodeMeta(), false) {
		out.Checks = append(out.Checks, f.serviceChecks(inst)...)
	}
	return out, nil
}

// ChecksInState implements catalogv1.HealthServiceServer.
func (f *Fake) ChecksInState(ctx context.Context, in *catalogv1.ChecksInStateRequest) (*catalogv1.ChecksInStateResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &catalogv1.ChecksInStateResponse{Meta: f.meta()}
	for _, n := range f.sortedNodes() {
		if !metaMatches(n.GetMeta(), in.GetNodeMeta()) {
			continue
		}
		for _, c := range f.nodeChecks(n.GetNode(), true) {
			if in.GetState() == catalogv1.HealthStatus_HEALTH_STATUS_UNSPECIFIED || c.GetStatus() == in.GetState() {
				out.Checks = append(out.Checks, c)
			}
		}
	}
	return out, nil
}

// ServiceHealth implements catalogv1.HealthServiceServer.
func (f *Fake) ServiceHealth(ctx context.Context, in *catalogv1.ServiceHealthRequest) (*catalogv1.ServiceHealthResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &catalogv1.ServiceHealthResponse{Meta: f.meta()}
	for _, inst := range f.select_(in.GetService(), in.GetTags(), in.GetNodeMeta(), in.GetConnect()) {
		h := f.health(inst)
		if in.GetPassingOnly() && !allPassing(h.GetChecks()) {
			continue
		}
		out.Instances = append(out.Instances, h)
	}
	return out, nil
}

// ListServiceHealth implements catalogv1.HealthServiceServer.
func (f *Fake) ListServiceHealth(ctx context.Context, in *catalogv1.ListServiceHealthRequest) (*catalogv1.ListServiceHealthResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &catalogv1.ListServiceHealthResponse{Meta: f.meta(), Nodes: f.sortedNodes()}
	for _, n := range out.Nodes {
		out.NodeChecks = append(out.NodeChecks, f.nodeChecks(n.GetNode(), false)...)
	}
	for _, inst := range f.instances() {
		out.Instances = append(out.Instances, f.health(inst))
	}
	return out, nil
}

// nodeChecks lists a node's checks by ID: all of them, or only node-level.
func (f *Fake) nodeChecks(node string, withServices bool) []*catalogv1.HealthCheck {
	var out []*catalogv1.HealthCheck
	for _, id := range sortedKeys(f.checks[node]) {
		c := f.checks[node][id]
		if withServices || c.GetServiceId() == "" {
			out = append(out, f.withService(c))
		}
	}
	return out
}

// serviceChecks lists an instance's own checks.
func (f *Fake) serviceChecks(inst instance) []*catalogv1.HealthCheck {
	var out []*catalogv1.HealthCheck
	for _, id := range sortedKeys(f.checks[inst.node.GetNode()]) {
		if c := f.checks[inst.node.GetNode()][id]; c.GetServiceId() == inst.svc.GetId() {
			out = append(out, f.withService(c))
		}
	}
	return out
}

// health is an instance with its node's checks and its own.
func (f *Fake) health(inst instance) *catalogv1.ServiceHealth {
	checks := f.nodeChecks(inst.node.GetNode(), false)
	checks = append(checks, f.serviceChecks(inst)...)
	return &catalogv1.ServiceHealth{Node: inst.node, Service: inst.svc, Checks: checks}
}

// withService fills in a service check's service name and tags.
func (f *Fake) withService(c *catalogv1.HealthCheck) *catalogv1.HealthCheck {
	svc := f.services[c.GetNode()][c.GetServiceId()]
	if c.GetServiceId() == "" || svc == nil {
		return c
	}
	out := proto.Clone(c).(*catalogv1.HealthCheck)
	out.ServiceName = svc.GetService()
	out.ServiceTags = svc.GetTags()
	return out
}

func allPassing(cs []*catalogv1.HealthCheck) bool {
	for _, c := range cs {
		if c.GetStatus() != catalogv1.HealthStatus_HEALTH_STATUS_PASSING {
			return false
		}
	}
	return true
}
