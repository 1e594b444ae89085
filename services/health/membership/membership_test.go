package membership

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/health/internal/fakecatalog"
)

func newMember(t *testing.T, cat *fakecatalog.Catalog, onJoin func()) *Member {
	t.Helper()
	m, err := New(Config{
		Client: fakecatalog.Client{C: cat},
		Member: &catalogv1.Member{Name: "n1", Address: "10.0.0.1", Tags: map[string]string{"role": "node", "dc": "dc1"}},
		Node:   &catalogv1.Node{Node: "n1", Address: "10.0.0.1"},
		OnJoin: onJoin,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestJoinHeartbeatLeave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := fakecatalog.New()
		var joins atomic.Int32
		m := newMember(t, cat, func() { joins.Add(1) })
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); m.Run(ctx) }()

		synctest.Wait()
		if mem := cat.Member("n1"); mem.GetStatus() != catalogv1.MemberStatus_MEMBER_STATUS_ALIVE || mem.GetTags()["role"] != "node" {
			t.Fatalf("after join: %v", mem)
		}
		if cat.Check("n1", "serfHealth") == nil || joins.Load() != 1 || !m.Joined() {
			t.Fatal("join did not register the node, or OnJoin did not run")
		}

		time.Sleep(10*time.Second + time.Millisecond)
		synctest.Wait()
		if n := cat.Calls("Heartbeat"); n != 10 {
			t.Fatalf("%d heartbeats in 10 s, want 10", n)
		}

		// The catalog forgets the member (a restore): the next heartbeat
		// says so and the agent joins again.
		cat.Restore()
		time.Sleep(time.Second)
		synctest.Wait()
		if cat.Member("n1") == nil || joins.Load() != 2 || cat.Calls("JoinMember") != 2 {
			t.Fatalf("no re-join after the member was forgotten: %d joins", cat.Calls("JoinMember"))
		}

		cancel()
		<-done
		if err := m.Leave(context.Background()); err != nil {
			t.Fatal(err)
		}
		if mem := cat.Member("n1"); mem.GetStatus() != catalogv1.MemberStatus_MEMBER_STATUS_LEFT {
			t.Fatalf("after leave: %v", mem)
		}
		if m.Joined() {
			t.Fatal("still joined after leave")
		}
	})
}

func TestJoinRetriesUntilTheCatalogAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := fakecatalog.New()
		cat.SetFailure(errors.New("no leader"))
		m := newMember(t, cat, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); m.Run(ctx) }()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		n := cat.Calls("JoinMember")
		// 1 s, 2 s, 4 s, 8 s, then every 10 s: about 6 tries in 30 s, not 30.
		if n < 4 || n > 8 {
			t.Fatalf("%d joins tried in 30 s", n)
		}
		cat.SetFailure(nil)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if !m.Joined() {
			t.Fatal("not joined once the catalog answers")
		}
		// Heartbeats that fail leave the member joined: the TTL covers them.
		cat.SetFailure(errors.New("blip"))
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if !m.Joined() {
			t.Fatal("failed heartbeats made the member re-join")
		}
		cancel()
		<-done
	})
}

func TestNoJoinAfterLeave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cat := fakecatalog.New()
		m := newMember(t, cat, nil)
		if err := m.Leave(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		m.Run(ctx) // returns at once
		if cat.Calls("JoinMember") != 0 {
			t.Fatal("joined after leaving")
		}
	})
}
