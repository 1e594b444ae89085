package consuljson

import (
	"maps"
	"slices"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// Node is Consul's Node, as /v1/catalog/nodes lists it.
type Node struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
	CreateIndex     uint64 `bexpr:"-"`
	ModifyIndex     uint64 `bexpr:"-"`
}

// ServiceAddress is one entry of a service's TaggedAddresses.
type ServiceAddress struct {
	Address string
	Port    int
}

// Weights are a service instance's DNS SRV weights by health.
type Weights struct {
	Passing int
	Warning int
}

// Upstream is a service a connect proxy dials on behalf of its app.
type Upstream struct {
	DestinationType  string         `json:",omitempty"`
	DestinationName  string         `json:",omitempty"`
	Datacenter       string         `json:",omitempty"`
	LocalBindAddress string         `json:",omitempty"`
	LocalBindPort    int            `json:",omitempty"`
	Config           map[string]any `json:",omitempty" bexpr:"-"`
}

// MeshGatewayConfig is Consul's MeshGateway block; Beacon has no mesh
// gateways, so it is always empty, but clients expect the object.
type MeshGatewayConfig struct {
	Mode string `json:",omitempty"`
}

// ExposeConfig is Consul's Expose block; always empty in Beacon.
type ExposeConfig struct {
	Checks bool `json:",omitempty"`
}

// ConnectProxyConfig is the Proxy block of a connect-proxy service. Consul
// renders it for every service, with only the empty sub-objects for a
// typical one.
type ConnectProxyConfig struct {
	DestinationServiceName string            `json:",omitempty"`
	DestinationServiceID   string            `json:",omitempty"`
	LocalServiceAddress    string            `json:",omitempty"`
	LocalServicePort       int               `json:",omitempty"`
	Mode                   string            `json:",omitempty"`
	Config                 map[string]any    `json:",omitempty" bexpr:"-"`
	Upstreams              []Upstream        `json:",omitempty"`
	MeshGateway            MeshGatewayConfig `bexpr:"-"`
	Expose                 ExposeConfig      `bexpr:"-"`
}

// ServiceConnect is the Connect block of a service.
type ServiceConnect struct {
	Native bool `json:",omitempty"`
}

// NodeService is one service instance on a node (Consul's NodeService), as
// /v1/health/service and /v1/catalog/node show it.
type NodeService struct {
	Kind              string `json:",omitempty"`
	ID                string
	Service           string
	Tags              []string
	Address           string
	TaggedAddresses   map[string]ServiceAddress `json:",omitempty"`
	Meta              map[string]string
	Port              int
	Weights           Weights
	EnableTagOverride bool
	Proxy             ConnectProxyConfig
	Connect           ServiceConnect
	CreateIndex       uint64 `bexpr:"-"`
	ModifyIndex       uint64 `bexpr:"-"`
}

// ServiceNode is the flat row of /v1/catalog/service/:service: the node's
// fields next to the instance's, prefixed with "Service".
type ServiceNode struct {
	ID                       string
	Node                     string
	Address                  string
	Datacenter               string
	TaggedAddresses          map[string]string
	NodeMeta                 map[string]string
	ServiceKind              string
	ServiceID                string
	ServiceName              string
	ServiceTags              []string
	ServiceAddress           string
	ServiceTaggedAddresses   map[string]ServiceAddress `json:",omitempty"`
	ServiceWeights           Weights
	ServiceMeta              map[string]string
	ServicePort              int
	ServiceEnableTagOverride bool
	ServiceProxy             ConnectProxyConfig
	ServiceConnect           ServiceConnect
	CreateIndex              uint64 `bexpr:"-"`
	ModifyIndex              uint64 `bexpr:"-"`
}

// ServiceEntry is one element of /v1/health/service/:service (Consul's
// CheckServiceNode): an instance with its node and every check bearing on it.
type ServiceEntry struct {
	Node    Node
	Service NodeService
	Checks  []HealthCheck
}

// NodeServices is /v1/catalog/node/:node: a node and its instances by ID.
type NodeServices struct {
	Node     Node
	Services map[string]NodeService
}

// NodeServiceList is /v1/catalog/node-services/:node. Node is null when the
// node does not exist.
type NodeServiceList struct {
	Node     *Node
	Services []NodeService
}

// NodeFromProto converts a node; dc fills in a missing datacenter.
func NodeFromProto(n *catalogv1.Node, dc string) Node {
	out := Node{
		ID:              n.GetId(),
		Node:            n.GetNode(),
		Address:         n.GetAddress(),
		Datacenter:      n.GetDatacenter(),
		TaggedAddresses: stringMap(n.GetTaggedAddresses()),
		Meta:            stringMap(n.GetMeta()),
		CreateIndex:     n.GetCreateIndex(),
		ModifyIndex:     n.GetModifyIndex(),
	}
	if out.Datacenter == "" {
		out.Datacenter = dc
	}
	return out
}

// NodeServiceFromProto converts a service instance.
func NodeServiceFromProto(s *catalogv1.Service) NodeService {
	return NodeService{
		Kind:              KindString(s.GetKind()),
		ID:                s.GetId(),
		Service:           s.GetService(),
		Tags:              stringList(s.GetTags()),
		Address:           s.GetAddress(),
		TaggedAddresses:   serviceAddresses(s.GetTaggedAddresses()),
		Meta:              stringMap(s.GetMeta()),
		Port:              int(s.GetPort()),
		Weights:           weightsFromProto(s.GetWeights()),
		EnableTagOverride: s.GetEnableTagOverride(),
		Proxy:             proxyFromProto(s.GetProxy()),
		Connect:           ServiceConnect{Native: s.GetConnect().GetNative()},
		CreateIndex:       s.GetCreateIndex(),
		ModifyIndex:       s.GetModifyIndex(),
	}
}

// ServiceNodeFromProto flattens an instance and its node into a ServiceNode.
func ServiceNodeFromProto(n *catalogv1.Node, s *catalogv1.Service, dc string) ServiceNode {
	node := NodeFromProto(n, dc)
	svc := NodeServiceFromProto(s)
	return ServiceNode{
		ID:                       node.ID,
		Node:                     node.Node,
		Address:                  node.Address,
		Datacenter:               node.Datacenter,
		TaggedAddresses:          node.TaggedAddresses,
		NodeMeta:                 node.Meta,
		ServiceKind:              svc.Kind,
		ServiceID:                svc.ID,
		ServiceName:              svc.Service,
		ServiceTags:              svc.Tags,
		ServiceAddress:           svc.Address,
		ServiceTaggedAddresses:   svc.TaggedAddresses,
		ServiceWeights:           svc.Weights,
		ServiceMeta:              svc.Meta,
		ServicePort:              svc.Port,
		ServiceEnableTagOverride: svc.EnableTagOverride,
		ServiceProxy:             svc.Proxy,
		ServiceConnect:           svc.Connect,
		CreateIndex:              svc.CreateIndex,
		ModifyIndex:              svc.ModifyIndex,
	}
}

// ServiceEntryFromProto converts an instance with its node and checks.
func ServiceEntryFromProto(h *catalogv1.ServiceHealth, dc string) ServiceEntry {
	return ServiceEntry{
		Node:    NodeFromProto(h.GetNode(), dc),
		Service: NodeServiceFromProto(h.GetService()),
		Checks:  HealthChecksFromProto(h.GetChecks()),
	}
}

// KindString is Consul's name for a service kind ("" for a typical service).
func KindString(k catalogv1.ServiceKind) string {
	switch k {
	case catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY:
		return "connect-proxy"
	case catalogv1.ServiceKind_SERVICE_KIND_MESH_GATEWAY:
		return "mesh-gateway"
	case catalogv1.ServiceKind_SERVICE_KIND_TERMINATING_GATEWAY:
		return "terminating-gateway"
	case catalogv1.ServiceKind_SERVICE_KIND_INGRESS_GATEWAY:
		return "ingress-gateway"
	case catalogv1.ServiceKind_SERVICE_KIND_API_GATEWAY:
		return "api-gateway"
	}
	return ""
}

// kindFromString is the inverse of KindString; ok is false for a name
// Consul does not have.
func kindFromString(s string) (catalogv1.ServiceKind, bool) {
	for _, k := range []catalogv1.ServiceKind{
		catalogv1.ServiceKind_SERVICE_KIND_UNSPECIFIED,
		catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY,
		catalogv1.ServiceKind_SERVICE_KIND_MESH_GATEWAY,
		catalogv1.ServiceKind_SERVICE_KIND_TERMINATING_GATEWAY,
		catalogv1.ServiceKind_SERVICE_KIND_INGRESS_GATEWAY,
		catalogv1.ServiceKind_SERVICE_KIND_API_GATEWAY,
	} {
		if KindString(k) == s {
			return k, true
		}
	}
	return 0, false
}

// defaultWeights are Consul's weights for an instance registered without
// any.
var defaultWeights = Weights{Passing: 1, Warning: 1}

func weightsFromProto(w *catalogv1.Weights) Weights {
	if w == nil {
		return defaultWeights
	}
	return Weights{Passing: int(w.GetPassing()), Warning: int(w.GetWarning())}
}

func proxyFromProto(p *catalogv1.ConnectProxyConfig) ConnectProxyConfig {
	if p == nil {
		return ConnectProxyConfig{}
	}
	out := ConnectProxyConfig{
		DestinationServiceName: p.GetDestinationServiceName(),
		DestinationServiceID:   p.GetDestinationServiceId(),
		LocalServiceAddress:    p.GetLocalServiceAddress(),
		LocalServicePort:       int(p.GetLocalServicePort()),
		Config:                 structMap(p.GetConfig()),
	}
	for _, u := range p.GetUpstreams() {
		out.Upstreams = append(out.Upstreams, Upstream{
			DestinationType:  u.GetDestinationType(),
			DestinationName:  u.GetDestinationName(),
			Datacenter:       u.GetDatacenter(),
			LocalBindAddress: u.GetLocalBindAddress(),
			LocalBindPort:    int(u.GetLocalBindPort()),
			Config:           structMap(u.GetConfig()),
		})
	}
	return out
}

func serviceAddresses(m map[string]*catalogv1.ServiceAddress) map[string]ServiceAddress {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]ServiceAddress, len(m))
	for k, v := range m {
		out[k] = ServiceAddress{Address: v.GetAddress(), Port: int(v.GetPort())}
	}
	return out
}

func structMap(s *structpb.Struct) map[string]any {
	if len(s.GetFields()) == 0 {
		return nil
	}
	return s.AsMap()
}

// stringMap copies m, rendering nil as {} so clients can range over it.
func stringMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}

// stringList copies l, rendering nil as [] rather than null.
func stringList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return slices.Clone(l)
}
