package e2e

import (
	"fmt"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// TestConsulAPIAgent drives /v1/agent/* with the official client against
// the dev agent: self and members, registering a service with a TTL check
// and a Connect sidecar, TTL updates, a node-level check registered on its
// own, maintenance mode, and deregistration — each visible in the catalog
// and health endpoints.
func TestConsulAPIAgent(t *testing.T) {
	t.Parallel()
	_, c := startAgent(t)
	ag := c.Agent()

	self, err := ag.Self()
	if err != nil {
		t.Fatal(err)
	}
	if got := self["Config"]["NodeName"]; got != devNode {
		t.Errorf("self Config.NodeName = %v, want %s", got, devNode)
	}
	if got := self["Config"]["Datacenter"]; got != "dc1" {
		t.Errorf("self Config.Datacenter = %v", got)
	}
	name, err := ag.NodeName()
	if err != nil || name != devNode {
		t.Errorf("NodeName = %q, %v", name, err)
	}
	members, err := ag.Members(false)
	if err != nil || len(members) != 1 || members[0].Name != devNode || members[0].Status != 1 {
		t.Fatalf("members = %+v, %v", members, err)
	}

	reg := &consulapi.AgentServiceRegistration{
		ID: "web1", Name: "web", Port: 8080, Tags: []string{"v1"},
		Meta:  map[string]string{"team": "edge"},
		Check: &consulapi.AgentServiceCheck{CheckID: "web1-ttl", Name: "web ttl", TTL: "30s"},
		Connect: &consulapi.AgentServiceConnect{SidecarService: &consulapi.AgentServiceRegistration{
			Proxy: &consulapi.AgentServiceConnectProxyConfig{Upstreams: []consulapi.Upstream{{DestinationName: "db", LocalBindPort: 9191}}},
		}},
	}
	if err := ag.ServiceRegister(reg); err != nil {
		t.Fatalf("register: %v", err)
	}
	svc, _, err := ag.Service("web1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Service != "web" || svc.Port != 8080 || svc.Meta["team"] != "edge" {
		t.Errorf("agent service = %+v", svc)
	}
	sidecar, _, err := ag.Service("web1-sidecar-proxy", nil)
	if err != nil {
		t.Fatalf("sidecar: %v", err)
	}
	if sidecar.Kind != consulapi.ServiceKindConnectProxy || sidecar.Proxy == nil ||
		sidecar.Proxy.DestinationServiceName != "web" || sidecar.Proxy.LocalServicePort != 8080 ||
		sidecar.Port < 21000 || sidecar.Port > 21255 {
		t.Errorf("sidecar = %+v (proxy %+v)", sidecar, sidecar.Proxy)
	}
	if len(sidecar.Proxy.Upstreams) != 1 || sidecar.Proxy.Upstreams[0].DestinationName != "db" || sidecar.Proxy.Upstreams[0].LocalBindPort != 9191 {
		t.Errorf("sidecar upstreams = %+v", sidecar.Proxy.Upstreams)
	}

	// A TTL check starts critical; pass/warn/fail move it, with notes as output.
	statusOf := func(id string) (string, string) {
		checks, err := ag.Checks()
		if err != nil {
			t.Fatal(err)
		}
		ch := checks[id]
		if ch == nil {
			return "missing", ""
		}
		return ch.Status, ch.Output
	}
	if s, _ := statusOf("web1-ttl"); s != consulapi.HealthCritical {
		t.Errorf("new TTL check = %s, want critical", s)
	}
	for _, step := range []struct {
		do     func() error
		status string
		output string
	}{
		{func() error { return ag.PassTTL("web1-ttl", "all good") }, consulapi.HealthPassing, "all good"},
		{func() error { return ag.WarnTTL("web1-ttl", "slow") }, consulapi.HealthWarning, "slow"},
		{func() error { return ag.UpdateTTL("web1-ttl", "recovered", consulapi.HealthPassing) }, consulapi.HealthPassing, "recovered"},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.status, err)
		}
		if s, out := statusOf("web1-ttl"); s != step.status || out != step.output {
			t.Errorf("after update: %s %q, want %s %q", s, out, step.status, step.output)
		}
	}
	waitFor(t, 5*time.Second, "the passing instance in the catalog's health view", func() error {
		es, _, err := c.Health().Service("web", "v1", true, nil)
		if err != nil {
			return err
		}
		if len(es) != 1 || es[0].Service.ID != "web1" {
			return fmt.Errorf("%d passing instances", len(es))
		}
		return nil
	})
	// Updating an unknown check is a 404, as Consul's.
	if err := ag.PassTTL("nope", ""); err == nil {
		t.Error("passing an unknown check succeeded")
	}

	// A node-level TTL check registered on its own.
	if err := ag.CheckRegister(&consulapi.AgentCheckRegistration{ID: "disk", Name: "disk", AgentServiceCheck: consulapi.AgentServiceCheck{TTL: "1m", Status: consulapi.HealthPassing}}); err != nil {
		t.Fatal(err)
	}
	if s, _ := statusOf("disk"); s != consulapi.HealthPassing {
		t.Errorf("disk check = %s", s)
	}

	// Service maintenance: a critical _service_maintenance check hides it.
	if err := ag.EnableServiceMaintenance("web1", "deploying"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "maintenance hides the instance", func() error {
		es, _, err := c.Health().Service("web", "", true, nil)
		if err != nil {
			return err
		}
		if len(es) != 0 {
			return fmt.Errorf("%d passing instances", len(es))
		}
		return nil
	})
	// As Consul's, the reason is the maintenance check's notes.
	if checks, err := ag.Checks(); err != nil {
		t.Fatal(err)
	} else if ch := checks["_service_maintenance:web1"]; ch == nil || ch.Status != consulapi.HealthCritical || ch.Notes != "deploying" {
		t.Errorf("maintenance check = %+v", ch)
	}
	if err := ag.DisableServiceMaintenance("web1"); err != nil {
		t.Fatal(err)
	}
	if s, _ := statusOf("_service_maintenance:web1"); s != "missing" {
		t.Errorf("maintenance check after disable = %s", s)
	}

	// Deregistering the service takes its sidecar and checks with it.
	if err := ag.CheckDeregister("disk"); err != nil {
		t.Fatal(err)
	}
	if err := ag.ServiceDeregister("web1"); err != nil {
		t.Fatal(err)
	}
	svcs, err := ag.Services()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := svcs["web1"]; ok {
		t.Errorf("web1 still registered: %v", svcs)
	}
	if _, ok := svcs["web1-sidecar-proxy"]; ok {
		t.Errorf("the sidecar outlived its service: %v", svcs)
	}
	waitFor(t, 5*time.Second, "web gone from the catalog", func() error {
		cs, _, err := c.Catalog().Service("web", "", nil)
		if err != nil {
			return err
		}
		if len(cs) != 0 {
			return fmt.Errorf("%d instances", len(cs))
		}
		return nil
	})
	if err := ag.ServiceDeregister("web1"); err == nil {
		t.Error("deregistering an unknown service succeeded")
	}
	if err := ag.Reload(); err != nil {
		t.Errorf("reload: %v", err)
	}
}
