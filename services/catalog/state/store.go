// Package state holds the catalog's replicated state in memory: nodes,
// service instances, health checks, KV pairs and sessions, in go-memdb
// tables that the Raft FSM writes and every read path queries.
//
// Writes come only from the FSM, each stamped with its Raft index and done
// in one memdb transaction. Reads return the index they reflect (never 0)
// and can register watch channels that fire when their answer may have
// changed, which is what blocking queries wait on. Rows are proto messages
// that are never modified once inserted, so reads hand them out shared:
// callers must treat results as read-only.
package state

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-memdb"
)

// watchLimit is how many channels a read adds to a watch set before it
// falls back to a coarser channel, as Consul does: past a few thousand,
// a table-wide watch is cheaper than waiting on every row.
const watchLimit = 2048

// Store is the catalog's in-memory state. It is safe for concurrent use;
// only the FSM writes to it.
type Store struct {
	db *memdb.MemDB

	abandonCh   chan struct{}
	abandonOnce sync.Once

	lockDelay *lockDelay

	// maxIndex caches the newest index in the index table, which every
	// read's answer reports; computing it walks the table.
	maxIndex atomic.Uint64
}

// New returns an empty Store. It panics only if the static schema is
// invalid, which tests rule out.
func New() *Store {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		panic("state: invalid schema: " + err.Error())
	}
	return &Store{
		db:        db,
		abandonCh: make(chan struct{}),
		lockDelay: newLockDelay(),
	}
}

// Abandon marks the store as replaced (by a snapshot restore): its abandon
// channel closes so that blocking queries on it wake and re-read from the
// new store. It is safe to call more than once.
func (s *Store) Abandon() {
	s.abandonOnce.Do(func() { close(s.abandonCh) })
}

// AbandonCh returns a channel closed when the store is abandoned. Blocking
// queries add it to their watch set.
func (s *Store) AbandonCh() <-chan struct{} {
	return s.abandonCh
}

// KVLockDelay returns until when key is under lock-delay: a session that
// held it was invalidated, and no other session may acquire it before then.
// The zero time means no delay. Lock-delays live only in this replica's
// memory: they are set on every replica when the FSM invalidates a session,
// and neither replicated nor snapshotted.
func (s *Store) KVLockDelay(key string) time.Time {
	return s.lockDelay.get(key)
}

// TableSizes returns the number of rows in each table, for metrics.
func (s *Store) TableSizes() map[string]int {
	tx := s.db.Txn(false)
	defer tx.Abort()
	sizes := make(map[string]int, len(allTables))
	for _, table := range allTables {
		it, err := tx.Get(table, "id")
		if err != nil {
			continue
		}
		n := 0
		for row := it.Next(); row != nil; row = it.Next() {
			n++
		}
		sizes[table] = n
	}
	return sizes
}

// maxIndex returns the largest index-table value among names, and at least
// 1 so that no read ever reports index 0.
func maxIndex(tx *memdb.Txn, names ...string) uint64 {
	var m uint64
	for _, name := range names {
		m = max(m, indexOf(tx, name))
	}
	return max(m, 1)
}

// indexOf returns the index-table value for name, or 0.
func indexOf(tx *memdb.Txn, name string) uint64 {
	raw, err := tx.First(tableIndex, "id", name)
	if err != nil || raw == nil {
		return 0
	}
	return raw.(*indexRow).value
}

// watcher adds channels to a read's watch set, falling back to whole-table
// watches once the set holds watchLimit channels.
type watcher struct {
	ws     memdb.WatchSet
	tx     *memdb.Txn
	tables map[string]<-chan struct{}
}

func newWatcher(ws memdb.WatchSet, tx *memdb.Txn) *watcher {
	return &watcher{ws: ws, tx: tx}
}

// add watches ch, or the whole of table when the set is full.
func (w *watcher) add(ch <-chan struct{}, table string) {
	if w.ws == nil {
		return
	}
	if len(w.ws) < watchLimit {
		w.ws.Add(ch)
		return
	}
	w.ws.Add(w.table(table))
}

// table returns the channel that fires on any change to table.
func (w *watcher) table(table string) <-chan struct{} {
	if ch, ok := w.tables[table]; ok {
		return ch
	}
	it, err := w.tx.Get(table, "id")
	if err != nil {
		// Unreachable with the static schema; a nil channel never fires, so
		// the worst outcome is a blocking query that waits out its timeout.
		return nil
	}
	if w.tables == nil {
		w.tables = make(map[string]<-chan struct{})
	}
	w.tables[table] = it.WatchCh()
	return it.WatchCh()
}

// lockDelay remembers, per key, until when it may not be acquired.
type lockDelay struct {
	mu sync.Mutex
	m  map[string]time.Time
	// sweepAt is the map size at which expired entries are next swept.
	sweepAt int
}

func newLockDelay() *lockDelay {
	return &lockDelay{m: make(map[string]time.Time), sweepAt: 64}
}

func (d *lockDelay) get(key string) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	until, ok := d.m[key]
	if !ok {
		return time.Time{}
	}
	if !time.Now().Before(until) {
		delete(d.m, key)
		return time.Time{}
	}
	return until
}

func (d *lockDelay) set(key string, until time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if cur, ok := d.m[key]; ok && cur.After(until) {
		return
	}
	d.m[key] = until
	if len(d.m) >= d.sweepAt {
		now := time.Now()
		for k, t := range d.m {
			if !now.Before(t) {
				delete(d.m, k)
			}
		}
		d.sweepAt = max(64, 2*len(d.m))
	}
}
