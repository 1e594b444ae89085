package daemon

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/ids"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestDevReplicaRegistersItsNodeAsConsulDoes: the replica's node carries
// the ID it was given (the one the dev agent's node agent reports too),
// Consul's lan/wan tagged addresses and the network-segment meta; its
// member entry carries the same ID.
func TestDevReplicaRegistersItsNodeAsConsulDoes(t *testing.T) {
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const id = "6f1c2b1e-6a3d-4c39-9d43-0c2f5b8e7a10"
	cfg := DefaultConfig()
	cfg.Node, cfg.NodeID, cfg.Dev = "dev1", id, true
	cfg.GRPCListener = gl
	cfg.Advertise = "127.0.0.1:8300"
	cfg.Logger = testLogger(t, "dev1")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	conn, err := grpc.NewClient(gl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	var node *catalogv1.Node
	deadline := time.Now().Add(10 * time.Second)
	for {
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		resp, err := catalogv1.NewCatalogServiceClient(conn).NodeServices(rctx, &catalogv1.NodeServicesRequest{Node: "dev1"})
		rcancel()
		if err == nil && resp.GetNode() != nil {
			node = resp.GetNode()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica's node was not registered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if node.GetId() != id {
		t.Errorf("node ID = %q, want %q", node.GetId(), id)
	}
	wantTagged := map[string]string{"lan": "127.0.0.1", "lan_ipv4": "127.0.0.1", "wan": "127.0.0.1", "wan_ipv4": "127.0.0.1"}
	if diff := cmp.Diff(wantTagged, node.GetTaggedAddresses()); diff != "" {
		t.Errorf("tagged addresses (-want +got):\n%s", diff)
	}
	if v, ok := node.GetMeta()["consul-network-segment"]; !ok || v != "" {
		t.Errorf("meta = %v, want consul-network-segment \"\"", node.GetMeta())
	}
	members, err := catalogv1.NewMembershipServiceClient(conn).ListMembers(ctx, &catalogv1.ListMembersRequest{})
	if err != nil || len(members.GetMembers()) != 1 || members.GetMembers()[0].GetTags()["id"] != id {
		t.Errorf("members = %v, %v; want one with id %s", members.GetMembers(), err, id)
	}
}

func TestLoadNodeIDKeepsTheReplicasID(t *testing.T) {
	dir := t.TempDir()
	id, err := ids.LoadNodeID(dir)
	if err != nil || id == "" {
		t.Fatalf("first load: %q, %v", id, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "node-id"))
	if err != nil || strings.TrimSpace(string(b)) != id {
		t.Fatalf("node-id file = %q, %v; want %q", b, err, id)
	}
	if again, err := ids.LoadNodeID(dir); err != nil || again != id {
		t.Fatalf("second load = %q, %v; want %q", again, err, id)
	}
}
