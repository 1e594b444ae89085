package state

import (
	"errors"
	"fmt"

	"github.com/hashicorp/go-memdb"

	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
)

// errTxnFailed aborts a transaction whose ops reported errors.
var errTxnFailed = errors.New("transaction failed")

// Txn applies ops in order in one write transaction at Raft index idx, with
// Consul's KV verbs and failure rules. Later ops see the effects of earlier
// ones. If any op fails, nothing is applied and every failure is returned
// with its op index and a message naming the key; otherwise the results
// are returned: get and get-tree give pairs with their values, set, cas,
// lock and unlock the written pair without its value, and deletes and
// checks nothing.
func (s *Store) Txn(idx uint64, ops []*kvv1.TxnOp) ([]*kvv1.TxnResult, []*kvv1.TxnError) {
	var (
		results []*kvv1.TxnResult
		errs    []*kvv1.TxnError
	)
	err := s.write(idx, func(w *writeTxn) error {
		c := &txnCtx{tx: w.Txn, w: w}
		results, errs = c.run(ops)
		if len(errs) > 0 {
			return errTxnFailed
		}
		return nil
	})
	if err != nil && len(errs) == 0 {
		// Not the fault of one op (the index table could not be written);
		// report it against the first so that callers indexing ops by
		// op_index stay in range.
		errs = []*kvv1.TxnError{{OpIndex: 0, What: err.Error()}}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return results, nil
}

// TxnRead runs read-only ops (get, get-tree, get-or-empty, check-index,
// check-session, check-not-exists) against one consistent view, with the
// same rules and results as Txn; a write verb is an error. The index is the
// kvs table's. Watches for the keys read are added to ws (which may be nil).
func (s *Store) TxnRead(ws memdb.WatchSet, ops []*kvv1.TxnOp) (uint64, []*kvv1.TxnResult, []*kvv1.TxnError) {
	tx := s.db.Txn(false)
	defer tx.Abort()
	c := &txnCtx{tx: tx, ws: ws}
	results, errs := c.run(ops)
	idx := maxIndex(tx, tableKVs)
	if len(errs) > 0 {
		return idx, nil, errs
	}
	return idx, results, nil
}

// txnCtx runs txn ops against tx; w is nil for read-only transactions.
type txnCtx struct {
	tx *memdb.Txn
	w  *writeTxn
	ws memdb.WatchSet
}

func (c *txnCtx) run(ops []*kvv1.TxnOp) ([]*kvv1.TxnResult, []*kvv1.TxnError) {
	var (
		results []*kvv1.TxnResult
		errs    []*kvv1.TxnError
	)
	for i, op := range ops {
		res, err := c.kvOp(op.GetKv())
		if err != nil {
			errs = append(errs, &kvv1.TxnError{OpIndex: int32(i), What: err.Error()})
			continue
		}
		results = append(results, res...)
	}
	return results, errs
}

func kvResult(p *kvv1.KVPair) []*kvv1.TxnResult {
	return []*kvv1.TxnResult{{Result: &kvv1.TxnResult_Kv{Kv: p}}}
}

// withoutValue returns p's bookkeeping without its value, as write verbs
// report it.
func withoutValue(p *kvv1.KVPair) []*kvv1.TxnResult {
	return kvResult(&kvv1.KVPair{
		Key: p.GetKey(), Flags: p.GetFlags(), Session: p.GetSession(), LockIndex: p.GetLockIndex(),
		CreateIndex: p.GetCreateIndex(), ModifyIndex: p.GetModifyIndex(),
	})
}

func (c *txnCtx) kvOp(op *kvv1.KVOp) ([]*kvv1.TxnResult, error) {
	if op == nil {
		return nil, errors.New("missing KV operation")
	}
	key := op.GetKey()
	verb := op.GetVerb()
	switch verb {
	case kvv1.KVVerb_KV_VERB_GET_TREE, kvv1.KVVerb_KV_VERB_DELETE_TREE:
	default:
		if key == "" {
			return nil, fmt.Errorf("%s: %w", verb, ErrMissingKey)
		}
	}

	// Read verbs.
	switch verb {
	case kvv1.KVVerb_KV_VERB_GET, kvv1.KVVerb_KV_VERB_GET_OR_EMPTY,
		kvv1.KVVerb_KV_VERB_CHECK_INDEX, kvv1.KVVerb_KV_VERB_CHECK_SESSION,
		kvv1.KVVerb_KV_VERB_CHECK_NOT_EXISTS:
		_, p, err := kvGet(c.tx, c.ws, key)
		if err != nil {
			return nil, err
		}
		return readVerb(op, p)
	case kvv1.KVVerb_KV_VERB_GET_TREE:
		_, pairs, err := kvList(c.tx, c.ws, key)
		if err != nil {
			return nil, err
		}
		var out []*kvv1.TxnResult
		for _, p := range pairs {
			out = append(out, kvResult(p)...)
		}
		return out, nil
	}

	if c.w == nil {
		return nil, fmt.Errorf("verb %s on key %q is not allowed in a read-only transaction", verb, key)
	}
	w := c.w
	switch verb {
	case kvv1.KVVerb_KV_VERB_SET:
		_, p, err := w.kvSet(kvSetOp{key: key, value: op.GetValue(), flags: op.GetFlags()})
		if err != nil {
			return nil, fmt.Errorf("set key %q: %w", key, err)
		}
		return withoutValue(p), nil
	case kvv1.KVVerb_KV_VERB_CAS:
		cas := op.GetIndex()
		ok, p, err := w.kvSet(kvSetOp{key: key, value: op.GetValue(), flags: op.GetFlags(), cas: &cas})
		if err != nil {
			return nil, fmt.Errorf("set key %q: %w", key, err)
		}
		if !ok {
			return nil, fmt.Errorf("failed to set key %q, index is stale", key)
		}
		return withoutValue(p), nil
	case kvv1.KVVerb_KV_VERB_LOCK:
		if op.GetSession() == "" {
			return nil, fmt.Errorf("lock key %q: %w: missing session", key, ErrInvalidRequest)
		}
		ok, p, err := w.kvSet(kvSetOp{key: key, value: op.GetValue(), flags: op.GetFlags(), acquire: op.GetSession()})
		if err != nil {
			return nil, fmt.Errorf("lock key %q: %w", key, err)
		}
		if !ok {
			return nil, fmt.Errorf("failed to lock key %q, lock is already held", key)
		}
		return withoutValue(p), nil
	case kvv1.KVVerb_KV_VERB_UNLOCK:
		if op.GetSession() == "" {
			return nil, fmt.Errorf("unlock key %q: %w: missing session", key, ErrInvalidRequest)
		}
		ok, p, err := w.kvSet(kvSetOp{key: key, value: op.GetValue(), flags: op.GetFlags(), release: op.GetSession()})
		if err != nil {
			return nil, fmt.Errorf("unlock key %q: %w", key, err)
		}
		if !ok {
			return nil, fmt.Errorf("failed to unlock key %q, lock isn't held, or is held by another session", key)
		}
		return withoutValue(p), nil
	case kvv1.KVVerb_KV_VERB_DELETE:
		if err := w.kvDelete(key); err != nil {
			return nil, fmt.Errorf("delete key %q: %w", key, err)
		}
		return nil, nil
	case kvv1.KVVerb_KV_VERB_DELETE_TREE:
		if err := w.kvDeleteTree(key); err != nil {
			return nil, fmt.Errorf("delete tree %q: %w", key, err)
		}
		return nil, nil
	case kvv1.KVVerb_KV_VERB_DELETE_CAS:
		ok, err := w.kvDeleteCAS(key, op.GetIndex())
		if err != nil {
			return nil, fmt.Errorf("delete key %q: %w", key, err)
		}
		if !ok {
			return nil, fmt.Errorf("failed to delete key %q, index is stale", key)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unknown KV verb %s for key %q", verb, key)
}

// readVerb evaluates a read verb on p, the pair at op's key (nil if none).
func readVerb(op *kvv1.KVOp, p *kvv1.KVPair) ([]*kvv1.TxnResult, error) {
	key := op.GetKey()
	switch op.GetVerb() {
	case kvv1.KVVerb_KV_VERB_GET_OR_EMPTY:
		if p == nil {
			return kvResult(&kvv1.KVPair{Key: key}), nil
		}
		return kvResult(p), nil
	case kvv1.KVVerb_KV_VERB_CHECK_NOT_EXISTS:
		if p != nil {
			return nil, fmt.Errorf("key %q exists", key)
		}
		return nil, nil
	}
	if p == nil {
		return nil, fmt.Errorf("key %q doesn't exist", key)
	}
	// A check that holds reports the pair without its value, as Consul
	// does, so that results pair with operations by position.
	switch op.GetVerb() {
	case kvv1.KVVerb_KV_VERB_CHECK_INDEX:
		if p.GetModifyIndex() != op.GetIndex() {
			return nil, fmt.Errorf("current modify index %d of key %q != %d", p.GetModifyIndex(), key, op.GetIndex())
		}
		return withoutValue(p), nil
	case kvv1.KVVerb_KV_VERB_CHECK_SESSION:
		if p.GetSession() != op.GetSession() {
			return nil, fmt.Errorf("current session %q of key %q != %q", p.GetSession(), key, op.GetSession())
		}
		return withoutValue(p), nil
	}
	return kvResult(p), nil
}
