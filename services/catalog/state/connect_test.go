package state

import (
	"testing"

	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	"github.com/hashicorp/go-memdb"
)

func intention(id, src, dst string, action connectv1.IntentionAction) *connectv1.Intention {
	return &connectv1.Intention{Id: id, SourceName: src, DestinationName: dst, Action: action}
}

func TestIntentionPrecedenceAndDecision(t *testing.T) {
	s := New()
	allow, deny := connectv1.IntentionAction_INTENTION_ACTION_ALLOW, connectv1.IntentionAction_INTENTION_ACTION_DENY
	for i, in := range []*connectv1.Intention{
		intention("1", "*", "*", deny),
		intention("2", "web", "*", allow),
		intention("3", "*", "db", deny),
		intention("4", "web", "db", allow),
	} {
		if err := s.IntentionUpsert(uint64(10+i), in); err != nil {
			t.Fatal(err)
		}
	}
	_, all, err := s.Intentions(nil)
	if err != nil {
		t.Fatal(err)
	}
	var prec []int32
	for _, in := range all {
		prec = append(prec, in.GetPrecedence())
	}
	if d := diff([]int32{9, 8, 6, 5}, prec); d != "" {
		t.Errorf("precedence order (-want +got):\n%s", d)
	}
	tests := []struct {
		src, dst string
		want     string // the deciding intention's ID
	}{
		{"web", "db", "4"},    // exact beats *→db
		{"api", "db", "3"},    // *→db
		{"web", "cache", "2"}, // web→*
		{"api", "cache", "1"}, // *→*
	}
	for _, tt := range tests {
		if got := DecideIntention(all, tt.src, tt.dst); got.GetId() != tt.want {
			t.Errorf("%s => %s decided by %v, want %s", tt.src, tt.dst, got, tt.want)
		}
	}
	if got := MatchIntentions(all, "db", false); len(got) != 4 {
		t.Errorf("destination db matches %d intentions, want 4", len(got))
	}

	// Replacing a pair keeps its ID; identical content is a no-op; delete.
	ws := memdb.NewWatchSet()
	idx, _, _ := s.Intentions(ws)
	if err := s.IntentionUpsert(20, intention("new-id", "web", "db", allow)); err != nil {
		t.Fatal(err)
	}
	if again, _, _ := s.Intentions(nil); again != idx || fired(ws) {
		t.Error("identical upsert moved the index or woke a watcher")
	}
	if err := s.IntentionUpsert(21, intention("new-id", "web", "db", deny)); err != nil {
		t.Fatal(err)
	}
	_, in, _ := s.Intention(nil, "web", "db")
	if in.GetId() != "4" || in.GetAction() != deny || in.GetModifyIndex() != 21 || in.GetCreateIndex() != 13 {
		t.Errorf("replaced intention = %v", in)
	}
	if err := s.IntentionDelete(22, "web", "db"); err != nil {
		t.Fatal(err)
	}
	if _, in, _ := s.Intention(nil, "web", "db"); in != nil {
		t.Error("deleted intention still there")
	}
}

func TestCASetKeepsUnchangedRoots(t *testing.T) {
	s := New()
	cfg := &connectv1.CAConfig{ClusterId: "c1", PrivateKey: "k1"}
	r1 := &connectv1.CARoot{Id: "r1", RootCert: "pem1", Active: true}
	if err := s.CASet(5, &connectv1.CAState{Config: cfg, Roots: []*connectv1.CARoot{r1}}); err != nil {
		t.Fatal(err)
	}
	// Rotation: r1 inactive, r2 active.
	r1off := &connectv1.CARoot{Id: "r1", RootCert: "pem1"}
	r2 := &connectv1.CARoot{Id: "r2", RootCert: "pem2", Active: true}
	if err := s.CASet(6, &connectv1.CAState{Config: &connectv1.CAConfig{ClusterId: "c1", PrivateKey: "k2"}, Roots: []*connectv1.CARoot{r1off, r2}}); err != nil {
		t.Fatal(err)
	}
	idx, roots, err := s.CARoots(nil)
	if err != nil || idx != 6 || len(roots) != 2 || roots[0].GetId() != "r2" || roots[1].GetActive() || roots[1].GetCreateIndex() != 5 {
		t.Fatalf("roots at %d: %v %v", idx, roots, err)
	}
	_, c, _ := s.CAConfig(nil)
	if c.GetPrivateKey() != "k2" || c.GetCreateIndex() != 5 || c.GetModifyIndex() != 6 {
		t.Errorf("config %v", c)
	}
}
