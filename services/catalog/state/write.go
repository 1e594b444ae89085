package state

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-memdb"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
)

// Prefixes of the per-service rows of the index table. They let a query on
// one service report the last change to that service rather than to the
// whole table, so that writes to other services do not end its blocking
// wait early. A row exists while the service has instances (or mesh
// endpoints); without one, readers fall back to the table indexes, which
// are never below a deleted row's value.
const (
	serviceIndexPrefix = "service."
	connectIndexPrefix = "connect."
)

func serviceIndexKey(name string) string { return serviceIndexPrefix + strings.ToLower(name) }
func connectIndexKey(name string) string { return connectIndexPrefix + strings.ToLower(name) }

// writeTxn is one memdb write transaction at one Raft index, with the
// bookkeeping needed to stamp the index table when it commits.
type writeTxn struct {
	*memdb.Txn
	idx     uint64
	tables  map[string]struct{}
	svcKeys map[string]struct{}
	// delays are lock-delays to record when (and only if) the txn commits.
	delays []delayedKey
	// reaped says whether old tombstones were already reaped in this txn.
	reaped bool
	// stamped says whether the index table was written at idx.
	stamped bool
}

type delayedKey struct {
	key   string
	delay time.Duration
}

// write runs fn in one write transaction at Raft index idx. It commits only
// if fn succeeds, so a failed write leaves no trace.
func (s *Store) write(idx uint64, fn func(w *writeTxn) error) error {
	tx := s.db.Txn(true)
	w := &writeTxn{Txn: tx, idx: idx}
	if err := fn(w); err != nil {
		tx.Abort()
		return err
	}
	if err := w.stampIndexes(); err != nil {
		tx.Abort()
		return err
	}
	// Lock-delays go in before the released keys become visible, so that
	// the leader cannot see a key free but not yet delayed. Nothing can
	// fail between here and the commit.
	if len(w.delays) > 0 {
		now := time.Now()
		for _, d := range w.delays {
			s.lockDelay.set(d.key, now.Add(d.delay))
		}
	}
	tx.Commit()
	if w.stamped {
		s.maxIndex.Store(max(s.maxIndex.Load(), w.idx)) // only the FSM writes: no race
	}
	return nil
}

// touch records that table changed in this transaction.
func (w *writeTxn) touch(table string) {
	if w.tables == nil {
		w.tables = make(map[string]struct{})
	}
	w.tables[table] = struct{}{}
}

// touchService records that what a query on svc's service (or on the
// service it is a mesh endpoint of) returns changed.
func (w *writeTxn) touchService(svc *catalogv1.Service) {
	if w.svcKeys == nil {
		w.svcKeys = make(map[string]struct{})
	}
	if name := svc.GetService(); name != "" {
		w.svcKeys[serviceIndexKey(name)] = struct{}{}
	}
	if name := connectName(svc); name != "" {
		w.svcKeys[connectIndexKey(name)] = struct{}{}
	}
}

// touchNodeServices touches every service instance on node.
func (w *writeTxn) touchNodeServices(node string) error {
	rows, err := nodeServiceRows(w.Txn, node)
	if err != nil {
		return err
	}
	for _, r := range rows {
		w.touchService(r.svc)
	}
	return nil
}

// stampIndexes writes the index table: every touched table, and every
// touched service row (or deletes it if the service is gone).
func (w *writeTxn) stampIndexes() error {
	for key := range w.svcKeys {
		var (
			raw any
			err error
		)
		if name, ok := strings.CutPrefix(key, serviceIndexPrefix); ok {
			raw, err = w.First(tableServices, "service", name)
		} else {
			raw, err = w.First(tableServices, "connect", strings.TrimPrefix(key, connectIndexPrefix))
		}
		if err != nil {
			return fmt.Errorf("look up instances for index %q: %w", key, err)
		}
		if raw != nil {
			if err := w.setIndex(key, w.idx); err != nil {
				return err
			}
			continue
		}
		if _, err := w.DeleteAll(tableIndex, "id", key); err != nil {
			return fmt.Errorf("delete index %q: %w", key, err)
		}
	}
	for table := range w.tables {
		if err := w.setIndex(table, w.idx); err != nil {
			return err
		}
	}
	return nil
}

func (w *writeTxn) setIndex(name string, value uint64) error {
	if err := w.Insert(tableIndex, &indexRow{name: name, value: value}); err != nil {
		return fmt.Errorf("update index %q: %w", name, err)
	}
	w.stamped = w.stamped || value == w.idx
	return nil
}

// collect drains an iterator into a slice of T, so that the caller may
// modify the table while walking the rows.
func collect[T any](it memdb.ResultIterator, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	var out []T
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(T))
	}
	return out, nil
}

func nodeServiceRows(tx *memdb.Txn, node string) ([]*serviceRow, error) {
	rows, err := collect[*serviceRow](tx.Get(tableServices, "node", node))
	if err != nil {
		return nil, fmt.Errorf("list services of node %q: %w", node, err)
	}
	return rows, nil
}
