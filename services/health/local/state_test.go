package local

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/health/checks"
	"github.com/beaconmesh/beacon/services/health/config"
	"github.com/beaconmesh/beacon/services/health/internal/fakecatalog"
	"github.com/google/go-cmp/cmp"
)

const node = "n1"

// testLogger sends logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// start returns a running State over cat; it stops when the test (or the
// synctest bubble) ends.
func start(t *testing.T, cat Catalog, mutate func(*Config)) *State {
	t.Helper()
	cfg := Config{
		Node:                &catalogv1.Node{Node: node, Address: "10.0.0.1", Datacenter: "dc1"},
		Catalog:             cat,
		AntiEntropyInterval: time.Hour,
		Stagger:             func(time.Duration) time.Duration { return 0 },
		Logger:              testLogger(t),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// svc parses one service definition written in HCL.
func svc(t *testing.T, hcl string) *config.Service {
	t.Helper()
	d, err := config.ParseFile("test.hcl", []byte(hcl))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Services) != 1 {
		t.Fatalf("want one service, got %d", len(d.Services))
	}
	return &d.Services[0]
}

func mustAdd(t *testing.T, s *State, def *config.Service) {
	t.Helper()
	if err := s.AddService(def, AddOptions{Source: SourceAPI}); err != nil {
		t.Fatal(err)
	}
}

func TestChangeDrivenWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := fakecatalog.New()
		s := start(t, fakecatalog.Client{C: cat}, func(c *Config) { c.CheckUpdateInterval = 5 * time.Minute })
		mustAdd(t, s, svc(t, `service { name = "web" port = 80 check { ttl = "1h" } }`))
		synctest.Wait()
		if got := cat.Check(node, "service:web"); got.GetStatus() != checks.Critical {
			t.Fatalf("a new check starts critical in the catalog: %v", got)
		}
		writes := cat.Writes()

		// A result that repeats costs nothing.
		for range 5 {
			s.UpdateCheck("service:web", checks.Critical, "")
		}
		synctest.Wait()
		if cat.Writes() != writes {
			t.Fatalf("repeated results made %d writes", cat.Writes()-writes)
		}

		// A status change is written at once.
		s.UpdateCheck("service:web", checks.Passing, "ok")
		synctest.Wait()
		if got := cat.Check(node, "service:web"); got.GetStatus() != checks.Passing || got.GetOutput() != "ok" {
			t.Fatalf("after a status flip: %v", got)
		}
		if cat.Writes() != writes+1 {
			t.Fatalf("a status flip made %d writes, want 1", cat.Writes()-writes)
		}
		writes = cat.Writes()

		// Output-only changes wait for the check's update interval, and
		// several collapse into one write carrying the newest output.
		for i := range 10 {
			s.UpdateCheck("service:web", checks.Passing, fmt.Sprint("ok ", i))
			time.Sleep(10 * time.Second)
		}
		synctest.Wait()
		if got := cat.Check(node, "service:web"); got.GetOutput() != "ok" || cat.Writes() != writes {
			t.Fatalf("output-only changes were written early: %v, %d writes", got, cat.Writes()-writes)
		}
		if c, _ := s.Check("service:web"); c.GetOutput() != "ok 9" {
			t.Fatalf("the agent's own view lags: %v", c)
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if got := cat.Check(node, "service:web"); got.GetOutput() != "ok 9" || cat.Writes() != writes+1 {
			t.Fatalf("deferred output: %v, %d writes", got, cat.Writes()-writes)
		}
		writes = cat.Writes()

		// A status change while an output change waits goes out at once,
		// with the newest output.
		s.UpdateCheck("service:web", checks.Passing, "ok 10")
		s.UpdateCheck("service:web", checks.Warning, "slow")
		synctest.Wait()
		if got := cat.Check(node, "service:web"); got.GetStatus() != checks.Warning || got.GetOutput() != "slow" || cat.Writes() != writes+1 {
			t.Fatalf("status change during a deferral: %v, %d writes", got, cat.Writes()-writes)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if cat.Writes() != writes+1 {
			t.Fatalf("a cancelled deferral still wrote: %d writes", cat.Writes()-writes)
		}
	})
}

func TestAntiEntropy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := fakecatalog.New()
		// The catalog's own registrations of the node, which the agent must leave alone.
		cat.Put(node, &catalogv1.Service{Id: "consul", Service: "consul"},
			&catalogv1.HealthCheck{CheckId: "serfHealth", Name: "Serf Health Status", Status: checks.Passing})
		s := start(t, fakecatalog.Client{C: cat}, func(c *Config) { c.AntiEntropyInterval = time.Minute })
		mustAdd(t, s, svc(t, `service { name = "web" port = 80 check { ttl = "1h" status = "passing" } }`))
		mustAdd(t, s, svc(t, `service { name = "db" port = 5432 }`))
		synctest.Wait()
		want := []string{"consul", "db", "web"}
		if diff := cmp.Diff(want, cat.ServiceIDs(node)); diff != "" {
			t.Fatalf("services (-want +got):\n%s", diff)
		}

		// A full sync with nothing to repair writes nothing.
		writes := cat.Writes()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if cat.Writes() != writes {
			t.Fatalf("anti-entropy with no drift made %d writes", cat.Writes()-writes)
		}
		if cat.Calls("NodeServices") < 2 {
			t.Fatalf("anti-entropy did not run: %d reads", cat.Calls("NodeServices"))
		}

		tests := []struct {
			name  string
			drift func()
		}{
			{"snapshot restore", cat.Restore},
			{"out-of-band deregistration", func() { cat.Remove(node, "web") }},
			{"catalog edit", func() { cat.Put(node, &catalogv1.Service{Id: "db", Service: "db", Port: 1}) }},
			{"check status edit", func() {
				cat.Put(node, nil, &catalogv1.HealthCheck{CheckId: "service:web", ServiceId: "web", Status: checks.Critical})
			}},
			{"strays", func() {
				cat.Put(node, &catalogv1.Service{Id: "stray", Service: "stray"},
					&catalogv1.HealthCheck{CheckId: "stray-check", ServiceId: "stray"},
					&catalogv1.HealthCheck{CheckId: "node-stray"})
			}},
		}
		for _, tt := range tests {
			tt.drift()
			time.Sleep(time.Minute + time.Minute/8 + time.Second)
			synctest.Wait()
			if got := cat.Service(node, "web"); got.GetPort() != 80 {
				t.Fatalf("%s: web not repaired: %v", tt.name, got)
			}
			if got := cat.Service(node, "db"); got.GetPort() != 5432 {
				t.Fatalf("%s: db not repaired: %v", tt.name, got)
			}
			if got := cat.Check(node, "service:web"); got.GetStatus() != checks.Passing {
				t.Fatalf("%s: check not repaired: %v", tt.name, got)
			}
			for _, id := range cat.ServiceIDs(node) {
				if id != "web" && id != "db" && id != "consul" {
					t.Fatalf("%s: stray service %q left", tt.name, id)
				}
			}
			for _, id := range cat.CheckIDs(node) {
				if id != "service:web" && id != "serfHealth" {
					t.Fatalf("%s: stray check %q left", tt.name, id)
				}
			}
		}
	})
}

func TestSyncRetriesAfterFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := fakecatalog.New()
		cat.SetFailure(fmt.Errorf("catalog down"))
		s := start(t, fakecatalog.Client{C: cat}, nil)
		mustAdd(t, s, svc(t, `service { name = "web" }`))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if cat.Service(node, "web") != nil {
			t.Fatal("registered while the catalog fails")
		}
		cat.SetFailure(nil)
		time.Sleep(maxRetry)
		synctest.Wait()
		if cat.Service(node, "web") == nil {
			t.Fatal("not registered after the catalog came back")
		}
	})
}

func TestDeregisterCriticalServiceAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := fakecatalog.New()
		s := start(t, fakecatalog.Client{C: cat}, nil)
		mustAdd(t, s, svc(t, `service {
  name = "web"
  connect { sidecar_service {} }
  check { ttl = "1h" deregister_critical_service_after = "90s" }
}`))
		mustAdd(t, s, svc(t, `service { name = "db" check { ttl = "1h" deregister_critical_service_after = "90s" } }`))
		time.Sleep(time.Minute)
		if err := s.UpdateTTL("service:db", checks.Passing, ""); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()
		if cat.Service(node, "web") == nil {
			t.Fatal("reaped before 90 s")
		}
		// Critical for 90 s, then found by the reaper within its 30 s period.
		time.Sleep(40 * time.Second)
		synctest.Wait()
		if _, _, err := s.Service("web"); err == nil {
			t.Fatal("web is still owned after being critical for 2 m")
		}
		if diff := cmp.Diff([]string{"db"}, cat.ServiceIDs(node)); diff != "" {
			t.Fatalf("catalog services (-want +got):\n%s", diff)
		}
	})
}

func TestSidecar(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := fakecatalog.New()
		s := start(t, fakecatalog.Client{C: cat}, nil)
		mustAdd(t, s, svc(t, `service {
  name = "web"
  port = 8080
  check { ttl = "1h" }
  connect { sidecar_service { proxy { upstreams = [{ destination_name = "db", local_bind_port = 9191 }] } } }
}`))
		mustAdd(t, s, svc(t, `service { name = "api" address = "127.0.0.2" connect { sidecar_service {} } }`))
		synctest.Wait()
		sc := cat.Service(node, "web-sidecar-proxy")
		if sc.GetKind() != catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY || sc.GetPort() != 21000 ||
			sc.GetProxy().GetDestinationServiceName() != "web" || sc.GetProxy().GetDestinationServiceId() != "web" ||
			sc.GetProxy().GetLocalServiceAddress() != "127.0.0.1" || sc.GetProxy().GetLocalServicePort() != 8080 ||
			len(sc.GetProxy().GetUpstreams()) != 1 || sc.GetProxy().GetUpstreams()[0].GetLocalBindPort() != 9191 {
			t.Fatalf("web's sidecar: %v", sc)
		}
		if p := cat.Service(node, "api-sidecar-proxy").GetPort(); p != 21001 {
			t.Fatalf("api's sidecar port %d, want 21001", p)
		}
		// A sidecar is where its parent is, and is checked there.
		if a := cat.Service(node, "api-sidecar-proxy").GetAddress(); a != "127.0.0.2" {
			t.Fatalf("api's sidecar address %q, want the parent's 127.0.0.2", a)
		}
		if a := cat.Check(node, "service:api-sidecar-proxy:1").GetDefinition().GetTcp().GetAddress(); a != "127.0.0.2:21001" {
			t.Fatalf("api's sidecar listening check on %q, want 127.0.0.2:21001", a)
		}
		tcp := cat.Check(node, "service:web-sidecar-proxy:1")
		alias := cat.Check(node, "service:web-sidecar-proxy:2")
		if tcp.GetName() != "Connect Sidecar Listening" || tcp.GetDefinition().GetTcp().GetAddress() != "127.0.0.1:21000" {
			t.Fatalf("listening check: %v", tcp)
		}
		if alias.GetName() != "Connect Sidecar Aliasing web" || alias.GetDefinition().GetAlias().GetServiceId() != "web" {
			t.Fatalf("alias check: %v", alias)
		}
		// The alias follows its parent.
		if alias.GetStatus() != checks.Critical {
			t.Fatalf("alias of a critical parent: %v", alias)
		}
		if err := s.UpdateTTL("service:web", checks.Passing, ""); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := cat.Check(node, "service:web-sidecar-proxy:2"); got.GetStatus() != checks.Passing {
			t.Fatalf("alias of a passing parent: %v", got)
		}
		// Re-registering keeps the sidecar's port; removing the parent removes it.
		mustAdd(t, s, svc(t, `service { name = "web" port = 8081 connect { sidecar_service {} } }`))
		synctest.Wait()
		if sc := cat.Service(node, "web-sidecar-proxy"); sc.GetPort() != 21000 || sc.GetProxy().GetLocalServicePort() != 8081 {
			t.Fatalf("re-registered sidecar: %v", sc)
		}
		if err := s.RemoveService("web"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if diff := cmp.Diff([]string{"api", "api-sidecar-proxy"}, cat.ServiceIDs(node)); diff != "" {
			t.Fatalf("after removing web (-want +got):\n%s", diff)
		}
		// A parent re-registered without sidecar_service loses its sidecar.
		mustAdd(t, s, svc(t, `service { name = "api" }`))
		synctest.Wait()
		if diff := cmp.Diff([]string{"api"}, cat.ServiceIDs(node)); diff != "" {
			t.Fatalf("after dropping api's sidecar (-want +got):\n%s", diff)
		}
	})
}

func TestMaintenance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := fakecatalog.New()
		s := start(t, fakecatalog.Client{C: cat}, nil)
		mustAdd(t, s, svc(t, `service { name = "web" check { ttl = "1h" status = "passing" } }`))
		synctest.Wait()
		if err := s.SetMaintenance("web", true, "", "tok"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMaintenance("", true, "patching", ""); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMaintenance("nope", true, "", ""); err == nil {
			t.Fatal("maintenance of an unknown service succeeded")
		}
		synctest.Wait()
		sm := cat.Check(node, "_service_maintenance:web")
		if sm.GetStatus() != checks.Critical || sm.GetServiceId() != "web" || sm.GetName() != "Service Maintenance Mode" ||
			sm.GetNotes() != "Maintenance mode is enabled for this service, but no reason was provided. This is a default message." {
			t.Fatalf("service maintenance check: %v", sm)
		}
		if nm := cat.Check(node, "_node_maintenance"); nm.GetNotes() != "patching" || nm.GetName() != "Node Maintenance Mode" {
			t.Fatalf("node maintenance check: %v", nm)
		}
		if !s.InMaintenance("") || !s.InMaintenance("web") {
			t.Fatal("InMaintenance")
		}
		if err := s.SetMaintenance("web", false, "", ""); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMaintenance("", false, "", ""); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if diff := cmp.Diff([]string{"service:web"}, cat.CheckIDs(node)); diff != "" {
			t.Fatalf("checks after maintenance (-want +got):\n%s", diff)
		}
		if !slices.Contains(cat.Tokens(), "tok") {
			t.Fatalf("the maintenance write did not carry its token: %q", cat.Tokens())
		}
	})
}

func TestReplaceExistingChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := fakecatalog.New()
		s := start(t, fakecatalog.Client{C: cat}, nil)
		mustAdd(t, s, svc(t, `service { name = "web" check { id = "a" name = "a" ttl = "1h" } }`))
		if err := s.AddService(svc(t, `service { name = "web" check { id = "b" name = "b" ttl = "1h" } }`), AddOptions{}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if diff := cmp.Diff([]string{"a", "b"}, cat.CheckIDs(node)); diff != "" {
			t.Fatalf("checks kept (-want +got):\n%s", diff)
		}
		if err := s.AddService(svc(t, `service { name = "web" check { id = "c" name = "c" ttl = "1h" } }`), AddOptions{ReplaceExistingChecks: true}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if diff := cmp.Diff([]string{"c"}, cat.CheckIDs(node)); diff != "" {
			t.Fatalf("checks replaced (-want +got):\n%s", diff)
		}
	})
}

func TestScriptChecksNeedTheFlag(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := start(t, fakecatalog.Client{C: fakecatalog.New()}, nil)
		err := s.AddService(svc(t, `service { name = "web" check { args = ["true"] interval = "10s" } }`), AddOptions{})
		if err == nil || !strings.Contains(err.Error(), "enable-script-checks") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestDefaultServiceTaggedAddresses: as a Consul agent, a service with an
// IP address gets lan/wan tagged addresses of its family (address and
// port) unless it names them; one without an address, or with a host
// name, gets none. The agent's view and the catalog's agree.
func TestDefaultServiceTaggedAddresses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := fakecatalog.New()
		s := start(t, fakecatalog.Client{C: cat}, nil)
		mustAdd(t, s, svc(t, `service { name = "v4" address = "10.1.2.3" port = 8080 }`))
		mustAdd(t, s, svc(t, `service { name = "v6" address = "fd00::7" port = 9090 }`))
		mustAdd(t, s, svc(t, `service {
  name = "own"
  address = "10.1.2.4"
  port = 7070
  tagged_addresses { wan_ipv4 = { address = "203.0.113.9", port = 443 } }
}`))
		mustAdd(t, s, svc(t, `service { name = "none" port = 1 }`))
		mustAdd(t, s, svc(t, `service { name = "named" address = "db.example" port = 2 }`))
		synctest.Wait()
		type addr struct {
			Address string
			Port    int32
		}
		tagged := func(sv *catalogv1.Service) map[string]addr {
			out := map[string]addr{}
			for k, a := range sv.GetTaggedAddresses() {
				out[k] = addr{a.GetAddress(), a.GetPort()}
			}
			return out
		}
		want := map[string]map[string]addr{
			"v4":    {"lan_ipv4": {"10.1.2.3", 8080}, "wan_ipv4": {"10.1.2.3", 8080}},
			"v6":    {"lan_ipv6": {"fd00::7", 9090}, "wan_ipv6": {"fd00::7", 9090}},
			"own":   {"lan_ipv4": {"10.1.2.4", 7070}, "wan_ipv4": {"203.0.113.9", 443}},
			"none":  {},
			"named": {},
		}
		for id, w := range want {
			if diff := cmp.Diff(w, tagged(cat.Service(node, id))); diff != "" {
				t.Errorf("%s in the catalog (-want +got):\n%s", id, diff)
			}
			local, _, err := s.Service(id)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(w, tagged(local)); diff != "" {
				t.Errorf("%s in the agent (-want +got):\n%s", id, diff)
			}
		}
	})
}
