package state

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/hashicorp/go-memdb"

	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
)

const (
	// tombstoneWindow is how many Raft indexes a deleted key's tombstone is
	// kept. Reaping is done by the FSM at a given index, so every replica
	// reaps the same tombstones.
	tombstoneWindow = 1 << 16
	// tombstoneFloorKey names the index-table row holding the highest index
	// of a reaped tombstone: a prefix's index never drops below it, so that
	// reaping never moves a list's index backwards.
	tombstoneFloorKey = "tombstones.floor"
)

// KVPut writes one key at Raft index idx, and reports whether it did:
//   - cas set: 0 writes only if the key does not exist, N only if the key's
//     ModifyIndex is N;
//   - acquire: the session must exist; fails if another session holds the
//     lock; re-acquiring by the holder updates the value without bumping
//     LockIndex, otherwise the session takes the lock and LockIndex grows;
//   - release: fails unless the session holds the lock, which it gives up;
//   - a plain write keeps the key's session and LockIndex.
//
// Lock-delay is enforced by the caller on the leader, not here.
func (s *Store) KVPut(idx uint64, req *kvv1.PutRequest) (bool, error) {
	op, err := putOp(req)
	if err != nil {
		return false, fmt.Errorf("kv put: %w", err)
	}
	var ok bool
	err = s.write(idx, func(w *writeTxn) error {
		var err error
		ok, _, err = w.kvSet(op)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("kv put %q: %w", req.GetKey(), err)
	}
	return ok, nil
}

// putOp checks a put request and returns the write it asks for.
func putOp(req *kvv1.PutRequest) (kvSetOp, error) {
	switch {
	case req == nil:
		return kvSetOp{}, fmt.Errorf("%w: nil request", ErrInvalidRequest)
	case req.GetKey() == "":
		return kvSetOp{}, ErrMissingKey
	case req.GetAcquire() != "" && req.GetRelease() != "":
		return kvSetOp{}, fmt.Errorf("%q: %w: both acquire and release", req.GetKey(), ErrInvalidRequest)
	}
	return kvSetOp{
		key: req.GetKey(), value: req.GetValue(), flags: req.GetFlags(),
		cas: req.Cas, acquire: req.GetAcquire(), release: req.GetRelease(),
	}, nil
}

// KVPutBatch writes several keys at Raft index idx in one transaction, in
// order, and reports for each whether its check-and-set held; a later put
// sees the earlier ones. Lock operations are refused: a batch holds only
// plain and check-and-set writes, whose only failure is a condition that
// does not hold, so nothing needs undoing when one fails. Any error leaves
// the store untouched.
func (s *Store) KVPutBatch(idx uint64, puts []*kvv1.PutRequest) ([]bool, error) {
	ops := make([]kvSetOp, len(puts))
	for i, req := range puts {
		op, err := putOp(req)
		switch {
		case err != nil:
			return nil, fmt.Errorf("kv put batch: put %d: %w", i, err)
		case op.acquire != "" || op.release != "":
			return nil, fmt.Errorf("kv put batch: put %d (%q): %w: lock operations are not batched", i, op.key, ErrInvalidRequest)
		}
		ops[i] = op
	}
	ok := make([]bool, len(ops))
	err := s.write(idx, func(w *writeTxn) error {
		for i, op := range ops {
			var err error
			if ok[i], _, err = w.kvSet(op); err != nil {
				return fmt.Errorf("put %d (%q): %w", i, op.key, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kv put batch: %w", err)
	}
	return ok, nil
}

// KVDelete deletes one key, or every key under a prefix (recurse), at Raft
// index idx. With cas, the key is deleted only if its ModifyIndex matches;
// a missing key counts as deleted.
func (s *Store) KVDelete(idx uint64, req *kvv1.DeleteRequest) (bool, error) {
	switch {
	case req == nil:
		return false, fmt.Errorf("kv delete: %w: nil request", ErrInvalidRequest)
	case req.GetRecurse() && req.Cas != nil:
		return false, fmt.Errorf("kv delete %q: %w: cas with recurse", req.GetKey(), ErrInvalidRequest)
	case !req.GetRecurse() && req.GetKey() == "":
		return false, fmt.Errorf("kv delete: %w", ErrMissingKey)
	}
	ok := true
	err := s.write(idx, func(w *writeTxn) error {
		var err error
		switch {
		case req.GetRecurse():
			err = w.kvDeleteTree(req.GetKey())
		case req.Cas != nil:
			ok, err = w.kvDeleteCAS(req.GetKey(), req.GetCas())
		default:
			err = w.kvDelete(req.GetKey())
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("kv delete %q: %w", req.GetKey(), err)
	}
	return ok, nil
}

// kvSetOp is a write to one key, as KVPut and the txn verbs need it.
type kvSetOp struct {
	key     string
	value   []byte
	flags   uint64
	cas     *uint64
	acquire string
	release string
}

func getPair(tx *memdb.Txn, key string) (*kvv1.KVPair, error) {
	raw, err := tx.First(tableKVs, "id", key)
	if err != nil {
		return nil, fmt.Errorf("look up key %q: %w", key, err)
	}
	if raw == nil {
		return nil, nil
	}
	return raw.(*kvv1.KVPair), nil
}

// kvSet writes op and returns whether its conditions held, and the pair
// written.
func (w *writeTxn) kvSet(op kvSetOp) (bool, *kvv1.KVPair, error) {
	old, err := getPair(w.Txn, op.key)
	if err != nil {
		return false, nil, err
	}
	if op.cas != nil {
		if *op.cas == 0 && old != nil {
			return false, nil, nil
		}
		if *op.cas != 0 && (old == nil || old.GetModifyIndex() != *op.cas) {
			return false, nil, nil
		}
	}
	np := &kvv1.KVPair{Key: op.key, Flags: op.flags, Value: bytes.Clone(op.value)}
	switch {
	case op.acquire != "":
		raw, err := w.First(tableSessions, "id", op.acquire)
		if err != nil {
			return false, nil, fmt.Errorf("look up session: %w", err)
		}
		if raw == nil {
			return false, nil, fmt.Errorf("%w: %q", ErrUnknownSession, op.acquire)
		}
		if old.GetSession() != "" && old.GetSession() != op.acquire {
			return false, nil, nil
		}
		np.Session = op.acquire
		np.LockIndex = old.GetLockIndex()
		if old.GetSession() != op.acquire {
			np.LockIndex++
		}
	case op.release != "":
		if old == nil || old.GetSession() != op.release {
			return false, nil, nil
		}
		np.LockIndex = old.GetLockIndex()
	default:
		np.Session, np.LockIndex = old.GetSession(), old.GetLockIndex()
	}
	np.CreateIndex = w.idx
	if old != nil {
		np.CreateIndex = old.GetCreateIndex()
	}
	np.ModifyIndex = w.idx
	if err := w.Insert(tableKVs, np); err != nil {
		return false, nil, fmt.Errorf("insert key %q: %w", op.key, err)
	}
	w.touch(tableKVs)
	// The new pair's index is above its tombstone's, so the tombstone no
	// longer bears on any prefix's index. (Looked up first: most keys have
	// none, and a lookup costs less than DeleteAll's iterator.)
	tomb, err := w.First(tableTombstones, "id", op.key)
	if err == nil && tomb != nil {
		err = w.Delete(tableTombstones, tomb)
		w.touch(tableTombstones)
	}
	if err != nil {
		return false, nil, fmt.Errorf("delete tombstone of %q: %w", op.key, err)
	}
	return true, np, nil
}

func (w *writeTxn) kvDelete(key string) error {
	p, err := getPair(w.Txn, key)
	if err != nil || p == nil {
		return err
	}
	return w.kvDeletePair(p)
}

func (w *writeTxn) kvDeleteCAS(key string, cas uint64) (bool, error) {
	p, err := getPair(w.Txn, key)
	if err != nil {
		return false, err
	}
	if p == nil {
		return true, nil
	}
	if p.GetModifyIndex() != cas {
		return false, nil
	}
	return true, w.kvDeletePair(p)
}

func (w *writeTxn) kvDeleteTree(prefix string) error {
	pairs, err := collect[*kvv1.KVPair](w.Get(tableKVs, "id_prefix", prefix))
	if err != nil {
		return fmt.Errorf("list keys under %q: %w", prefix, err)
	}
	for _, p := range pairs {
		if err := w.kvDeletePair(p); err != nil {
			return err
		}
	}
	return nil
}

// kvDeletePair deletes p and leaves a tombstone at this index.
func (w *writeTxn) kvDeletePair(p *kvv1.KVPair) error {
	if err := w.Delete(tableKVs, p); err != nil {
		return fmt.Errorf("delete key %q: %w", p.GetKey(), err)
	}
	if err := w.Insert(tableTombstones, &kvv1.KVPair{Key: p.GetKey(), ModifyIndex: w.idx}); err != nil {
		return fmt.Errorf("insert tombstone of %q: %w", p.GetKey(), err)
	}
	w.touch(tableKVs)
	w.touch(tableTombstones)
	return w.reapTombstones()
}

// reapTombstones deletes the tombstones older than tombstoneWindow and
// raises the floor to the newest one reaped.
func (w *writeTxn) reapTombstones() error {
	if w.reaped || w.idx <= tombstoneWindow {
		return nil
	}
	w.reaped = true
	cutoff := w.idx - tombstoneWindow
	it, err := w.Get(tableTombstones, "index")
	if err != nil {
		return fmt.Errorf("list tombstones: %w", err)
	}
	var old []*kvv1.KVPair
	for raw := it.Next(); raw != nil; raw = it.Next() {
		t := raw.(*kvv1.KVPair)
		if t.GetModifyIndex() >= cutoff {
			break
		}
		old = append(old, t)
	}
	if len(old) == 0 {
		return nil
	}
	var floor uint64
	for _, t := range old {
		if err := w.Delete(tableTombstones, t); err != nil {
			return fmt.Errorf("reap tombstone of %q: %w", t.GetKey(), err)
		}
		floor = max(floor, t.GetModifyIndex())
	}
	w.touch(tableTombstones)
	if floor > indexOf(w.Txn, tombstoneFloorKey) {
		return w.setIndex(tombstoneFloorKey, floor)
	}
	return nil
}

// KVGet returns the pair at key, or nil. The index is the pair's
// ModifyIndex, or the kvs table's when the key does not exist.
func (s *Store) KVGet(ws memdb.WatchSet, key string) (uint64, *kvv1.KVPair, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	return kvGet(tx, ws, key)
}

func kvGet(tx *memdb.Txn, ws memdb.WatchSet, key string) (uint64, *kvv1.KVPair, error) {
	ch, raw, err := tx.FirstWatch(tableKVs, "id", key)
	if err != nil {
		return 0, nil, fmt.Errorf("get key %q: %w", key, err)
	}
	ws.Add(ch)
	if raw == nil {
		return maxIndex(tx, tableKVs), nil, nil
	}
	p := raw.(*kvv1.KVPair)
	return max(p.GetModifyIndex(), 1), p, nil
}

// KVList returns the pairs whose key starts with prefix, sorted by key. Its
// index is the newest write or delete under the prefix.
func (s *Store) KVList(ws memdb.WatchSet, prefix string) (uint64, []*kvv1.KVPair, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	return kvList(tx, ws, prefix)
}

func kvList(tx *memdb.Txn, ws memdb.WatchSet, prefix string) (uint64, []*kvv1.KVPair, error) {
	it, err := tx.Get(tableKVs, "id_prefix", prefix)
	if err != nil {
		return 0, nil, fmt.Errorf("list keys under %q: %w", prefix, err)
	}
	ws.Add(it.WatchCh())
	var (
		pairs []*kvv1.KVPair
		m     uint64
	)
	for raw := it.Next(); raw != nil; raw = it.Next() {
		p := raw.(*kvv1.KVPair)
		pairs = append(pairs, p)
		m = max(m, p.GetModifyIndex())
	}
	idx, err := prefixIndex(tx, prefix, m)
	if err != nil {
		return 0, nil, err
	}
	return idx, pairs, nil
}

// prefixIndex is the index of a read under prefix whose pairs' newest
// ModifyIndex is m: the newest write or delete under prefix (never below
// the reaped tombstones' floor), or the kvs table's if there was none.
// A delete leaves a tombstone, so the index does not go backwards.
func prefixIndex(tx *memdb.Txn, prefix string, m uint64) (uint64, error) {
	it, err := tx.Get(tableTombstones, "id_prefix", prefix)
	if err != nil {
		return 0, fmt.Errorf("list tombstones under %q: %w", prefix, err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		m = max(m, raw.(*kvv1.KVPair).GetModifyIndex())
	}
	if m == 0 {
		return maxIndex(tx, tableKVs), nil
	}
	return max(m, indexOf(tx, tombstoneFloorKey)), nil
}

// KVKeys returns the keys under prefix, sorted. With a separator, a key
// whose remainder after the prefix contains it is cut just after its first
// occurrence, and repeats are dropped (Consul's ?keys&separator=).
func (s *Store) KVKeys(ws memdb.WatchSet, prefix, separator string) (uint64, []string, error) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	idx, pairs, err := kvList(tx, ws, prefix)
	if err != nil {
		return 0, nil, err
	}
	keys := make([]string, 0, len(pairs))
	for _, p := range pairs {
		k := p.GetKey()
		if separator != "" {
			if i := strings.Index(k[len(prefix):], separator); i >= 0 {
				k = k[:len(prefix)+i+len(separator)]
			}
		}
		// Keys sharing a roll-up are adjacent in key order.
		if n := len(keys); n > 0 && keys[n-1] == k {
			continue
		}
		keys = append(keys, k)
	}
	return idx, keys, nil
}
