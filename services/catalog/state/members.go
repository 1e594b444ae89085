package state

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
)

// SerfHealthCheckID is the node-level check that mirrors a member's
// liveness, as Consul's "Serf Health Status".
const SerfHealthCheckID = "serfHealth"

// Outputs of the serfHealth check, as Consul's.
const (
	serfAliveOutput  = "Agent alive and reachable"
	serfFailedOutput = "Agent not live or unreachable"
)

func serfHealth(node string, status catalogv1.HealthStatus, output string) *catalogv1.HealthCheck {
	return &catalogv1.HealthCheck{
		Node: node, CheckId: SerfHealthCheckID, Name: "Serf Health Status",
		Status: status, Output: output, Type: "serf",
	}
}

// MemberJoin makes req's member alive at Raft index idx: it upserts the
// member and its node, with a passing serfHealth check. An identical
// re-join changes nothing.
func (s *Store) MemberJoin(idx uint64, req *catalogv1.JoinMemberRequest) error {
	m, n := req.GetMember(), req.GetNode()
	if m.GetName() == "" || n.GetNode() == "" {
		return fmt.Errorf("member join: %w", ErrMissingNode)
	}
	if !strings.EqualFold(m.GetName(), n.GetNode()) {
		return fmt.Errorf("member join %q with node %q: %w", m.GetName(), n.GetNode(), ErrInvalidRequest)
	}
	err := s.write(idx, func(w *writeTxn) error {
		if err := w.ensureNode(n, false); err != nil {
			return err
		}
		if err := w.ensureCheck(n.GetNode(), serfHealth(n.GetNode(), catalogv1.HealthStatus_HEALTH_STATUS_PASSING, serfAliveOutput)); err != nil {
			return err
		}
		nm := proto.Clone(m).(*catalogv1.Member)
		nm.Status = catalogv1.MemberStatus_MEMBER_STATUS_ALIVE
		return w.ensureMember(nm)
	})
	if err != nil {
		return fmt.Errorf("member join %q: %w", m.GetName(), err)
	}
	return nil
}

// MemberSetStatus moves a member to m.Status at Raft index idx. Alive
// turns its serfHealth check passing, failed turns it critical (which
// invalidates sessions that depend on it); left removes its node with every
// service and check, as Consul does for a member that leaves.
func (s *Store) MemberSetStatus(idx uint64, m *catalogv1.Member) error {
	err := s.write(idx, func(w *writeTxn) error {
		known, err := w.knownMember(m.GetName())
		if err != nil {
			return err
		}
		cur := proto.Clone(known).(*catalogv1.Member)
		node := cur.GetName()
		switch m.GetStatus() {
		case catalogv1.MemberStatus_MEMBER_STATUS_ALIVE:
			if err := w.ensureCheckIfNode(node, serfHealth(node, catalogv1.HealthStatus_HEALTH_STATUS_PASSING, serfAliveOutput)); err != nil {
				return err
			}
		case catalogv1.MemberStatus_MEMBER_STATUS_FAILED:
			if err := w.ensureCheckIfNode(node, serfHealth(node, catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL, serfFailedOutput)); err != nil {
				return err
			}
		case catalogv1.MemberStatus_MEMBER_STATUS_LEFT:
			if err := w.deleteNode(node); err != nil {
				return err
			}
		case catalogv1.MemberStatus_MEMBER_STATUS_LEAVING:
		default:
			return fmt.Errorf("status %v: %w", m.GetStatus(), ErrInvalidRequest)
		}
		cur.Status = m.GetStatus()
		return w.ensureMember(cur)
	})
	if err != nil {
		return fmt.Errorf("member %q to %v: %w", m.GetName(), m.GetStatus(), err)
	}
	return nil
}

// MemberRemove forgets member name at Raft index idx: its node goes with
// every service and check, as when it leaves, and so does its row in the
// member list.
func (s *Store) MemberRemove(idx uint64, name string) error {
	err := s.write(idx, func(w *writeTxn) error {
		m, err := w.knownMember(name)
		if err != nil {
			return err
		}
		if err := w.deleteNode(m.GetName()); err != nil {
			return err
		}
		if err := w.Delete(tableMembers, m); err != nil {
			return fmt.Errorf("delete member: %w", err)
		}
		w.touch(tableMembers)
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove member %q: %w", name, err)
	}
	return nil
}

// ensureCheckIfNode upserts c when its node is still registered (a failed
// member's node may have been deregistered through the catalog API).
func (w *writeTxn) ensureCheckIfNode(node string, c *catalogv1.HealthCheck) error {
	raw, err := w.First(tableNodes, "id", node)
	if err != nil {
		return fmt.Errorf("look up node: %w", err)
	}
	if raw == nil {
		return nil
	}
	return w.ensureCheck(node, c)
}

// knownMember is member name's row, or ErrUnknownMember.
func (w *writeTxn) knownMember(name string) (*catalogv1.Member, error) {
	raw, err := w.First(tableMembers, "id", name)
	if err != nil {
		return nil, fmt.Errorf("look up member: %w", err)
	}
	if raw == nil {
		return nil, ErrUnknownMember
	}
	return raw.(*catalogv1.Member), nil
}

func (w *writeTxn) ensureMember(m *catalogv1.Member) error {
	raw, err := w.First(tableMembers, "id", m.GetName())
	if err != nil {
		return fmt.Errorf("look up member: %w", err)
	}
	if raw != nil {
		old := raw.(*catalogv1.Member)
		m.CreateIndex, m.ModifyIndex = old.GetCreateIndex(), old.GetModifyIndex()
		if proto.Equal(m, old) {
			return nil
		}
	} else {
		m.CreateIndex = w.idx
	}
	m.ModifyIndex = w.idx
	if err := w.Insert(tableMembers, m); err != nil {
		return fmt.Errorf("insert member: %w", err)
	}
	w.touch(tableMembers)
	return nil
}

// Members lists every member: catalog servers (role "consul") first, then
// by name.
func (s *Store) Members(ws memdb.WatchSet) (uint64, []*catalogv1.Member, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	it, err := tx.Get(tableMembers, "id")
	if err != nil {
		return 0, nil, fmt.Errorf("list members: %w", err)
	}
	ws.Add(it.WatchCh())
	var out []*catalogv1.Member
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*catalogv1.Member))
	}
	sort.SliceStable(out, func(i, j int) bool {
		si, sj := out[i].GetTags()["role"] == "consul", out[j].GetTags()["role"] == "consul"
		if si != sj {
			return si
		}
		return strings.ToLower(out[i].GetName()) < strings.ToLower(out[j].GetName())
	})
	return maxIndex(tx, tableMembers), out, nil
}

// Member returns the named member, or nil.
func (s *Store) Member(name string) *catalogv1.Member {
	tx := s.db.Txn(false)
	defer tx.Abort()
	raw, err := tx.First(tableMembers, "id", name)
	if err != nil || raw == nil {
		return nil
	}
	return raw.(*catalogv1.Member)
}
