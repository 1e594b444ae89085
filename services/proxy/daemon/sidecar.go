package daemon

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
)

// Agent is the part of the node agent's API the proxy uses;
// agentv1.AgentServiceClient satisfies it.
type Agent interface {
	Self(ctx context.Context, in *agentv1.SelfRequest, opts ...grpc.CallOption) (*agentv1.SelfResponse, error)
	ListServices(ctx context.Context, in *agentv1.ListServicesRequest, opts ...grpc.CallOption) (*agentv1.ListServicesResponse, error)
}

// plan is what one proxy serves.
type plan struct {
	// service is the name the leaf certifies and intentions name.
	service string
	// proxyID is the sidecar registration's ID ("" without -sidecar-for).
	proxyID string
	// public is nil for a client-only proxy.
	public    *publicPlan
	upstreams []Upstream
}

type publicPlan struct {
	bind  string // the listener's address
	local string // the app's address
}

// findSidecar returns the connect-proxy registration on the agent whose
// destination service ID is target, or, if none, the only one whose
// destination service name is target.
func findSidecar(ctx context.Context, agent Agent, target string) (*catalogv1.Service, error) {
	resp, err := agent.ListServices(ctx, &agentv1.ListServicesRequest{})
	if err != nil {
		return nil, fmt.Errorf("list the agent's services: %w", err)
	}
	var byID, byName []*catalogv1.Service
	for _, s := range resp.GetServices() {
		if s.GetKind() != catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY {
			continue
		}
		if s.GetProxy().GetDestinationServiceId() == target {
			byID = append(byID, s)
		} else if s.GetProxy().GetDestinationServiceName() == target {
			byName = append(byName, s)
		}
	}
	found := cmp.Or(len(byID), len(byName))
	pick := byID
	if len(byID) == 0 {
		pick = byName
	}
	switch {
	case found == 0:
		return nil, fmt.Errorf("no sidecar proxy registered on the agent for service %q", target)
	case found > 1:
		ids := make([]string, len(pick))
		for i, s := range pick {
			ids[i] = s.GetId()
		}
		return nil, fmt.Errorf("%d sidecar proxies registered for service %q (%s); there must be one", found, target, strings.Join(ids, ", "))
	}
	return pick[0], nil
}

// sidecarPlan turns a sidecar registration into a plan, reading the
// built-in proxy's settings as Consul does: bind_address and bind_port
// in proxy.config (defaults: the sidecar's address, else 0.0.0.0, and its
// port), the local app at local_service_address:local_service_port, and
// each upstream's connect_timeout_ms.
func sidecarPlan(svc *catalogv1.Service) (plan, error) {
	px := svc.GetProxy()
	p := plan{service: px.GetDestinationServiceName(), proxyID: svc.GetId()}
	if p.service == "" {
		return plan{}, fmt.Errorf("sidecar %q: proxy.destination_service_name is empty", svc.GetId())
	}
	conf := px.GetConfig().GetFields()
	host := cmp.Or(stringField(conf, "bind_address"), svc.GetAddress(), "0.0.0.0")
	port := int(svc.GetPort())
	if v, ok := numberField(conf, "bind_port"); ok {
		port = int(v)
	}
	if port <= 0 {
		return plan{}, fmt.Errorf("sidecar %q: no port for the public listener", svc.GetId())
	}
	if px.GetLocalServicePort() <= 0 {
		return plan{}, fmt.Errorf("sidecar %q: proxy.local_service_port is not set", svc.GetId())
	}
	p.public = &publicPlan{
		bind:  net.JoinHostPort(host, strconv.Itoa(port)),
		local: net.JoinHostPort(cmp.Or(px.GetLocalServiceAddress(), "127.0.0.1"), strconv.Itoa(int(px.GetLocalServicePort()))),
	}
	for _, u := range px.GetUpstreams() {
		if t := u.GetDestinationType(); t != "" && t != "service" {
			return plan{}, fmt.Errorf("sidecar %q: upstream %q: destination_type %q is not supported", svc.GetId(), u.GetDestinationName(), t)
		}
		if u.GetDestinationName() == "" || u.GetLocalBindPort() <= 0 {
			return plan{}, fmt.Errorf("sidecar %q: an upstream needs destination_name and local_bind_port", svc.GetId())
		}
		up := Upstream{
			Service:  u.GetDestinationName(),
			BindAddr: net.JoinHostPort(cmp.Or(u.GetLocalBindAddress(), "127.0.0.1"), strconv.Itoa(int(u.GetLocalBindPort()))),
		}
		if ms, ok := numberField(u.GetConfig().GetFields(), "connect_timeout_ms"); ok && ms > 0 {
			up.ConnectTimeout = time.Duration(ms) * time.Millisecond
		}
		p.upstreams = append(p.upstreams, up)
	}
	return p, nil
}

func stringField(m map[string]*structpb.Value, key string) string {
	return m[key].GetStringValue()
}

// numberField reads a number given as a JSON number or a numeric string.
func numberField(m map[string]*structpb.Value, key string) (float64, bool) {
	v, ok := m[key]
	if !ok {
		return 0, false
	}
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		return k.NumberValue, true
	case *structpb.Value_StringValue:
		f, err := strconv.ParseFloat(k.StringValue, 64)
		return f, err == nil
	}
	return 0, false
}
