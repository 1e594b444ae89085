package state

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
)

// SessionCreate stores a new session at Raft index idx. Its ID is assigned
// by the caller. Its node must exist, and every check it lists (node_checks
// and service_checks, all on that node) must exist and not be critical.
func (s *Store) SessionCreate(idx uint64, sess *kvv1.Session) error {
	switch {
	case sess == nil:
		return fmt.Errorf("create session: %w: nil session", ErrInvalidRequest)
	case sess.GetId() == "":
		return fmt.Errorf("create session: %w", ErrMissingSessionID)
	case sess.GetNode() == "":
		return fmt.Errorf("create session %q: %w", sess.GetId(), ErrMissingNode)
	}
	err := s.write(idx, func(w *writeTxn) error {
		raw, err := w.First(tableSessions, "id", sess.GetId())
		if err != nil {
			return fmt.Errorf("look up session: %w", err)
		}
		if raw != nil {
			return ErrSessionExists
		}
		raw, err = w.First(tableNodes, "id", sess.GetNode())
		if err != nil {
			return fmt.Errorf("look up node: %w", err)
		}
		if raw == nil {
			return fmt.Errorf("%w: %q", ErrUnknownNode, sess.GetNode())
		}
		for _, id := range sess.GetNodeChecks() {
			if err := w.checkUsable(sess.GetNode(), id); err != nil {
				return fmt.Errorf("node check: %w", err)
			}
		}
		for _, ref := range sess.GetServiceChecks() {
			if err := w.checkUsable(sess.GetNode(), ref.GetId()); err != nil {
				return fmt.Errorf("service check: %w", err)
			}
		}
		ns := proto.Clone(sess).(*kvv1.Session)
		ns.CreateIndex, ns.ModifyIndex = w.idx, w.idx
		if err := w.Insert(tableSessions, ns); err != nil {
			return fmt.Errorf("insert session: %w", err)
		}
		w.touch(tableSessions)
		return nil
	})
	if err != nil {
		return fmt.Errorf("create session %q: %w", sess.GetId(), err)
	}
	return nil
}

// checkUsable says whether a session may depend on check id of node.
func (w *writeTxn) checkUsable(node, id string) error {
	raw, err := w.First(tableChecks, "id", node, id)
	if err != nil {
		return fmt.Errorf("look up check %q: %w", id, err)
	}
	if raw == nil {
		return fmt.Errorf("%w: %q on node %q", ErrUnknownCheck, id, node)
	}
	if raw.(*catalogv1.HealthCheck).GetStatus() == catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL {
		return fmt.Errorf("%w: %q on node %q", ErrCheckCritical, id, node)
	}
	return nil
}

// SessionDestroy invalidates session id at Raft index idx: the keys it
// holds are released or deleted as its behavior says, they go under
// lock-delay, and the session is removed. A missing session is not an error.
func (s *Store) SessionDestroy(idx uint64, id string) error {
	err := s.write(idx, func(w *writeTxn) error {
		raw, err := w.First(tableSessions, "id", id)
		if err != nil {
			return fmt.Errorf("look up session: %w", err)
		}
		if raw == nil {
			return nil
		}
		return w.invalidateSession(raw.(*kvv1.Session))
	})
	if err != nil {
		return fmt.Errorf("destroy session %q: %w", id, err)
	}
	return nil
}

// invalidateSession ends sess: its locks are released (or its keys deleted,
// for the delete behavior) and put under lock-delay.
func (w *writeTxn) invalidateSession(sess *kvv1.Session) error {
	pairs, err := collect[*kvv1.KVPair](w.Get(tableKVs, "session", sess.GetId()))
	if err != nil {
		return fmt.Errorf("list keys of session %q: %w", sess.GetId(), err)
	}
	delay := sess.GetLockDelay().AsDuration()
	for _, p := range pairs {
		if sess.GetBehavior() == kvv1.SessionBehavior_SESSION_BEHAVIOR_DELETE {
			if err := w.kvDeletePair(p); err != nil {
				return err
			}
		} else {
			np := proto.Clone(p).(*kvv1.KVPair)
			np.Session = ""
			np.ModifyIndex = w.idx
			if err := w.Insert(tableKVs, np); err != nil {
				return fmt.Errorf("release key %q: %w", p.GetKey(), err)
			}
			w.touch(tableKVs)
		}
		if delay > 0 {
			w.delays = append(w.delays, delayedKey{key: p.GetKey(), delay: delay})
		}
	}
	if err := w.Delete(tableSessions, sess); err != nil {
		return fmt.Errorf("delete session %q: %w", sess.GetId(), err)
	}
	w.touch(tableSessions)
	return nil
}

// invalidateCheckSessions ends the sessions that depend on check checkID of
// node, which went critical or away.
func (w *writeTxn) invalidateCheckSessions(node, checkID string) error {
	sessions, err := collect[*kvv1.Session](w.Get(tableSessions, "node", node))
	if err != nil {
		return fmt.Errorf("list sessions of node %q: %w", node, err)
	}
	for _, sess := range sessions {
		if !dependsOn(sess, checkID) {
			continue
		}
		if err := w.invalidateSession(sess); err != nil {
			return err
		}
	}
	return nil
}

// dependsOn says whether sess lists checkID. Check IDs are unique on a node,
// so a session listing one in either list means the same check.
func dependsOn(sess *kvv1.Session, checkID string) bool {
	for _, id := range sess.GetNodeChecks() {
		if strings.EqualFold(id, checkID) {
			return true
		}
	}
	for _, ref := range sess.GetServiceChecks() {
		if strings.EqualFold(ref.GetId(), checkID) {
			return true
		}
	}
	return false
}

func (w *writeTxn) invalidateNodeSessions(node string) error {
	sessions, err := collect[*kvv1.Session](w.Get(tableSessions, "node", node))
	if err != nil {
		return fmt.Errorf("list sessions of node %q: %w", node, err)
	}
	for _, sess := range sessions {
		if err := w.invalidateSession(sess); err != nil {
			return err
		}
	}
	return nil
}

// SessionGet returns session id, or nil.
func (s *Store) SessionGet(ws memdb.WatchSet, id string) (uint64, *kvv1.Session, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	ch, raw, err := tx.FirstWatch(tableSessions, "id", id)
	if err != nil {
		return 0, nil, fmt.Errorf("get session %q: %w", id, err)
	}
	ws.Add(ch)
	idx := maxIndex(tx, tableSessions)
	if raw == nil {
		return idx, nil, nil
	}
	return idx, raw.(*kvv1.Session), nil
}

// SessionList returns every session, sorted by ID.
func (s *Store) SessionList(ws memdb.WatchSet) (uint64, []*kvv1.Session, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	it, err := tx.Get(tableSessions, "id")
	if err != nil {
		return 0, nil, fmt.Errorf("list sessions: %w", err)
	}
	ws.Add(it.WatchCh())
	out, _ := collect[*kvv1.Session](it, nil)
	return maxIndex(tx, tableSessions), out, nil
}

// NodeSessions returns the sessions of node, sorted by ID.
func (s *Store) NodeSessions(ws memdb.WatchSet, node string) (uint64, []*kvv1.Session, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	it, err := tx.Get(tableSessions, "node", node)
	if err != nil {
		return 0, nil, fmt.Errorf("list sessions of node %q: %w", node, err)
	}
	ws.Add(it.WatchCh())
	out, _ := collect[*kvv1.Session](it, nil)
	return maxIndex(tx, tableSessions), out, nil
}

// SessionsWithTTL returns the sessions that have a TTL, for the leader to
// arm their timers.
func (s *Store) SessionsWithTTL() []*kvv1.Session {
	tx := s.db.Txn(false)
	defer tx.Abort()
	it, err := tx.Get(tableSessions, "id")
	if err != nil {
		return nil
	}
	var out []*kvv1.Session
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if sess := raw.(*kvv1.Session); sess.GetTtl().AsDuration() > 0 {
			out = append(out, sess)
		}
	}
	return out
}
