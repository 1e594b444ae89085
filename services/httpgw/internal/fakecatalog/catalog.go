package fakecatalog

import (
	"cmp"
	"context"
	"slices"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Register implements catalogv1.CatalogServiceServer.
func (f *Fake) Register(ctx context.Context, in *catalogv1.RegisterRequest) (*catalogv1.RegisterResponse, error) {
	n := in.GetNode()
	if n.GetNode() == "" {
		return nil, status.Error(codes.InvalidArgument, "must provide node")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	idx := f.bump()
	old, exists := f.nodes[n.GetNode()]
	if !exists || !in.GetSkipNodeUpdate() {
		nn := proto.Clone(n).(*catalogv1.Node)
		nn.CreateIndex, nn.ModifyIndex = idx, idx
		if exists {
			nn.CreateIndex = old.GetCreateIndex()
		}
		f.nodes[n.GetNode()] = nn
	}
	if svc := in.GetService(); svc != nil {
		s := proto.Clone(svc).(*catalogv1.Service)
		if s.Id == "" {
			s.Id = s.Service
		}
		s.CreateIndex, s.ModifyIndex = idx, idx
		if prev, ok := f.services[n.GetNode()][s.Id]; ok {
			s.CreateIndex = prev.GetCreateIndex()
		}
		if f.services[n.GetNode()] == nil {
			f.services[n.GetNode()] = map[string]*catalogv1.Service{}
		}
		f.services[n.GetNode()][s.Id] = s
	}
	for _, c := range in.GetChecks() {
		cc := proto.Clone(c).(*catalogv1.HealthCheck)
		cc.Node = n.GetNode()
		if cc.Status == catalogv1.HealthStatus_HEALTH_STATUS_UNSPECIFIED {
			cc.Status = catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL
		}
		cc.CreateIndex, cc.ModifyIndex = idx, idx
		if f.checks[n.GetNode()] == nil {
			f.checks[n.GetNode()] = map[string]*catalogv1.HealthCheck{}
		}
		f.checks[n.GetNode()][cc.CheckId] = cc
	}
	return &catalogv1.RegisterResponse{}, nil
}

// Deregister implements catalogv1.CatalogServiceServer.
func (f *Fake) Deregister(ctx context.Context, in *catalogv1.DeregisterRequest) (*catalogv1.DeregisterResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.nodes[in.GetNode()]; !ok {
		return nil, status.Errorf(codes.NotFound, "node %q not found", in.GetNode())
	}
	f.bump()
	switch {
	case in.GetServiceId() != "":
		delete(f.services[in.GetNode()], in.GetServiceId())
		for id, c := range f.checks[in.GetNode()] {
			if c.GetServiceId() == in.GetServiceId() {
				delete(f.checks[in.GetNode()], id)
			}
		}
	case in.GetCheckId() != "":
		delete(f.checks[in.GetNode()], in.GetCheckId())
	default:
		delete(f.nodes, in.GetNode())
		delete(f.services, in.GetNode())
		delete(f.checks, in.GetNode())
	}
	return &catalogv1.DeregisterResponse{}, nil
}

// ListDatacenters implements catalogv1.CatalogServiceServer.
func (f *Fake) ListDatacenters(ctx context.Context, in *catalogv1.ListDatacentersRequest) (*catalogv1.ListDatacentersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &catalogv1.ListDatacentersResponse{Datacenters: f.Datacenters}, nil
}

// ListNodes implements catalogv1.CatalogServiceServer.
func (f *Fake) ListNodes(ctx context.Context, in *catalogv1.ListNodesRequest) (*catalogv1.ListNodesResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &catalogv1.ListNodesResponse{Meta: f.meta()}
	for _, n := range f.sortedNodes() {
		if metaMatches(n.GetMeta(), in.GetNodeMeta()) {
			out.Nodes = append(out.Nodes, n)
		}
	}
	return out, nil
}

// ListServices implements catalogv1.CatalogServiceServer.
func (f *Fake) ListServices(ctx context.Context, in *catalogv1.ListServicesRequest) (*catalogv1.ListServicesResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	byName := map[string]*catalogv1.ServiceSummary{}
	for _, inst := range f.instances() {
		if !metaMatches(inst.node.GetMeta(), in.GetNodeMeta()) || (in.GetNode() != "" && in.GetNode() != inst.node.GetNode()) {
			continue
		}
		s := byName[inst.svc.GetService()]
		if s == nil {
			s = &catalogv1.ServiceSummary{Name: inst.svc.GetService(), Kind: inst.svc.GetKind()}
			byName[s.Name] = s
		}
		s.Tags = append(s.Tags, inst.svc.GetTags()...)
	}
	out := &catalogv1.ListServicesResponse{Meta: f.meta()}
	for _, s := range byName {
		slices.Sort(s.Tags)
		s.Tags = slices.Compact(s.Tags)
		out.Services = append(out.Services, s)
	}
	slices.SortFunc(out.Services, func(a, b *catalogv1.ServiceSummary) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// ServiceNodes implements catalogv1.CatalogServiceServer.
func (f *Fake) ServiceNodes(ctx context.Context, in *catalogv1.ServiceNodesRequest) (*catalogv1.ServiceNodesResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &catalogv1.ServiceNodesResponse{Meta: f.meta()}
	for _, inst := range f.select_(in.GetService(), in.GetTags(), in.GetNodeMeta(), in.GetConnect()) {
		out.Instances = append(out.Instances, &catalogv1.ServiceInstance{Node: inst.node, Service: inst.svc})
	}
	return out, nil
}

// NodeServices implements catalogv1.CatalogServiceServer.
func (f *Fake) NodeServices(ctx context.Context, in *catalogv1.NodeServicesRequest) (*catalogv1.NodeServicesResponse, error) {
	f.block(ctx, in.GetOptions())
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &catalogv1.NodeServicesResponse{Meta: f.meta(), Node: f.nodes[in.GetNode()]}
	for _, id := range sortedKeys(f.services[in.GetNode()]) {
		out.Services = append(out.Services, f.services[in.GetNode()][id])
	}
	return out, nil
}

// instance is a service instance with its node.
type instance struct {
	node *catalogv1.Node
	svc  *catalogv1.Service
}

// instances lists every instance by node name, then service ID.
func (f *Fake) instances() []instance {
	var out []instance
	for _, n := range f.sortedNodes() {
		for _, id := range sortedKeys(f.services[n.GetNode()]) {
			out = append(out, instance{node: n, svc: f.services[n.GetNode()][id]})
		}
	}
	return out
}

// select_ finds the instances of a service, or its mesh endpoints.
func (f *Fake) select_(name string, tags []string, meta map[string]string, connect bool) []instance {
	var out []instance
	for _, inst := range f.instances() {
		s := inst.svc
		match := s.GetService() == name
		if connect {
			match = s.GetProxy().GetDestinationServiceName() == name && s.GetKind() == catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY ||
				s.GetService() == name && s.GetConnect().GetNative()
		}
		if !match || !metaMatches(inst.node.GetMeta(), meta) {
			continue
		}
		ok := true
		for _, t := range tags {
			ok = ok && slices.Contains(s.GetTags(), t)
		}
		if ok {
			out = append(out, inst)
		}
	}
	return out
}

func (f *Fake) sortedNodes() []*catalogv1.Node {
	out := make([]*catalogv1.Node, 0, len(f.nodes))
	for _, name := range sortedKeys(f.nodes) {
		out = append(out, f.nodes[name])
	}
	return out
}

func metaMatches(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
