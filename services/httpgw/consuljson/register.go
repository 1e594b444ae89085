package consuljson

import (
	"errors"
	"fmt"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// RegisterRequest is the body of PUT /v1/catalog/register. Fields Consul
// has and Beacon does not (Namespace, Partition, Locality, ...) are ignored
// by the decoder.
type RegisterRequest struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	NodeMeta        map[string]string
	Service         *ServiceRegistration
	Check           *HealthCheck
	Checks          []*HealthCheck
	SkipNodeUpdate  bool
}

// ServiceRegistration is the Service block of a catalog registration.
type ServiceRegistration struct {
	Kind              string
	ID                string
	Service           string
	Tags              []string
	Address           string
	TaggedAddresses   map[string]ServiceAddress
	Meta              map[string]string
	Port              int
	Weights           *Weights
	EnableTagOverride bool
	Proxy             *ConnectProxyConfig
	Connect           *ServiceConnect
}

// DeregisterRequest is the body of PUT /v1/catalog/deregister.
type DeregisterRequest struct {
	Node       string
	Datacenter string
	ServiceID  string
	CheckID    string
}

// Proto validates the registration and converts it, applying Consul's
// defaults: the service ID is its name, a check's node is the node and its
// ID is its name, weights are 1/1.
func (r *RegisterRequest) Proto() (*catalogv1.RegisterRequest, error) {
	if r.Node == "" {
		return nil, errors.New("must provide node")
	}
	if r.Address == "" && !r.SkipNodeUpdate {
		return nil, errors.New("must provide address if SkipNodeUpdate is not set")
	}
	out := &catalogv1.RegisterRequest{
		Node: &catalogv1.Node{
			Id:              r.ID,
			Node:            r.Node,
			Address:         r.Address,
			Datacenter:      r.Datacenter,
			TaggedAddresses: r.TaggedAddresses,
			Meta:            r.NodeMeta,
		},
		SkipNodeUpdate: r.SkipNodeUpdate,
	}
	if r.Service != nil {
		svc, err := r.Service.proto()
		if err != nil {
			return nil, err
		}
		out.Service = svc
	}
	checks := r.Checks
	if r.Check != nil {
		checks = append([]*HealthCheck{r.Check}, checks...)
	}
	for i, c := range checks {
		if c == nil {
			continue
		}
		pc, err := c.registrationProto(r.Node)
		if err != nil {
			return nil, fmt.Errorf("check %d: %w", i, err)
		}
		out.Checks = append(out.Checks, pc)
	}
	return out, nil
}

func (s *ServiceRegistration) proto() (*catalogv1.Service, error) {
	if s.Service == "" {
		return nil, errors.New("must provide service name (Service.Service)")
	}
	kind, ok := kindFromString(s.Kind)
	if !ok {
		return nil, fmt.Errorf("invalid service kind %q", s.Kind)
	}
	if s.Port < 0 || s.Port > 65535 {
		return nil, fmt.Errorf("invalid service port %d", s.Port)
	}
	out := &catalogv1.Service{
		Id:                s.ID,
		Service:           s.Service,
		Tags:              s.Tags,
		Address:           s.Address,
		Meta:              s.Meta,
		Port:              int32(s.Port),
		EnableTagOverride: s.EnableTagOverride,
		Kind:              kind,
		Weights:           &catalogv1.Weights{Passing: 1, Warning: 1},
	}
	if out.Id == "" {
		out.Id = s.Service
	}
	if w := s.Weights; w != nil && (w.Passing != 0 || w.Warning != 0) {
		if w.Passing < 1 || w.Warning < 0 || w.Passing > 1<<16 || w.Warning > 1<<16 {
			return nil, fmt.Errorf("invalid weights {Passing:%d Warning:%d}: Passing must be at least 1", w.Passing, w.Warning)
		}
		out.Weights = &catalogv1.Weights{Passing: int32(w.Passing), Warning: int32(w.Warning)}
	}
	if len(s.TaggedAddresses) > 0 {
		out.TaggedAddresses = make(map[string]*catalogv1.ServiceAddress, len(s.TaggedAddresses))
		for k, v := range s.TaggedAddresses {
			out.TaggedAddresses[k] = &catalogv1.ServiceAddress{Address: v.Address, Port: int32(v.Port)}
		}
	}
	if s.Proxy != nil {
		p, err := s.Proxy.proto()
		if err != nil {
			return nil, err
		}
		out.Proxy = p
	}
	if s.Connect != nil && s.Connect.Native {
		out.Connect = &catalogv1.ServiceConnect{Native: true}
	}
	return out, nil
}

func (p *ConnectProxyConfig) proto() (*catalogv1.ConnectProxyConfig, error) {
	cfg, err := protoStruct(p.Config)
	if err != nil {
		return nil, fmt.Errorf("field Proxy.Config: %w", err)
	}
	out := &catalogv1.ConnectProxyConfig{
		DestinationServiceName: p.DestinationServiceName,
		DestinationServiceId:   p.DestinationServiceID,
		LocalServiceAddress:    p.LocalServiceAddress,
		LocalServicePort:       int32(p.LocalServicePort),
		Config:                 cfg,
	}
	for i, u := range p.Upstreams {
		ucfg, err := protoStruct(u.Config)
		if err != nil {
			return nil, fmt.Errorf("field Proxy.Upstreams[%d].Config: %w", i, err)
		}
		out.Upstreams = append(out.Upstreams, &catalogv1.Upstream{
			DestinationType:  u.DestinationType,
			DestinationName:  u.DestinationName,
			Datacenter:       u.Datacenter,
			LocalBindAddress: u.LocalBindAddress,
			LocalBindPort:    int32(u.LocalBindPort),
			Config:           ucfg,
		})
	}
	return out, nil
}

func protoStruct(m map[string]any) (*structpb.Struct, error) {
	if len(m) == 0 {
		return nil, nil
	}
	return structpb.NewStruct(m)
}

// registrationProto converts a check given on registration of node.
func (c *HealthCheck) registrationProto(node string) (*catalogv1.HealthCheck, error) {
	if c.Node != "" && c.Node != node {
		return nil, fmt.Errorf("check node %q does not match the registered node %q", c.Node, node)
	}
	id := c.CheckID
	if id == "" {
		id = c.Name
	}
	if id == "" {
		return nil, errors.New("must provide a CheckID or Name")
	}
	st, err := StatusFromString(c.Status)
	if err != nil {
		return nil, err
	}
	return &catalogv1.HealthCheck{
		Node:        node,
		CheckId:     id,
		Name:        c.Name,
		Status:      st,
		Notes:       c.Notes,
		Output:      c.Output,
		ServiceId:   c.ServiceID,
		ServiceName: c.ServiceName,
		Type:        c.Type,
		Definition:  c.Definition.proto(),
	}, nil
}

// Proto validates the deregistration and converts it.
func (r *DeregisterRequest) Proto() (*catalogv1.DeregisterRequest, error) {
	if r.Node == "" {
		return nil, errors.New("must provide node")
	}
	return &catalogv1.DeregisterRequest{Node: r.Node, ServiceId: r.ServiceID, CheckId: r.CheckID}, nil
}
