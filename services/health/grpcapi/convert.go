package grpcapi

import (
	"fmt"
	"maps"
	"slices"

	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/health/checks"
	"github.com/beaconmesh/beacon/services/health/config"
	"github.com/beaconmesh/beacon/services/health/local"
)

// serviceFromWire turns a RegisterService request into a definition, as if
// it had been read from a file.
func serviceFromWire(req *agentv1.RegisterServiceRequest) (*config.Service, error) {
	svc := req.GetService()
	if svc == nil {
		return nil, &config.FieldError{Field: "service", Err: fmt.Errorf("is required")}
	}
	def, err := baseServiceFromWire("service", svc)
	if err != nil {
		return nil, err
	}
	for _, c := range req.GetChecks() {
		def.Checks = append(def.Checks, checkFromWire(c))
	}
	if sc := req.GetSidecarService(); sc != nil {
		side := &config.Service{}
		if sc.GetService() != nil {
			if side, err = baseServiceFromWire("sidecar_service.service", sc.GetService()); err != nil {
				return nil, err
			}
		}
		for _, c := range sc.GetChecks() {
			side.Checks = append(side.Checks, checkFromWire(c))
		}
		if def.Connect == nil {
			def.Connect = &config.Connect{}
		}
		def.Connect.SidecarService = side
	}
	return def, nil
}

func baseServiceFromWire(field string, svc *catalogv1.Service) (*config.Service, error) {
	kind := local.KindName(svc.GetKind())
	if _, ok := local.ServiceKind(kind); !ok || (kind == "" && svc.GetKind() != catalogv1.ServiceKind_SERVICE_KIND_UNSPECIFIED) {
		return nil, &config.FieldError{Field: field + ".kind", Err: fmt.Errorf("unknown kind %d", svc.GetKind())}
	}
	def := &config.Service{
		ID:                svc.GetId(),
		Name:              svc.GetService(),
		Tags:              slices.Clone(svc.GetTags()),
		Address:           svc.GetAddress(),
		Port:              int(svc.GetPort()),
		Meta:              maps.Clone(svc.GetMeta()),
		EnableTagOverride: svc.GetEnableTagOverride(),
		Kind:              kind,
	}
	if len(svc.GetTaggedAddresses()) > 0 {
		def.TaggedAddresses = map[string]config.ServiceAddress{}
		for k, a := range svc.GetTaggedAddresses() {
			def.TaggedAddresses[k] = config.ServiceAddress{Address: a.GetAddress(), Port: int(a.GetPort())}
		}
	}
	// Zero weights mean "not given" (a JSON body without Weights).
	if w := svc.GetWeights(); w != nil && (w.GetPassing() != 0 || w.GetWarning() != 0) {
		def.Weights = &config.Weights{Passing: int(w.GetPassing()), Warning: int(w.GetWarning())}
	}
	if p := svc.GetProxy(); p != nil {
		def.Proxy = &config.Proxy{
			DestinationServiceName: p.GetDestinationServiceName(),
			DestinationServiceID:   p.GetDestinationServiceId(),
			LocalServiceAddress:    p.GetLocalServiceAddress(),
			LocalServicePort:       int(p.GetLocalServicePort()),
		}
		if p.GetConfig() != nil {
			def.Proxy.Config = p.GetConfig().AsMap()
		}
		for _, u := range p.GetUpstreams() {
			up := config.Upstream{
				DestinationType:  u.GetDestinationType(),
				DestinationName:  u.GetDestinationName(),
				Datacenter:       u.GetDatacenter(),
				LocalBindAddress: u.GetLocalBindAddress(),
				LocalBindPort:    int(u.GetLocalBindPort()),
			}
			if u.GetConfig() != nil {
				up.Config = u.GetConfig().AsMap()
			}
			def.Proxy.Upstreams = append(def.Proxy.Upstreams, up)
		}
	}
	if svc.GetConnect().GetNative() {
		def.Connect = &config.Connect{Native: true}
	}
	return def, nil
}

// checkFromWire turns a CheckRegistration into a definition.
func checkFromWire(r *agentv1.CheckRegistration) config.Check {
	c := config.Check{
		ID:                     r.GetCheckId(),
		Name:                   r.GetName(),
		Notes:                  r.GetNotes(),
		ServiceID:              r.GetServiceId(),
		SuccessBeforePassing:   int(r.GetSuccessBeforePassing()),
		FailuresBeforeWarning:  int(r.GetFailuresBeforeWarning()),
		FailuresBeforeCritical: int(r.GetFailuresBeforeCritical()),
	}
	if r.GetStatus() != catalogv1.HealthStatus_HEALTH_STATUS_UNSPECIFIED {
		c.Status = checks.StatusName(r.GetStatus())
	}
	d := r.GetDefinition()
	c.Interval = d.GetInterval().AsDuration()
	c.Timeout = d.GetTimeout().AsDuration()
	c.DeregisterCriticalServiceAfter = d.GetDeregisterCriticalServiceAfter().AsDuration()
	switch k := d.GetKind().(type) {
	case *catalogv1.CheckDefinition_Http:
		h := k.Http
		c.HTTP, c.Method, c.Body = h.GetUrl(), h.GetMethod(), h.GetBody()
		c.TLSSkipVerify, c.TLSServerName = h.GetTlsSkipVerify(), h.GetTlsServerName()
		if len(h.GetHeader()) > 0 {
			c.Header = map[string][]string{}
			for name, vs := range h.GetHeader() {
				c.Header[name] = slices.Clone(vs.GetValues())
			}
		}
	case *catalogv1.CheckDefinition_Tcp:
		c.TCP, c.TCPUseTLS = k.Tcp.GetAddress(), k.Tcp.GetUseTls()
	case *catalogv1.CheckDefinition_Grpc:
		c.GRPC, c.GRPCUseTLS = k.Grpc.GetTarget(), k.Grpc.GetUseTls()
	case *catalogv1.CheckDefinition_Ttl:
		c.TTL = k.Ttl.GetTtl().AsDuration()
	case *catalogv1.CheckDefinition_Script:
		c.Args = slices.Clone(k.Script.GetArgs())
	case *catalogv1.CheckDefinition_Alias:
		c.AliasNode, c.AliasService = k.Alias.GetNode(), k.Alias.GetServiceId()
	}
	return c
}
