package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestParseUpstream(t *testing.T) {
	for _, tt := range []struct {
		in, service, bind, err string
	}{
		{"socat:9191", "socat", "127.0.0.1:9191", ""},
		{"db:1", "db", "127.0.0.1:1", ""},
		{"socat", "", "", "want <service>:<local port>"},
		{":9191", "", "", "want <service>:<local port>"},
		{"socat:http", "", "", "is not a port number"},
		{"socat:70000", "", "", "is not a port number"},
	} {
		u, err := ParseUpstream(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseUpstream(%q) = %+v, %v; want error %q", tt.in, u, err, tt.err)
			}
			continue
		}
		if err != nil || u.Service != tt.service || u.BindAddr != tt.bind {
			t.Errorf("ParseUpstream(%q) = %+v, %v; want %s on %s", tt.in, u, err, tt.service, tt.bind)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := func(f func(*Config)) Config {
		c := DefaultConfig()
		f(&c)
		return c
	}
	for _, tt := range []struct {
		name string
		cfg  Config
		err  string
	}{
		{"sidecar", ok(func(c *Config) { c.SidecarFor = "web" }), ""},
		{"ad-hoc client", ok(func(c *Config) {
			c.Service = "web"
			c.Upstreams = []Upstream{{Service: "db", BindAddr: "127.0.0.1:9191"}}
		}), ""},
		{"ad-hoc server", ok(func(c *Config) { c.Service = "web"; c.Listen = ":8443"; c.ServiceAddr = "127.0.0.1:8080" }), ""},
		{"neither", ok(func(*Config) {}), "one of -sidecar-for or -service"},
		{"both", ok(func(c *Config) { c.SidecarFor = "web"; c.Service = "web" }), "cannot be used together"},
		{"listen without service-addr", ok(func(c *Config) { c.Service = "web"; c.Listen = ":8443" }), "go together"},
		{"listen with sidecar", ok(func(c *Config) { c.SidecarFor = "web"; c.Listen = ":8443" }), "only go with -service"},
		{"bad catalog", ok(func(c *Config) { c.Service = "web"; c.CatalogAddrs = []string{"nowhere"} }), `-catalog "nowhere"`},
		{"no catalog", ok(func(c *Config) { c.Service = "web"; c.CatalogAddrs = nil }), "at least one address"},
		{"same bind twice", ok(func(c *Config) {
			c.Service = "web"
			c.Upstreams = []Upstream{{Service: "a", BindAddr: "127.0.0.1:1"}, {Service: "b", BindAddr: "127.0.0.1:1"}}
		}), "used twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.err == "" && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.err)
			}
		})
	}
}

func sidecar(id, destID, destName string, port int32, mod func(*catalogv1.Service)) *catalogv1.Service {
	s := &catalogv1.Service{
		Id: id, Service: destName + "-sidecar-proxy", Kind: catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY, Port: port,
		Proxy: &catalogv1.ConnectProxyConfig{DestinationServiceId: destID, DestinationServiceName: destName, LocalServiceAddress: "127.0.0.1", LocalServicePort: 8080},
	}
	if mod != nil {
		mod(s)
	}
	return s
}

func TestSidecarPlan(t *testing.T) {
	mustStruct := func(m map[string]any) *structpb.Struct {
		s, err := structpb.NewStruct(m)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tt := range []struct {
		name      string
		svc       *catalogv1.Service
		bind      string
		local     string
		upstreams []Upstream
		err       string
	}{
		{"defaults", sidecar("web-sidecar-proxy", "web", "web", 21000, nil), "0.0.0.0:21000", "127.0.0.1:8080", nil, ""},
		{"service address", sidecar("s", "web", "web", 21000, func(s *catalogv1.Service) { s.Address = "10.0.0.5" }), "10.0.0.5:21000", "127.0.0.1:8080", nil, ""},
		{"bind_address and bind_port", sidecar("s", "web", "web", 21000, func(s *catalogv1.Service) {
			s.Proxy.Config = mustStruct(map[string]any{"bind_address": "127.0.0.2", "bind_port": "21500"})
		}), "127.0.0.2:21500", "127.0.0.1:8080", nil, ""},
		{"upstreams", sidecar("s", "web", "web", 21000, func(s *catalogv1.Service) {
			s.Proxy.LocalServiceAddress = ""
			s.Proxy.Upstreams = []*catalogv1.Upstream{
				{DestinationName: "db", LocalBindPort: 9191},
				{DestinationName: "cache", LocalBindAddress: "127.0.0.3", LocalBindPort: 9192, Config: mustStruct(map[string]any{"connect_timeout_ms": 2500})},
			}
		}), "0.0.0.0:21000", "127.0.0.1:8080", []Upstream{
			{Service: "db", BindAddr: "127.0.0.1:9191"},
			{Service: "cache", BindAddr: "127.0.0.3:9192", ConnectTimeout: 2500 * time.Millisecond},
		}, ""},
		{"prepared query upstream", sidecar("s", "web", "web", 21000, func(s *catalogv1.Service) {
			s.Proxy.Upstreams = []*catalogv1.Upstream{{DestinationType: "prepared_query", DestinationName: "q", LocalBindPort: 1}}
		}), "", "", nil, "not supported"},
		{"no port", sidecar("s", "web", "web", 0, nil), "", "", nil, "no port"},
		{"no local port", sidecar("s", "web", "web", 21000, func(s *catalogv1.Service) { s.Proxy.LocalServicePort = 0 }), "", "", nil, "local_service_port"},
		{"no destination", sidecar("s", "web", "", 21000, nil), "", "", nil, "destination_service_name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := sidecarPlan(tt.svc)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("sidecarPlan = %+v, %v; want error %q", p, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.service != "web" || p.public.bind != tt.bind || p.public.local != tt.local {
				t.Fatalf("plan = %s %+v, want web on %s to %s", p.service, *p.public, tt.bind, tt.local)
			}
			if len(p.upstreams) != len(tt.upstreams) {
				t.Fatalf("upstreams = %+v, want %+v", p.upstreams, tt.upstreams)
			}
			for i := range p.upstreams {
				if p.upstreams[i] != tt.upstreams[i] {
					t.Errorf("upstream %d = %+v, want %+v", i, p.upstreams[i], tt.upstreams[i])
				}
			}
		})
	}
}

type fakeAgent struct{ services []*catalogv1.Service }

func (f fakeAgent) Self(context.Context, *agentv1.SelfRequest, ...grpc.CallOption) (*agentv1.SelfResponse, error) {
	return &agentv1.SelfResponse{Config: &agentv1.AgentConfig{Datacenter: "dc1"}}, nil
}

func (f fakeAgent) ListServices(context.Context, *agentv1.ListServicesRequest, ...grpc.CallOption) (*agentv1.ListServicesResponse, error) {
	return &agentv1.ListServicesResponse{Services: f.services}, nil
}

func TestFindSidecar(t *testing.T) {
	agent := fakeAgent{services: []*catalogv1.Service{
		{Id: "web", Service: "web", Port: 8080},
		sidecar("web-sidecar-proxy", "web", "web", 21000, nil),
		sidecar("api-1-sidecar-proxy", "api-1", "api", 21001, nil),
		sidecar("cache-1-sidecar-proxy", "cache-1", "cache", 21002, nil),
		sidecar("cache-2-sidecar-proxy", "cache-2", "cache", 21003, nil),
	}}
	for _, tt := range []struct {
		target, want, err string
	}{
		{"web", "web-sidecar-proxy", ""},
		{"api-1", "api-1-sidecar-proxy", ""},
		{"api", "api-1-sidecar-proxy", ""}, // by name, when no ID matches
		{"cache-2", "cache-2-sidecar-proxy", ""},
		{"cache", "", "2 sidecar proxies"},
		{"db", "", "no sidecar proxy registered"},
	} {
		got, err := findSidecar(context.Background(), agent, tt.target)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("findSidecar(%q) = %v, %v; want error %q", tt.target, got.GetId(), err, tt.err)
			}
			continue
		}
		if err != nil || got.GetId() != tt.want {
			t.Errorf("findSidecar(%q) = %v, %v; want %s", tt.target, got.GetId(), err, tt.want)
		}
	}
}
