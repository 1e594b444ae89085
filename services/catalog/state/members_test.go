package state

import (
	"errors"
	"testing"

	"github.com/hashicorp/go-memdb"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
)

func TestMemberLifecycle(t *testing.T) {
	s := New()
	join := &catalogv1.JoinMemberRequest{
		Member: &catalogv1.Member{Name: "agent-1", Address: "10.0.0.9", Port: 8301, Tags: map[string]string{"role": "node"}},
		Node:   &catalogv1.Node{Node: "agent-1", Address: "10.0.0.9"},
	}
	if err := s.MemberJoin(10, join); err != nil {
		t.Fatal(err)
	}
	serf := func() *catalogv1.HealthCheck {
		_, checks, err := s.NodeChecks(nil, "agent-1")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range checks {
			if c.GetCheckId() == SerfHealthCheckID {
				return c
			}
		}
		return nil
	}
	if c := serf(); c.GetStatus() != catalogv1.HealthStatus_HEALTH_STATUS_PASSING || c.GetOutput() != serfAliveOutput {
		t.Fatalf("after join serfHealth = %v", c)
	}
	// An identical re-join is a no-op: no index moves, no watch fires.
	ws := memdb.NewWatchSet()
	idx, _, _ := s.Members(ws)
	if err := s.MemberJoin(11, join); err != nil {
		t.Fatal(err)
	}
	if again, _, _ := s.Members(nil); again != idx {
		t.Errorf("identical re-join moved the members index %d -> %d", idx, again)
	}
	if fired(ws) {
		t.Error("identical re-join woke a members watcher")
	}

	// A session on the node's serfHealth ends when the member fails.
	if err := s.SessionCreate(12, &kvv1.Session{Id: "s1", Node: "agent-1", NodeChecks: []string{SerfHealthCheckID}}); err != nil {
		t.Fatal(err)
	}
	if err := s.MemberSetStatus(13, &catalogv1.Member{Name: "agent-1", Status: catalogv1.MemberStatus_MEMBER_STATUS_FAILED}); err != nil {
		t.Fatal(err)
	}
	if !fired(ws) {
		t.Error("failing a member did not wake a members watcher")
	}
	if c := serf(); c.GetStatus() != catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL || c.GetOutput() != serfFailedOutput {
		t.Errorf("after failure serfHealth = %v", c)
	}
	if _, sess, _ := s.SessionGet(nil, "s1"); sess != nil {
		t.Error("session on serfHealth survived the member failing")
	}
	if m := s.Member("AGENT-1"); m.GetStatus() != catalogv1.MemberStatus_MEMBER_STATUS_FAILED {
		t.Errorf("member lookup (case-insensitive) = %v", m)
	}

	if err := s.MemberSetStatus(14, &catalogv1.Member{Name: "agent-1", Status: catalogv1.MemberStatus_MEMBER_STATUS_ALIVE}); err != nil {
		t.Fatal(err)
	}
	if c := serf(); c.GetStatus() != catalogv1.HealthStatus_HEALTH_STATUS_PASSING {
		t.Errorf("after recovery serfHealth = %v", c)
	}

	// Leaving removes the node and everything on it; the member stays, left.
	if err := s.Register(15, &catalogv1.RegisterRequest{Node: join.Node, Service: &catalogv1.Service{Service: "web", Port: 80}}); err != nil {
		t.Fatal(err)
	}
	if err := s.MemberSetStatus(16, &catalogv1.Member{Name: "agent-1", Status: catalogv1.MemberStatus_MEMBER_STATUS_LEFT}); err != nil {
		t.Fatal(err)
	}
	if _, n, svcs, _ := s.NodeServices(nil, "agent-1"); n != nil || len(svcs) != 0 {
		t.Errorf("left member's node still registered: %v %v", n, svcs)
	}
	idx, members, _ := s.Members(nil)
	if len(members) != 1 || members[0].GetStatus() != catalogv1.MemberStatus_MEMBER_STATUS_LEFT || idx != 16 {
		t.Errorf("members = %v at %d", members, idx)
	}

	if err := s.MemberSetStatus(17, &catalogv1.Member{Name: "nobody", Status: catalogv1.MemberStatus_MEMBER_STATUS_FAILED}); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("unknown member: %v", err)
	}
}

func TestMembersSortServersFirst(t *testing.T) {
	s := New()
	for i, m := range []struct{ name, role string }{{"b-agent", "node"}, {"z-server", "consul"}, {"a-agent", "node"}} {
		err := s.MemberJoin(uint64(i+1), &catalogv1.JoinMemberRequest{
			Member: &catalogv1.Member{Name: m.name, Address: "10.0.0.1", Tags: map[string]string{"role": m.role}},
			Node:   &catalogv1.Node{Node: m.name, Address: "10.0.0.1"},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	_, members, _ := s.Members(nil)
	var got []string
	for _, m := range members {
		got = append(got, m.GetName())
	}
	if d := diff([]string{"z-server", "a-agent", "b-agent"}, got); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
}

// MemberRemove forgets a member: its node, services and checks, and its
// row; an unknown member is ErrUnknownMember.
func TestMemberRemove(t *testing.T) {
	s := New()
	join := &catalogv1.JoinMemberRequest{
		Member: &catalogv1.Member{Name: "ghost", Address: "10.0.0.7", Port: 8301, Tags: map[string]string{"role": "node"}},
		Node:   &catalogv1.Node{Node: "ghost", Address: "10.0.0.7"},
	}
	if err := s.MemberJoin(10, join); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, s, 11, &catalogv1.RegisterRequest{Node: node("ghost", "10.0.0.7", nil), Service: svc("web1", "web", 80)})
	if err := s.MemberSetStatus(12, &catalogv1.Member{Name: "ghost", Status: catalogv1.MemberStatus_MEMBER_STATUS_FAILED}); err != nil {
		t.Fatal(err)
	}
	ws := memdb.NewWatchSet()
	if _, _, err := s.Members(ws); err != nil {
		t.Fatal(err)
	}
	if err := s.MemberRemove(13, "ghost"); err != nil {
		t.Fatal(err)
	}
	if !fired(ws) {
		t.Error("removing a member did not wake a members watcher")
	}
	idx, members, err := s.Members(nil)
	if err != nil || len(members) != 0 || idx != 13 {
		t.Errorf("Members after remove = %d, %v, %v; want index 13, none", idx, members, err)
	}
	if _, n, _, err := s.NodeServices(nil, "ghost"); err != nil || n != nil {
		t.Errorf("the removed member's node = %v, %v; want none", n, err)
	}
	if err := s.MemberRemove(14, "ghost"); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("removing it again: %v, want ErrUnknownMember", err)
	}
}
