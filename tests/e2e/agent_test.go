package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDevAgentElectsLeaderAndStopsCleanly(t *testing.T) {
	a := startDevAgent(t)
	took := a.waitLeader(t)
	t.Logf("dev agent leader %s after start", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("dev agent took %s to elect a leader", took)
	}
	a.stop(t)
	if !strings.Contains(a.logs(), "Starting Beacon agent") {
		t.Errorf("banner missing:\n%s", a.logs())
	}
}

// grpcurl is installed at a pinned version by scripts/tools.sh.
func grpcurl(t *testing.T, args ...string) string {
	t.Helper()
	bin := filepath.Join(repoDir, ".tools", "bin", "grpcurl")
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("grpcurl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestGrpcurlAgainstDevAgent(t *testing.T) {
	if _, err := exec.LookPath(filepath.Join(repoDir, ".tools", "bin", "grpcurl")); err != nil {
		t.Fatalf("grpcurl is not installed: run scripts/tools.sh (%v)", err)
	}
	a := startDevAgent(t)
	a.waitLeader(t)

	list := grpcurl(t, "-plaintext", a.GRPCAddr, "list")
	for _, svc := range []string{
		"beacon.catalog.v1.CatalogService", "beacon.catalog.v1.HealthService",
		"beacon.kv.v1.KVService", "beacon.kv.v1.SessionService", "beacon.kv.v1.TxnService",
		"beacon.operator.v1.StatusService", "beacon.operator.v1.OperatorService", "beacon.operator.v1.SnapshotService",
		"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
	} {
		if !strings.Contains(list, svc) {
			t.Errorf("grpcurl list is missing %s:\n%s", svc, list)
		}
	}
	desc := grpcurl(t, "-plaintext", a.GRPCAddr, "describe", "beacon.catalog.v1.CatalogService")
	if !strings.Contains(desc, "rpc Register ( .beacon.catalog.v1.RegisterRequest )") {
		t.Errorf("describe does not show Register:\n%s", desc)
	}
	grpcurl(t, "-plaintext", "-d", `{"node":{"node":"web-1","address":"10.0.0.7","meta":{"rack":"r1"}}}`,
		a.GRPCAddr, "beacon.catalog.v1.CatalogService/Register")
	nodes := grpcurl(t, "-plaintext", "-d", `{}`, a.GRPCAddr, "beacon.catalog.v1.CatalogService/ListNodes")
	if !strings.Contains(nodes, `"web-1"`) || !strings.Contains(nodes, `"10.0.0.7"`) {
		t.Errorf("registered node not listed:\n%s", nodes)
	}
	health := grpcurl(t, "-plaintext", "-d", `{"service":"beacon.catalog.v1.CatalogService"}`, a.GRPCAddr, "grpc.health.v1.Health/Check")
	if !strings.Contains(health, "SERVING") {
		t.Errorf("health check: %s", health)
	}
}

// TestLeaveStopsTheDevAgent checks that PUT /v1/agent/leave (beacon leave)
// stops the whole dev agent, as Consul's exits, instead of leaving its
// gateways and catalog running without a node agent.
func TestLeaveStopsTheDevAgent(t *testing.T) {
	t.Parallel()
	a, c := startAgent(t)
	if err := c.Agent().Leave(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.done:
		if a.err != nil {
			t.Errorf("the dev agent exited with %v after a leave\n%s", a.err, a.logs())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the dev agent still runs 20 s after a leave\n%s", a.logs())
	}
}
