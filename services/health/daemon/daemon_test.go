package daemon

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/ids"
	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/health/internal/fakecatalog"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
)

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func writeFile(t *testing.T, dir, name, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type agentUnderTest struct {
	cat    *fakecatalog.Catalog
	client agentv1.AgentServiceClient
	dir    string
	reload chan struct{}
	cancel context.CancelFunc
	errc   chan error
}

func startAgent(t *testing.T, files map[string]string) *agentUnderTest {
	t.Helper()
	return startAgentWith(t, files, nil)
}

// startAgentWith is startAgent with setup run on the catalog and the
// config before the agent starts.
func startAgentWith(t *testing.T, files map[string]string, setup func(*fakecatalog.Catalog, *Config)) *agentUnderTest {
	t.Helper()
	cat := fakecatalog.New()
	addr, _ := cat.Serve(t)
	dir := t.TempDir()
	for name, src := range files {
		writeFile(t, dir, name, src)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reload := make(chan struct{})
	cfg := DefaultConfig()
	cfg.Node = "n1"
	cfg.CatalogAddrs = []string{addr}
	cfg.ConfigDirs = []string{dir}
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.GRPCListener = lis
	cfg.HeartbeatInterval, cfg.HeartbeatTTL = 100*time.Millisecond, time.Second
	cfg.AntiEntropyInterval = 500 * time.Millisecond
	cfg.Reload = reload
	cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if setup != nil {
		setup(cat, &cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, cfg) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	a := &agentUnderTest{cat: cat, client: agentv1.NewAgentServiceClient(conn), dir: dir, reload: reload, cancel: cancel, errc: errc}
	t.Cleanup(func() {
		cancel()
		select {
		case <-errc:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
		conn.Close()
	})
	return a
}

func (a *agentUnderTest) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-a.errc:
		a.errc <- err // for Cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func ttlCheck(name string) *agentv1.CheckRegistration {
	return &agentv1.CheckRegistration{Name: name, Definition: &catalogv1.CheckDefinition{
		Kind: &catalogv1.CheckDefinition_Ttl{Ttl: &catalogv1.TTLCheck{Ttl: durationpb.New(time.Hour)}},
	}}
}

func code(err error) codes.Code { return status.Code(err) }

func TestAgentAPI(t *testing.T) {
	a := startAgent(t, map[string]string{"web.hcl": `
service {
  name = "web"
  port = 8080
  check { ttl = "1h" }
  connect { sidecar_service {} }
}`})
	ctx := context.Background()
	cat := a.cat
	eventually(t, "web registered and the member joined", func() bool {
		return cat.Service("n1", "web-sidecar-proxy") != nil && cat.Member("n1") != nil
	})
	eventually(t, "heartbeats", func() bool { return cat.Calls("Heartbeat") >= 2 })

	self, err := a.client.Self(ctx, &agentv1.SelfRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := os.ReadFile(filepath.Join(a.dir, "data", "node-id"))
	if self.GetConfig().GetNodeName() != "n1" || self.GetConfig().GetDatacenter() != "dc1" ||
		self.GetConfig().GetNodeId() != strings.TrimSpace(string(id)) || self.GetMember().GetTags()["role"] != "node" ||
		self.GetConfig().GetServer() {
		t.Fatalf("self: %v (node-id file %q)", self, id)
	}
	if v, ok := self.GetMeta()["consul-network-segment"]; !ok || v != "" {
		t.Errorf("self meta = %v, want consul-network-segment \"\"", self.GetMeta())
	}
	// The node is registered as a Consul agent registers its own: with
	// lan/wan tagged addresses and the network-segment meta.
	node := cat.Node("n1")
	addr := node.GetAddress()
	wantTagged := map[string]string{"lan": addr, "lan_ipv4": addr, "wan": addr, "wan_ipv4": addr}
	if diff := cmp.Diff(wantTagged, node.GetTaggedAddresses()); addr == "" || diff != "" {
		t.Errorf("node tagged addresses (-want +got):\n%s", diff)
	}
	if v, ok := node.GetMeta()["consul-network-segment"]; !ok || v != "" || node.GetId() != self.GetConfig().GetNodeId() {
		t.Errorf("node = %v, want the segment meta and ID %s", node, self.GetConfig().GetNodeId())
	}
	members, err := a.client.Members(ctx, &agentv1.MembersRequest{})
	if err != nil || len(members.GetMembers()) != 1 || members.GetMembers()[0].GetStatus() != catalogv1.MemberStatus_MEMBER_STATUS_ALIVE {
		t.Fatalf("members: %v %v", members, err)
	}

	// Register through the API, with a token that reaches the catalog.
	tctx := metadata.AppendToOutgoingContext(ctx, "x-consul-token", "secret")
	_, err = a.client.RegisterService(tctx, &agentv1.RegisterServiceRequest{
		Service: &catalogv1.Service{Service: "api", Port: 9000, Tags: []string{"v1"}},
		Checks:  []*agentv1.CheckRegistration{ttlCheck("api alive")},
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "api registered", func() bool { return cat.Check("n1", "service:api") != nil })
	if !slices.Contains(cat.Tokens(), "secret") {
		t.Errorf("the request's token did not reach the catalog: %q", cat.Tokens())
	}
	list, err := a.client.ListServices(ctx, &agentv1.ListServicesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range list.GetServices() {
		ids = append(ids, s.GetId())
	}
	if !slices.Equal(ids, []string{"api", "web", "web-sidecar-proxy"}) {
		t.Fatalf("services: %q", ids)
	}
	got, err := a.client.GetService(ctx, &agentv1.GetServiceRequest{ServiceId: "api"})
	if err != nil || got.GetService().GetPort() != 9000 || got.GetContentHash() == "" {
		t.Fatalf("get service: %v %v", got, err)
	}
	if _, err := a.client.GetService(ctx, &agentv1.GetServiceRequest{ServiceId: "nope"}); code(err) != codes.NotFound {
		t.Fatalf("unknown service: %v", err)
	}
	_, err = a.client.RegisterService(ctx, &agentv1.RegisterServiceRequest{Service: &catalogv1.Service{Port: 1}})
	if code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "name: is required") {
		t.Fatalf("service without a name: %v", err)
	}

	// TTL updates.
	if _, err := a.client.UpdateCheck(ctx, &agentv1.UpdateCheckRequest{CheckId: "service:api", Status: catalogv1.HealthStatus_HEALTH_STATUS_PASSING, Output: "up"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "api check passing", func() bool {
		c := cat.Check("n1", "service:api")
		return c.GetStatus() == catalogv1.HealthStatus_HEALTH_STATUS_PASSING && c.GetOutput() == "up"
	})
	if _, err := a.client.UpdateCheck(ctx, &agentv1.UpdateCheckRequest{CheckId: "nope", Status: catalogv1.HealthStatus_HEALTH_STATUS_PASSING}); code(err) != codes.NotFound {
		t.Fatalf("update of an unknown check: %v", err)
	}
	if _, err := a.client.UpdateCheck(ctx, &agentv1.UpdateCheckRequest{CheckId: "service:web-sidecar-proxy:1", Status: catalogv1.HealthStatus_HEALTH_STATUS_PASSING}); code(err) != codes.InvalidArgument {
		t.Fatalf("update of a TCP check: %v", err)
	}

	// Node checks.
	if _, err := a.client.RegisterCheck(ctx, &agentv1.RegisterCheckRequest{Check: ttlCheck("disk")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "disk check", func() bool { return cat.Check("n1", "disk") != nil })
	checks, err := a.client.ListChecks(ctx, &agentv1.ListChecksRequest{})
	if err != nil || len(checks.GetChecks()) != 5 {
		t.Fatalf("checks: %v %v", checks, err)
	}
	if _, err := a.client.DeregisterCheck(ctx, &agentv1.DeregisterCheckRequest{CheckId: "disk"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "disk check removed", func() bool { return cat.Check("n1", "disk") == nil })

	// Maintenance.
	if _, err := a.client.Maintenance(ctx, &agentv1.MaintenanceRequest{Enable: true, Reason: "kernel upgrade"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node maintenance", func() bool { return cat.Check("n1", "_node_maintenance").GetNotes() == "kernel upgrade" })
	if _, err := a.client.Maintenance(ctx, &agentv1.MaintenanceRequest{ServiceId: "nope", Enable: true}); code(err) != codes.NotFound {
		t.Fatalf("maintenance of an unknown service: %v", err)
	}
	if _, err := a.client.Maintenance(ctx, &agentv1.MaintenanceRequest{Enable: false}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node maintenance off", func() bool { return cat.Check("n1", "_node_maintenance") == nil })

	// Deregistration.
	if _, err := a.client.DeregisterService(ctx, &agentv1.DeregisterServiceRequest{ServiceId: "api"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "api removed", func() bool { return cat.Service("n1", "api") == nil && cat.Check("n1", "service:api") == nil })
	if _, err := a.client.DeregisterService(ctx, &agentv1.DeregisterServiceRequest{ServiceId: "api"}); code(err) != codes.NotFound {
		t.Fatalf("second deregistration: %v", err)
	}

	// Leave: the member is left, the services gone, Run returns nil.
	if _, err := a.client.Leave(ctx, &agentv1.LeaveRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := a.wait(t); err != nil {
		t.Fatalf("Run after leave: %v", err)
	}
	if m := cat.Member("n1"); m.GetStatus() != catalogv1.MemberStatus_MEMBER_STATUS_LEFT {
		t.Fatalf("member after leave: %v", m)
	}
	if ids := cat.ServiceIDs("n1"); len(ids) != 0 {
		t.Fatalf("services after leave: %q", ids)
	}
}

func TestReload(t *testing.T) {
	a := startAgent(t, map[string]string{"web.hcl": `service { name = "web" check { ttl = "1h" } }`})
	ctx := context.Background()
	eventually(t, "web registered", func() bool { return a.cat.Service("n1", "web") != nil })
	if _, err := a.client.UpdateCheck(ctx, &agentv1.UpdateCheckRequest{CheckId: "service:web", Status: catalogv1.HealthStatus_HEALTH_STATUS_PASSING}); err != nil {
		t.Fatal(err)
	}

	// An invalid file: refused, naming file and line; nothing changes.
	writeFile(t, a.dir, "zz-bad.json", "{\"service\": {\n  \"name\": \"db\",\n  \"port\": \"five\"\n}}")
	_, err := a.client.Reload(ctx, &agentv1.ReloadRequest{})
	if code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), filepath.Join(a.dir, "zz-bad.json")+":3: service[0].port") {
		t.Fatalf("reload of an invalid file: %v", err)
	}
	list, _ := a.client.ListServices(ctx, &agentv1.ListServicesRequest{})
	if len(list.GetServices()) != 1 {
		t.Fatalf("services after a refused reload: %v", list)
	}

	// Fixed, and reloaded by signal (the Reload channel): db comes, web
	// keeps its status.
	writeFile(t, a.dir, "zz-bad.json", `{"service": {"name": "db", "port": 5432}}`)
	a.reload <- struct{}{}
	eventually(t, "db registered", func() bool { return a.cat.Service("n1", "db") != nil })
	c, err := a.client.ListChecks(ctx, &agentv1.ListChecksRequest{})
	if err != nil || c.GetChecks()[0].GetStatus() != catalogv1.HealthStatus_HEALTH_STATUS_PASSING {
		t.Fatalf("web's check after reload: %v %v", c, err)
	}

	// Removed from the files: gone.
	if err := os.Remove(filepath.Join(a.dir, "web.hcl")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.client.Reload(ctx, &agentv1.ReloadRequest{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "web deregistered", func() bool { return a.cat.Service("n1", "web") == nil })

	// Shutting down (SIGTERM) leaves too.
	a.cancel()
	if err := a.wait(t); err != nil {
		t.Fatal(err)
	}
	if m := a.cat.Member("n1"); m.GetStatus() != catalogv1.MemberStatus_MEMBER_STATUS_LEFT {
		t.Fatalf("member after shutdown: %v", m)
	}
}

func TestAntiEntropyRepairsARestore(t *testing.T) {
	a := startAgent(t, map[string]string{"web.json": `{"service": {"name": "web", "port": 80}}`})
	eventually(t, "web registered", func() bool { return a.cat.Service("n1", "web") != nil })
	a.cat.Restore()
	eventually(t, "member and web back", func() bool {
		return a.cat.Service("n1", "web") != nil && a.cat.Member("n1") != nil && a.cat.Check("n1", "serfHealth") != nil
	})
}

func TestRunRefusesInvalidFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "ok.hcl", `service { name = "web" }`)
	writeFile(t, dir, "web.hcl", "service {\n  name = \"web\"\n  check { http = \"http://x/\" }\n}\n")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Node = "n1"
	cfg.ConfigDirs = []string{dir}
	cfg.GRPCListener = lis
	err = Run(context.Background(), cfg)
	want := filepath.Join(dir, "web.hcl") + ":3: service[0].check[0].interval: is required for a http check"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want it to contain %q", err, want)
	}
	if _, err := lis.Accept(); err == nil {
		t.Fatal("the listener is still open")
	}

	writeFile(t, dir, "web.hcl", `service { name = "web" check { args = ["true"] interval = "10s" } }`)
	lis, _ = net.Listen("tcp", "127.0.0.1:0")
	cfg.GRPCListener = lis
	if err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "enable-script-checks") {
		t.Fatalf("script check without the flag: %v", err)
	}
}

// TestSelfOnAServerNode is the dev agent's case: the catalog replica on
// the same node is its member (role consul, the server port), and the
// agent takes the replica's node ID. Self must agree with the member list
// and the catalog: one ID, one member entry, Server true.
func TestSelfOnAServerNode(t *testing.T) {
	const id = "0b5f1a52-3c1e-4e0f-8d5a-2f7d6c9b1e44"
	server := &catalogv1.Member{
		Name: "n1", Address: "127.0.0.1", Port: 8300,
		Tags: map[string]string{"role": "consul", "dc": "dc1", "id": id, "port": "8300"},
	}
	a := startAgentWith(t, nil, func(cat *fakecatalog.Catalog, cfg *Config) {
		node := &catalogv1.Node{Id: id, Node: "n1", Address: "127.0.0.1"}
		if _, err := (fakecatalog.Client{C: cat}).JoinMember(context.Background(), &catalogv1.JoinMemberRequest{Member: server, Node: node}); err != nil {
			t.Fatal(err)
		}
		cfg.NodeID, cfg.Server, cfg.SkipMembership = id, true, true
		cfg.Advertise = "127.0.0.1"
	})
	self, err := a.client.Self(context.Background(), &agentv1.SelfRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !self.GetConfig().GetServer() || self.GetConfig().GetNodeId() != id {
		t.Errorf("self config = %v, want server with node ID %s", self.GetConfig(), id)
	}
	members, err := a.client.Members(context.Background(), &agentv1.MembersRequest{})
	if err != nil || len(members.GetMembers()) != 1 {
		t.Fatalf("members = %v, %v", members, err)
	}
	if diff := cmp.Diff(members.GetMembers()[0], self.GetMember(), protocmp.Transform()); diff != "" {
		t.Errorf("self member differs from the member list's (-list +self):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(a.dir, "data", "node-id")); err == nil {
		t.Error("the agent made a node-id file of its own although given one")
	}
}

// TestSelfWithoutCatalog: Self still answers, with the agent's own member.
func TestSelfWithoutCatalog(t *testing.T) {
	a := startAgent(t, nil)
	eventually(t, "the member joined", func() bool { return a.cat.Member("n1") != nil })
	a.cat.SetFailure(status.Error(codes.Unavailable, "no leader"))
	self, err := a.client.Self(context.Background(), &agentv1.SelfRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m := self.GetMember(); m.GetName() != "n1" || m.GetTags()["role"] != "node" || m.GetStatus() != catalogv1.MemberStatus_MEMBER_STATUS_ALIVE {
		t.Errorf("self member = %v", m)
	}
	a.cat.SetFailure(nil)
}

func TestNodeIDPersists(t *testing.T) {
	dir := t.TempDir()
	a, err := ids.LoadNodeID(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ids.LoadNodeID(dir)
	if err != nil || a != b || !ids.Valid(a) {
		t.Fatalf("node ids %q and %q (%v)", a, b, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "node-id"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ids.LoadNodeID(dir); err == nil {
		t.Fatal("a garbage node id was accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no node", func(c *Config) { c.Node = "" }, "node name is required"},
		{"bad dc", func(c *Config) { c.Datacenter = "a.b" }, "datacenter"},
		{"bad advertise", func(c *Config) { c.Advertise = "host" }, "advertise"},
		{"bad node id", func(c *Config) { c.NodeID = "node-1" }, "node id"},
		{"no catalog", func(c *Config) { c.CatalogAddrs = nil }, "catalog addrs"},
		{"bad catalog", func(c *Config) { c.CatalogAddrs = []string{"nohost"} }, "catalog addr"},
		{"bad grpc", func(c *Config) { c.GRPCAddr = "x" }, "grpc addr"},
		{"short ttl", func(c *Config) { c.HeartbeatTTL = 1500 * time.Millisecond }, "two heartbeat intervals"},
		{"negative", func(c *Config) { c.AntiEntropyInterval = -1 }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Node = "n1"
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}
