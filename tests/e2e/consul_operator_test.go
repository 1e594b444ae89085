package e2e

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

func TestConsulAPIStatusAndOperator(t *testing.T) {
	t.Parallel()
	_, c := startAgent(t)
	leader, err := c.Status().Leader()
	if err != nil || leader == "" {
		t.Fatalf("Status().Leader() = %q, %v", leader, err)
	}
	peers, err := c.Status().Peers()
	if err != nil || !slices.Equal(peers, []string{leader}) {
		t.Errorf("Status().Peers() = %v, %v; want [%s]", peers, err, leader)
	}
	cfg, err := c.Operator().RaftGetConfiguration(nil)
	if err != nil {
		t.Fatal(err)
	}
	// cfg.Index is left alone: hashicorp/raft's GetConfiguration has
	// reported 0 there since v1.1.2, in Consul too.
	if len(cfg.Servers) != 1 {
		t.Fatalf("RaftGetConfiguration() = %+v, want one server", cfg)
	}
	s := cfg.Servers[0]
	if s.Node != devNode || s.Address != leader || !s.Leader || !s.Voter || s.ID == "" {
		t.Errorf("raft server = %+v; want node %s at %s, leader and voter", s, devNode, leader)
	}
}

// TestConsulAPISnapshotRestore saves a snapshot, writes more, restores it:
// what was written after the save is gone, what was there before is back,
// and a query blocked on the state before the restore wakes.
func TestConsulAPISnapshotRestore(t *testing.T) {
	t.Parallel()
	a, c := startAgent(t)
	kv := c.KV()
	if _, err := kv.Put(&consulapi.KVPair{Key: "snap/before", Value: []byte("1")}, nil); err != nil {
		t.Fatal(err)
	}
	register(t, c, webInstance("n1", "10.0.0.1", "web-1", nil, nil, consulapi.HealthPassing))

	rc, meta, err := c.Snapshot().Save(nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || len(snap) == 0 {
		t.Fatalf("snapshot: %d bytes, %v", len(snap), err)
	}
	if meta.LastIndex == 0 {
		t.Errorf("snapshot X-Consul-Index = %d, want the index it holds", meta.LastIndex)
	}
	t.Logf("snapshot: %d bytes at index %d", len(snap), meta.LastIndex)

	if _, err := kv.Put(&consulapi.KVPair{Key: "snap/after", Value: []byte("2")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Delete("snap/before", nil); err != nil {
		t.Fatal(err)
	}
	register(t, c, webInstance("n2", "10.0.0.2", "web-2", nil, nil, consulapi.HealthPassing))
	p, kvMeta, err := kv.Get("snap/after", nil)
	if err != nil || p == nil {
		t.Fatalf("snap/after = %v, %v", p, err)
	}

	// A client watching snap/after blocks on its current index.
	type answer struct {
		p   *consulapi.KVPair
		err error
	}
	woke := make(chan answer, 1)
	go func() {
		p, _, err := kv.Get("snap/after", &consulapi.QueryOptions{WaitIndex: kvMeta.LastIndex, WaitTime: 30 * time.Second})
		woke <- answer{p, err}
	}()
	waitBlocked(t, a, "Get", 1)

	if err := c.Snapshot().Restore(nil, bytes.NewReader(snap)); err != nil {
		t.Fatalf("restore: %v", err)
	}
	restored := time.Now()
	select {
	case r := <-woke:
		if r.err != nil || r.p != nil {
			t.Errorf("the blocked query woke with %+v, %v; want the key gone", r.p, r.err)
		}
		t.Logf("the blocked query woke %s after the restore returned", time.Since(restored).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Error("a query blocked on the state before the restore did not wake within 10s")
	}

	if p, _, err := kv.Get("snap/after", nil); err != nil || p != nil {
		t.Errorf("snap/after after the restore = %+v, %v; want gone", p, err)
	}
	if p, _, err := kv.Get("snap/before", nil); err != nil || p == nil || string(p.Value) != "1" {
		t.Errorf("snap/before after the restore = %+v, %v; want 1", p, err)
	}
	nodes, _, err := c.Catalog().Nodes(nil)
	if err != nil || slices.Contains(nodeNames(nodes), "n2") || !slices.Contains(nodeNames(nodes), "n1") {
		t.Errorf("nodes after the restore = %v, %v; want n1 and not n2", nodeNames(nodes), err)
	}
	// The restored catalog still takes writes.
	if _, err := kv.Put(&consulapi.KVPair{Key: "snap/later", Value: []byte("3")}, nil); err != nil {
		t.Errorf("write after the restore: %v", err)
	}
	if p, _, err := kv.Get("snap/later", nil); err != nil || p == nil {
		t.Errorf("snap/later = %+v, %v", p, err)
	}
}
