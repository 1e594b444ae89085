package command

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/consul/api"

	healthconfig "github.com/beaconmesh/beacon/services/health/config"
)

// Service definition files are read by the node agent's own loader, so
// that "services register" accepts and refuses exactly what the agent's
// -config-dir does, with the same messages. What it reads is then sent as
// the body consul/api sends to PUT /v1/agent/service/register.

// loadServices reads the services defined in paths (files, or directories
// of *.json and *.hcl files) as the agent does, printing the loader's
// warnings. Node-level checks are checked but not returned: like Consul's
// "services register", this registers services only. On error it returns
// one line naming every problem.
func loadServices(ui cli.Ui, paths []string) ([]healthconfig.Service, error) {
	defs, err := healthconfig.Load(paths)
	if err != nil {
		return nil, fmt.Errorf("%s", strings.Join(problemLines(err), "; "))
	}
	for _, w := range defs.Warnings {
		ui.Warn(oneLine(w))
	}
	if len(defs.Services) == 0 {
		return nil, fmt.Errorf("no service definitions in %s (want a \"service\" or \"services\" key)", strings.Join(paths, ", "))
	}
	return defs.Services, nil
}

// registration is the register body for s, a service as Load returns it.
// Values the agent derives from the service's ID (the ID itself when it
// is the name, check IDs "service:<id>[:<n>]") are left out, so that -id
// can still fill in a file's missing ID and the agent derives them again
// from the ID it is given.
//
// Not sent, as consul/api's body has no field for them (Consul's CLI drops
// them too): token, and a check's disable_redirects and output_max_size.
// Nor are the free-form mesh_gateway, expose and locality blocks, which
// the agent accepts and does not use.
func registration(s *healthconfig.Service) *api.AgentServiceRegistration {
	r := &api.AgentServiceRegistration{
		Kind:              api.ServiceKind(s.Kind),
		ID:                s.ID,
		Name:              s.Name,
		Tags:              s.Tags,
		Port:              s.Port,
		Address:           s.Address,
		SocketPath:        s.SocketPath,
		EnableTagOverride: s.EnableTagOverride,
		Meta:              s.Meta,
		Namespace:         s.Namespace,
		Partition:         s.Partition,
	}
	if r.ID == s.Name {
		r.ID = ""
	}
	if len(s.TaggedAddresses) > 0 {
		r.TaggedAddresses = make(map[string]api.ServiceAddress, len(s.TaggedAddresses))
		for k, a := range s.TaggedAddresses {
			r.TaggedAddresses[k] = api.ServiceAddress{Address: a.Address, Port: a.Port}
		}
	}
	if w := s.Weights; w != nil {
		r.Weights = &api.AgentWeights{Passing: w.Passing, Warning: w.Warning}
	}
	// A loaded service has its check folded into Checks; a sidecar block
	// (not normalized) may still have both.
	checks := append(append([]healthconfig.Check(nil), s.Check...), s.Checks...)
	for i := range checks {
		c := checkRegistration(&checks[i])
		if c.CheckID == healthconfig.DerivedCheckID(s.ID, i, len(checks)) {
			c.CheckID = ""
		}
		r.Checks = append(r.Checks, c)
	}
	if p := s.Proxy; p != nil {
		r.Proxy = &api.AgentServiceConnectProxyConfig{
			DestinationServiceName: p.DestinationServiceName,
			DestinationServiceID:   p.DestinationServiceID,
			LocalServiceAddress:    p.LocalServiceAddress,
			LocalServicePort:       p.LocalServicePort,
			Mode:                   api.ProxyMode(p.Mode),
			Config:                 p.Config,
		}
		for _, u := range p.Upstreams {
			r.Proxy.Upstreams = append(r.Proxy.Upstreams, api.Upstream{
				DestinationType:      api.UpstreamDestType(u.DestinationType),
				DestinationName:      u.DestinationName,
				DestinationNamespace: u.DestinationNamespace,
				DestinationPartition: u.DestinationPartition,
				DestinationPeer:      u.DestinationPeer,
				Datacenter:           u.Datacenter,
				LocalBindAddress:     u.LocalBindAddress,
				LocalBindPort:        u.LocalBindPort,
				Config:               u.Config,
			})
		}
	}
	if cn := s.Connect; cn != nil {
		r.Connect = &api.AgentServiceConnect{Native: cn.Native}
		if cn.SidecarService != nil {
			r.Connect.SidecarService = registration(cn.SidecarService)
		}
	}
	return r
}

func checkRegistration(c *healthconfig.Check) *api.AgentServiceCheck {
	return &api.AgentServiceCheck{
		CheckID:                        c.ID,
		Name:                           c.Name,
		Notes:                          c.Notes,
		Status:                         c.Status,
		Interval:                       duration(c.Interval),
		Timeout:                        duration(c.Timeout),
		TTL:                            duration(c.TTL),
		DeregisterCriticalServiceAfter: duration(c.DeregisterCriticalServiceAfter),
		HTTP:                           c.HTTP,
		Method:                         c.Method,
		Header:                         c.Header,
		Body:                           c.Body,
		TLSServerName:                  c.TLSServerName,
		TLSSkipVerify:                  c.TLSSkipVerify,
		TCP:                            c.TCP,
		TCPUseTLS:                      c.TCPUseTLS,
		GRPC:                           c.GRPC,
		GRPCUseTLS:                     c.GRPCUseTLS,
		Args:                           c.Args,
		AliasNode:                      c.AliasNode,
		AliasService:                   c.AliasService,
		SuccessBeforePassing:           c.SuccessBeforePassing,
		FailuresBeforeWarning:          c.FailuresBeforeWarning,
		FailuresBeforeCritical:         c.FailuresBeforeCritical,
	}
}

// duration is d as consul/api writes durations ("10s"), or "" for none.
func duration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}
