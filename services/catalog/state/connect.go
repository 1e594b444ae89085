package state

import (
	"fmt"
	"sort"

	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/proto"

	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
)

// Wildcard is the intention name that matches every service.
const Wildcard = "*"

// CASet replaces the CA's configuration and roots at Raft index idx. A
// root whose content did not change keeps its indexes.
func (s *Store) CASet(idx uint64, st *connectv1.CAState) error {
	if st.GetConfig() == nil {
		return fmt.Errorf("ca set: %w: no config", ErrInvalidRequest)
	}
	err := s.write(idx, func(w *writeTxn) error {
		cfg := proto.Clone(st.GetConfig()).(*connectv1.CAConfig)
		raw, err := w.First(tableCAConfig, "id", "config")
		if err != nil {
			return fmt.Errorf("look up ca config: %w", err)
		}
		cfg.CreateIndex, cfg.ModifyIndex = idx, idx
		if raw != nil {
			old := raw.(*connectv1.CAConfig)
			cfg.CreateIndex, cfg.ModifyIndex = old.GetCreateIndex(), old.GetModifyIndex()
			if !proto.Equal(cfg, old) {
				cfg.ModifyIndex = idx
			}
		}
		if raw == nil || cfg.ModifyIndex == idx {
			if err := w.Insert(tableCAConfig, cfg); err != nil {
				return fmt.Errorf("insert ca config: %w", err)
			}
			w.touch(tableCAConfig)
		}
		keep := map[string]bool{}
		for _, r := range st.GetRoots() {
			if r.GetId() == "" {
				return fmt.Errorf("ca root: %w: no id", ErrInvalidRequest)
			}
			keep[r.GetId()] = true
			nr := proto.Clone(r).(*connectv1.CARoot)
			raw, err := w.First(tableCARoots, "id", r.GetId())
			if err != nil {
				return fmt.Errorf("look up ca root: %w", err)
			}
			nr.CreateIndex, nr.ModifyIndex = idx, idx
			if raw != nil {
				old := raw.(*connectv1.CARoot)
				nr.CreateIndex, nr.ModifyIndex = old.GetCreateIndex(), old.GetModifyIndex()
				if proto.Equal(nr, old) {
					continue
				}
				nr.ModifyIndex = idx
			}
			if err := w.Insert(tableCARoots, nr); err != nil {
				return fmt.Errorf("insert ca root: %w", err)
			}
			w.touch(tableCARoots)
		}
		old, err := collect[*connectv1.CARoot](w.Get(tableCARoots, "id"))
		if err != nil {
			return fmt.Errorf("list ca roots: %w", err)
		}
		for _, r := range old {
			if !keep[r.GetId()] {
				if err := w.Delete(tableCARoots, r); err != nil {
					return fmt.Errorf("delete ca root: %w", err)
				}
				w.touch(tableCARoots)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ca set: %w", err)
	}
	return nil
}

// CAConfig returns the CA configuration with its signing key, or nil before
// the first leader made one. Callers must not hand the key out.
func (s *Store) CAConfig(ws memdb.WatchSet) (uint64, *connectv1.CAConfig, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	ch, raw, err := tx.FirstWatch(tableCAConfig, "id", "config")
	if err != nil {
		return 0, nil, fmt.Errorf("read ca config: %w", err)
	}
	ws.Add(ch)
	if raw == nil {
		return maxIndex(tx, tableCAConfig), nil, nil
	}
	return maxIndex(tx, tableCAConfig), raw.(*connectv1.CAConfig), nil
}

// CARoots returns every trusted root, the active one first.
func (s *Store) CARoots(ws memdb.WatchSet) (uint64, []*connectv1.CARoot, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	it, err := tx.Get(tableCARoots, "id")
	if err != nil {
		return 0, nil, fmt.Errorf("list ca roots: %w", err)
	}
	ws.Add(it.WatchCh())
	var roots []*connectv1.CARoot
	for raw := it.Next(); raw != nil; raw = it.Next() {
		roots = append(roots, raw.(*connectv1.CARoot))
	}
	sort.SliceStable(roots, func(i, j int) bool { return roots[i].GetActive() && !roots[j].GetActive() })
	return maxIndex(tx, tableCARoots, tableCAConfig), roots, nil
}

// IntentionPrecedence is Consul's precedence of an intention: the more
// exact its names, the higher.
func IntentionPrecedence(source, destination string) int32 {
	switch {
	case source != Wildcard && destination != Wildcard:
		return 9
	case source == Wildcard && destination != Wildcard:
		return 8
	case source != Wildcard && destination == Wildcard:
		return 6
	}
	return 5
}

// IntentionUpsert creates or replaces the intention for its source and
// destination pair at Raft index idx. A new intention takes in.Id; an
// existing pair keeps its ID.
func (s *Store) IntentionUpsert(idx uint64, in *connectv1.Intention) error {
	if in.GetSourceName() == "" || in.GetDestinationName() == "" || in.GetId() == "" {
		return fmt.Errorf("intention upsert: %w: source, destination and id are required", ErrInvalidRequest)
	}
	err := s.write(idx, func(w *writeTxn) error {
		ni := proto.Clone(in).(*connectv1.Intention)
		ni.Precedence = IntentionPrecedence(ni.GetSourceName(), ni.GetDestinationName())
		if ni.SourceType == "" {
			ni.SourceType = "consul"
		}
		raw, err := w.First(tableIntentions, "pair", ni.GetSourceName(), ni.GetDestinationName())
		if err != nil {
			return fmt.Errorf("look up intention: %w", err)
		}
		ni.CreateIndex, ni.ModifyIndex = idx, idx
		if raw != nil {
			old := raw.(*connectv1.Intention)
			ni.Id = old.GetId()
			ni.CreateIndex, ni.ModifyIndex = old.GetCreateIndex(), old.GetModifyIndex()
			if proto.Equal(ni, old) {
				return nil
			}
			ni.ModifyIndex = idx
		}
		if err := w.Insert(tableIntentions, ni); err != nil {
			return fmt.Errorf("insert intention: %w", err)
		}
		w.touch(tableIntentions)
		return nil
	})
	if err != nil {
		return fmt.Errorf("intention %s => %s: %w", in.GetSourceName(), in.GetDestinationName(), err)
	}
	return nil
}

// IntentionDelete removes the intention for a pair; a missing one is not
// an error.
func (s *Store) IntentionDelete(idx uint64, source, destination string) error {
	return s.write(idx, func(w *writeTxn) error {
		raw, err := w.First(tableIntentions, "pair", source, destination)
		if err != nil || raw == nil {
			return err
		}
		if err := w.Delete(tableIntentions, raw); err != nil {
			return fmt.Errorf("delete intention: %w", err)
		}
		w.touch(tableIntentions)
		return nil
	})
}

// Intentions lists every intention, most precedent first (then by names).
func (s *Store) Intentions(ws memdb.WatchSet) (uint64, []*connectv1.Intention, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	it, err := tx.Get(tableIntentions, "id")
	if err != nil {
		return 0, nil, fmt.Errorf("list intentions: %w", err)
	}
	ws.Add(it.WatchCh())
	var out []*connectv1.Intention
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*connectv1.Intention))
	}
	SortIntentions(out)
	return maxIndex(tx, tableIntentions), out, nil
}

// Intention returns the exact intention for a pair, or nil.
func (s *Store) Intention(ws memdb.WatchSet, source, destination string) (uint64, *connectv1.Intention, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	ch, raw, err := tx.FirstWatch(tableIntentions, "pair", source, destination)
	if err != nil {
		return 0, nil, fmt.Errorf("read intention: %w", err)
	}
	ws.Add(ch)
	if raw == nil {
		return maxIndex(tx, tableIntentions), nil, nil
	}
	return maxIndex(tx, tableIntentions), raw.(*connectv1.Intention), nil
}

// SortIntentions orders intentions as they are evaluated: highest
// precedence first, then by source and destination name.
func SortIntentions(in []*connectv1.Intention) {
	sort.SliceStable(in, func(i, j int) bool {
		a, b := in[i], in[j]
		if a.GetPrecedence() != b.GetPrecedence() {
			return a.GetPrecedence() > b.GetPrecedence()
		}
		if a.GetSourceName() != b.GetSourceName() {
			return a.GetSourceName() < b.GetSourceName()
		}
		return a.GetDestinationName() < b.GetDestinationName()
	})
}

// MatchIntentions returns the intentions that apply to name as a source
// (bySource) or as a destination, in evaluation order.
func MatchIntentions(all []*connectv1.Intention, name string, bySource bool) []*connectv1.Intention {
	var out []*connectv1.Intention
	for _, in := range all {
		side := in.GetDestinationName()
		if bySource {
			side = in.GetSourceName()
		}
		if side == name || side == Wildcard {
			out = append(out, in)
		}
	}
	SortIntentions(out)
	return out
}

// DecideIntention returns the intention deciding whether source may
// connect to destination (the most precedent match), or nil.
func DecideIntention(all []*connectv1.Intention, source, destination string) *connectv1.Intention {
	for _, in := range MatchIntentions(all, destination, false) {
		if in.GetSourceName() == source || in.GetSourceName() == Wildcard {
			return in
		}
	}
	return nil
}
