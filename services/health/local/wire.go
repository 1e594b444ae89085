package local

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"time"

	"github.com/beaconmesh/beacon/platform/tagged"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/health/config"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
)

var kinds = map[string]catalogv1.ServiceKind{
	config.KindTypical:            catalogv1.ServiceKind_SERVICE_KIND_UNSPECIFIED,
	config.KindConnectProxy:       catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY,
	config.KindMeshGateway:        catalogv1.ServiceKind_SERVICE_KIND_MESH_GATEWAY,
	config.KindTerminatingGateway: catalogv1.ServiceKind_SERVICE_KIND_TERMINATING_GATEWAY,
	config.KindIngressGateway:     catalogv1.ServiceKind_SERVICE_KIND_INGRESS_GATEWAY,
	config.KindAPIGateway:         catalogv1.ServiceKind_SERVICE_KIND_API_GATEWAY,
}

// KindName returns Consul's spelling of a service kind.
func KindName(k catalogv1.ServiceKind) string {
	for name, v := range kinds {
		if v == k {
			return name
		}
	}
	return ""
}

// ServiceKind returns the enum of Consul's spelling of a service kind.
func ServiceKind(name string) (catalogv1.ServiceKind, bool) {
	k, ok := kinds[name]
	return k, ok
}

// ToWire returns the catalog's form of a normalized service definition.
func ToWire(s *config.Service) *catalogv1.Service {
	out := &catalogv1.Service{
		Id:                s.ID,
		Service:           s.Name,
		Tags:              append([]string(nil), s.Tags...),
		Address:           s.Address,
		Port:              int32(s.Port),
		EnableTagOverride: s.EnableTagOverride,
		Kind:              kinds[s.Kind],
	}
	if len(s.Meta) > 0 {
		out.Meta = make(map[string]string, len(s.Meta))
		for k, v := range s.Meta {
			out.Meta[k] = v
		}
	}
	if len(s.TaggedAddresses) > 0 {
		out.TaggedAddresses = make(map[string]*catalogv1.ServiceAddress, len(s.TaggedAddresses))
		for k, a := range s.TaggedAddresses {
			out.TaggedAddresses[k] = &catalogv1.ServiceAddress{Address: a.Address, Port: int32(a.Port)}
		}
	}
	if s.Weights != nil {
		out.Weights = &catalogv1.Weights{Passing: int32(s.Weights.Passing), Warning: int32(s.Weights.Warning)}
	}
	if p := s.Proxy; p != nil {
		out.Proxy = &catalogv1.ConnectProxyConfig{
			DestinationServiceName: p.DestinationServiceName,
			DestinationServiceId:   p.DestinationServiceID,
			LocalServiceAddress:    p.LocalServiceAddress,
			LocalServicePort:       int32(p.LocalServicePort),
			Config:                 toStruct(p.Config),
		}
		for _, u := range p.Upstreams {
			out.Proxy.Upstreams = append(out.Proxy.Upstreams, &catalogv1.Upstream{
				DestinationType:  u.DestinationType,
				DestinationName:  u.DestinationName,
				Datacenter:       u.Datacenter,
				LocalBindAddress: u.LocalBindAddress,
				LocalBindPort:    int32(u.LocalBindPort),
				Config:           toStruct(u.Config),
			})
		}
	}
	if s.Connect != nil && s.Connect.Native {
		out.Connect = &catalogv1.ServiceConnect{Native: true}
	}
	return out
}

// addDefaultTaggedAddresses gives a service whose address is an IP the
// tagged addresses a Consul agent adds to what it registers: lan_ipv4 and
// wan_ipv4 (or lan_ipv6 and wan_ipv6), each its address and port, unless
// the definition names them itself. A host name, or no address, adds none.
func addDefaultTaggedAddresses(s *catalogv1.Service) {
	family := tagged.Family(s.GetAddress())
	if family == "" {
		return
	}
	for _, key := range []string{"lan_" + family, "wan_" + family} {
		if _, ok := s.TaggedAddresses[key]; ok {
			continue
		}
		if s.TaggedAddresses == nil {
			s.TaggedAddresses = map[string]*catalogv1.ServiceAddress{}
		}
		s.TaggedAddresses[key] = &catalogv1.ServiceAddress{Address: s.GetAddress(), Port: s.GetPort()}
	}
}

func toStruct(m map[string]any) *structpb.Struct {
	if len(m) == 0 {
		return nil
	}
	st, err := structpb.NewStruct(m)
	if err != nil {
		return nil
	}
	return st
}

// DefinitionToWire returns the catalog's form of how a check runs.
func DefinitionToWire(c *config.Check) *catalogv1.CheckDefinition {
	d := &catalogv1.CheckDefinition{
		Interval:                       dur(c.Interval),
		Timeout:                        dur(c.Timeout),
		DeregisterCriticalServiceAfter: dur(c.DeregisterCriticalServiceAfter),
	}
	switch c.Type() {
	case config.TypeHTTP:
		h := &catalogv1.HTTPCheck{Url: c.HTTP, Method: c.Method, Body: c.Body, TlsSkipVerify: c.TLSSkipVerify, TlsServerName: c.TLSServerName}
		if len(c.Header) > 0 {
			h.Header = make(map[string]*catalogv1.HeaderValues, len(c.Header))
			for k, v := range c.Header {
				h.Header[k] = &catalogv1.HeaderValues{Values: append([]string(nil), v...)}
			}
		}
		d.Kind = &catalogv1.CheckDefinition_Http{Http: h}
	case config.TypeTCP:
		d.Kind = &catalogv1.CheckDefinition_Tcp{Tcp: &catalogv1.TCPCheck{Address: c.TCP, UseTls: c.TCPUseTLS}}
	case config.TypeGRPC:
		d.Kind = &catalogv1.CheckDefinition_Grpc{Grpc: &catalogv1.GRPCCheck{Target: c.GRPC, UseTls: c.GRPCUseTLS}}
	case config.TypeTTL:
		d.Kind = &catalogv1.CheckDefinition_Ttl{Ttl: &catalogv1.TTLCheck{Ttl: dur(c.TTL)}}
	case config.TypeScript:
		d.Kind = &catalogv1.CheckDefinition_Script{Script: &catalogv1.ScriptCheck{Args: append([]string(nil), c.Args...)}}
	case config.TypeAlias:
		d.Kind = &catalogv1.CheckDefinition_Alias{Alias: &catalogv1.AliasCheck{Node: c.AliasNode, ServiceId: c.AliasService}}
	}
	return d
}

func dur(d time.Duration) *durationpb.Duration {
	if d <= 0 {
		return nil
	}
	return durationpb.New(d)
}

// ContentHash is a short hash of a service's catalog form that changes
// whenever the agent's copy does (Consul's ContentHash).
func ContentHash(s *catalogv1.Service) string {
	c := proto.Clone(s).(*catalogv1.Service)
	c.CreateIndex, c.ModifyIndex = 0, 0
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// sameService compares a local service with the catalog's copy, ignoring
// what the catalog adds (indexes) and, with enable_tag_override, tags.
func sameService(local, remote *catalogv1.Service) bool {
	r := proto.Clone(remote).(*catalogv1.Service)
	r.CreateIndex, r.ModifyIndex = 0, 0
	if local.GetEnableTagOverride() {
		r.Tags = local.GetTags()
	}
	return proto.Equal(local, r)
}

// sameCheck compares a local check with the catalog's copy, ignoring what
// the catalog fills in; ignoreOutput leaves the output out (an output-only
// change waiting for its turn).
func sameCheck(local, remote *catalogv1.HealthCheck, ignoreOutput bool) bool {
	l := proto.Clone(local).(*catalogv1.HealthCheck)
	r := proto.Clone(remote).(*catalogv1.HealthCheck)
	for _, c := range []*catalogv1.HealthCheck{l, r} {
		c.CreateIndex, c.ModifyIndex = 0, 0
		c.ServiceName, c.ServiceTags = "", nil
		c.Node = ""
		if ignoreOutput {
			c.Output = ""
		}
	}
	return proto.Equal(l, r)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// changedKeys returns, sorted, the keys of m whose value satisfies changed.
func changedKeys[V any](m map[string]V, changed func(V) bool) []string {
	var keys []string
	for k, v := range m {
		if changed(v) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
