package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/rpcclient"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// TestClientsReachTheLeaderDirectly checks both halves of leader routing
// against real replicas: every answer names the replica that gave it and
// the leader, and a client dialled over all replicas (platform/rpcclient)
// then sends its writes to the leader itself, not through a follower.
func TestClientsReachTheLeaderDirectly(t *testing.T) {
	c := newTestCluster(t, 3)
	leader := c.leader(15 * time.Second)
	follower := c.follower(leader)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var md metadata.MD
	if _, err := kvv1.NewKVServiceClient(follower.conn).Put(ctx, &kvv1.PutRequest{Key: "k"}, grpc.Trailer(&md)); err != nil {
		t.Fatal(err)
	}
	if got := md.Get(rpcclient.ReplicaTrailer); len(got) != 1 || got[0] != follower.serverAddr {
		t.Errorf("a follower's answer names replica %v, want %s", got, follower.serverAddr)
	}
	if got := md.Get(rpcclient.LeaderTrailer); len(got) != 1 || got[0] != leader.serverAddr {
		t.Errorf("a follower's answer names leader %v, want %s", got, leader.serverAddr)
	}

	var addrs []string
	for _, r := range c.replicas {
		addrs = append(addrs, r.grpcAddr)
	}
	conn, err := rpcclient.Dial(rpcclient.Config{Addrs: addrs})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kv := kvv1.NewKVServiceClient(conn)
	answered := map[string]int{}
	for i := range 40 {
		var md metadata.MD
		if _, err := kv.Put(ctx, &kvv1.PutRequest{Key: "k"}, grpc.Trailer(&md), grpc.WaitForReady(true)); err != nil {
			t.Fatal(err)
		}
		if i >= 10 { // learning which connection reaches the leader takes at most one call per replica
			answered[md.Get(rpcclient.ReplicaTrailer)[0]]++
		}
	}
	if answered[leader.serverAddr] != 30 {
		t.Errorf("30 puts were answered by %v, want all by the leader %s", answered, leader.serverAddr)
	}
}
