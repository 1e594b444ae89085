package state

import (
	"strings"
	"testing"

	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
)

func kvOp(verb kvv1.KVVerb, key, value string) *kvv1.TxnOp {
	op := &kvv1.KVOp{Verb: verb, Key: key}
	if value != "" {
		op.Value = []byte(value)
	}
	return &kvv1.TxnOp{Op: &kvv1.TxnOp_Kv{Kv: op}}
}

func withIndex(op *kvv1.TxnOp, idx uint64) *kvv1.TxnOp {
	op.GetKv().Index = idx
	return op
}

func withSession(op *kvv1.TxnOp, id string) *kvv1.TxnOp {
	op.GetKv().Session = id
	return op
}

func kvRes(p *kvv1.KVPair) *kvv1.TxnResult {
	return &kvv1.TxnResult{Result: &kvv1.TxnResult_Kv{Kv: p}}
}

// txnStore has a=1 (index 5), t/x, t/y (6, 7), and lock held by s1 (8).
func txnStore(t *testing.T) *Store {
	t.Helper()
	s := fixture(t)
	mustPut(t, s, 5, &kvv1.PutRequest{Key: "a", Value: []byte("1")})
	mustPut(t, s, 6, &kvv1.PutRequest{Key: "t/x", Value: []byte("x")})
	mustPut(t, s, 7, &kvv1.PutRequest{Key: "t/y", Value: []byte("y")})
	mustSession(t, s, 8, &kvv1.Session{Id: "s1", Node: "n1"})
	mustSession(t, s, 8, &kvv1.Session{Id: "s2", Node: "n1"})
	mustPut(t, s, 8, &kvv1.PutRequest{Key: "lock", Acquire: "s1"})
	return s
}

func TestTxnSuccess(t *testing.T) {
	s := txnStore(t)
	ops := []*kvv1.TxnOp{
		kvOp(kvv1.KVVerb_KV_VERB_SET, "b", "2"),
		withIndex(kvOp(kvv1.KVVerb_KV_VERB_CAS, "c", "3"), 0),
		withIndex(kvOp(kvv1.KVVerb_KV_VERB_CAS, "a", "1b"), 5),
		kvOp(kvv1.KVVerb_KV_VERB_GET, "b", ""),
		kvOp(kvv1.KVVerb_KV_VERB_GET_TREE, "t/", ""),
		kvOp(kvv1.KVVerb_KV_VERB_GET_OR_EMPTY, "zz", ""),
		withIndex(kvOp(kvv1.KVVerb_KV_VERB_CHECK_INDEX, "b", ""), 10),
		withSession(kvOp(kvv1.KVVerb_KV_VERB_CHECK_SESSION, "lock", ""), "s1"),
		kvOp(kvv1.KVVerb_KV_VERB_CHECK_NOT_EXISTS, "zz", ""),
		withSession(kvOp(kvv1.KVVerb_KV_VERB_UNLOCK, "lock", ""), "s1"),
		withSession(kvOp(kvv1.KVVerb_KV_VERB_LOCK, "lock", "mine"), "s2"),
		kvOp(kvv1.KVVerb_KV_VERB_DELETE, "t/x", ""),
		kvOp(kvv1.KVVerb_KV_VERB_DELETE, "missing", ""),
		withIndex(kvOp(kvv1.KVVerb_KV_VERB_DELETE_CAS, "t/y", ""), 7),
		kvOp(kvv1.KVVerb_KV_VERB_DELETE_TREE, "nothing/", ""),
	}
	results, errs := s.Txn(10, ops)
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	want := []*kvv1.TxnResult{
		kvRes(&kvv1.KVPair{Key: "b", CreateIndex: 10, ModifyIndex: 10}),
		kvRes(&kvv1.KVPair{Key: "c", CreateIndex: 10, ModifyIndex: 10}),
		kvRes(&kvv1.KVPair{Key: "a", CreateIndex: 5, ModifyIndex: 10}),
		kvRes(&kvv1.KVPair{Key: "b", Value: []byte("2"), CreateIndex: 10, ModifyIndex: 10}),
		kvRes(&kvv1.KVPair{Key: "t/x", Value: []byte("x"), CreateIndex: 6, ModifyIndex: 6}),
		kvRes(&kvv1.KVPair{Key: "t/y", Value: []byte("y"), CreateIndex: 7, ModifyIndex: 7}),
		kvRes(&kvv1.KVPair{Key: "zz"}),
		// Checks that hold report the pair without its value, as Consul's do.
		kvRes(&kvv1.KVPair{Key: "b", CreateIndex: 10, ModifyIndex: 10}),
		kvRes(&kvv1.KVPair{Key: "lock", Session: "s1", LockIndex: 1, CreateIndex: 8, ModifyIndex: 8}),
		kvRes(&kvv1.KVPair{Key: "lock", LockIndex: 1, CreateIndex: 8, ModifyIndex: 10}),
		kvRes(&kvv1.KVPair{Key: "lock", Session: "s2", LockIndex: 2, CreateIndex: 8, ModifyIndex: 10}),
	}
	if d := diff(want, results); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
	_, keys, _ := s.KVKeys(nil, "", "")
	if d := diff([]string{"a", "b", "c", "lock"}, keys); d != "" {
		t.Errorf("keys after txn (-want +got):\n%s", d)
	}
	if p := getKV(t, s, "lock"); p.GetSession() != "s2" || string(p.GetValue()) != "mine" {
		t.Errorf("lock = %v, want held by s2 with value mine", p)
	}
}

func TestTxnFailureAppliesNothing(t *testing.T) {
	tests := []struct {
		name string
		op   *kvv1.TxnOp
		what string // a substring of the error
	}{
		{"get missing", kvOp(kvv1.KVVerb_KV_VERB_GET, "nope", ""), `"nope" doesn't exist`},
		{"cas stale", withIndex(kvOp(kvv1.KVVerb_KV_VERB_CAS, "a", "x"), 4), `"a", index is stale`},
		{"cas create existing", withIndex(kvOp(kvv1.KVVerb_KV_VERB_CAS, "a", "x"), 0), `"a", index is stale`},
		{"lock held", withSession(kvOp(kvv1.KVVerb_KV_VERB_LOCK, "lock", ""), "s2"), `"lock", lock is already held`},
		{"lock unknown session", withSession(kvOp(kvv1.KVVerb_KV_VERB_LOCK, "k", ""), "s9"), `"s9"`},
		{"lock without session", kvOp(kvv1.KVVerb_KV_VERB_LOCK, "k", ""), `"k"`},
		{"unlock not held", withSession(kvOp(kvv1.KVVerb_KV_VERB_UNLOCK, "lock", ""), "s2"), `"lock", lock isn't held`},
		{"check-index", withIndex(kvOp(kvv1.KVVerb_KV_VERB_CHECK_INDEX, "a", ""), 4), `index 5 of key "a" != 4`},
		{"check-index missing", kvOp(kvv1.KVVerb_KV_VERB_CHECK_INDEX, "nope", ""), `"nope" doesn't exist`},
		{"check-session", withSession(kvOp(kvv1.KVVerb_KV_VERB_CHECK_SESSION, "lock", ""), "s2"), `session "s1" of key "lock"`},
		{"check-not-exists", kvOp(kvv1.KVVerb_KV_VERB_CHECK_NOT_EXISTS, "a", ""), `"a" exists`},
		{"delete-cas stale", withIndex(kvOp(kvv1.KVVerb_KV_VERB_DELETE_CAS, "a", ""), 4), `"a", index is stale`},
		{"unknown verb", kvOp(kvv1.KVVerb_KV_VERB_UNSPECIFIED, "a", ""), `unknown KV verb`},
		{"missing key", kvOp(kvv1.KVVerb_KV_VERB_SET, "", "x"), `missing key`},
		{"nil op", nil, `missing KV operation`},
		{"empty op", &kvv1.TxnOp{}, `missing KV operation`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := txnStore(t)
			before, sizes := s.MaxIndex(), s.TableSizes()
			ops := []*kvv1.TxnOp{
				kvOp(kvv1.KVVerb_KV_VERB_SET, "new", "x"),
				kvOp(kvv1.KVVerb_KV_VERB_DELETE_TREE, "t/", ""),
				tt.op,
				kvOp(kvv1.KVVerb_KV_VERB_GET, "also-missing", ""),
			}
			results, errs := s.Txn(10, ops)
			if results != nil {
				t.Errorf("results = %v, want none", results)
			}
			if len(errs) != 2 {
				t.Fatalf("errors = %v, want 2", errs)
			}
			if errs[0].GetOpIndex() != 2 || !strings.Contains(errs[0].GetWhat(), tt.what) {
				t.Errorf("first error = %v, want op 2 containing %q", errs[0], tt.what)
			}
			if errs[1].GetOpIndex() != 3 || !strings.Contains(errs[1].GetWhat(), `"also-missing"`) {
				t.Errorf("second error = %v, want op 3 naming also-missing", errs[1])
			}
			if got := s.MaxIndex(); got != before {
				t.Errorf("MaxIndex = %d, want %d", got, before)
			}
			if d := diff(sizes, s.TableSizes()); d != "" {
				t.Errorf("tables changed (-before +after):\n%s", d)
			}
			if p := getKV(t, s, "t/x"); p == nil {
				t.Error("t/x was deleted by a failed txn")
			}
		})
	}
}

func TestTxnSeesEarlierOps(t *testing.T) {
	s := txnStore(t)
	results, errs := s.Txn(10, []*kvv1.TxnOp{
		kvOp(kvv1.KVVerb_KV_VERB_SET, "n", "1"),
		withIndex(kvOp(kvv1.KVVerb_KV_VERB_CHECK_INDEX, "n", ""), 10),
		kvOp(kvv1.KVVerb_KV_VERB_DELETE, "n", ""),
		kvOp(kvv1.KVVerb_KV_VERB_CHECK_NOT_EXISTS, "n", ""),
	})
	if len(errs) > 0 || len(results) != 2 { // the set's and the check's
		t.Errorf("Txn = %v, %v; want two results, no errors", results, errs)
	}
}

func TestTxnRead(t *testing.T) {
	s := txnStore(t)
	idx, results, errs := s.TxnRead(nil, []*kvv1.TxnOp{
		kvOp(kvv1.KVVerb_KV_VERB_GET, "a", ""),
		kvOp(kvv1.KVVerb_KV_VERB_GET_TREE, "t/", ""),
		withSession(kvOp(kvv1.KVVerb_KV_VERB_CHECK_SESSION, "lock", ""), "s1"),
	})
	if len(errs) > 0 || len(results) != 4 || idx != 8 {
		t.Errorf("TxnRead = %d, %v, %v; want index 8, 4 results", idx, results, errs)
	}
	_, results, errs = s.TxnRead(nil, []*kvv1.TxnOp{
		kvOp(kvv1.KVVerb_KV_VERB_GET, "a", ""),
		kvOp(kvv1.KVVerb_KV_VERB_SET, "a", "x"),
	})
	if results != nil || len(errs) != 1 || errs[0].GetOpIndex() != 1 || !strings.Contains(errs[0].GetWhat(), "read-only") {
		t.Errorf("TxnRead with a write = %v, %v; want one read-only error at op 1", results, errs)
	}
	if got := string(getKV(t, s, "a").GetValue()); got != "1" {
		t.Errorf("a = %q after a read-only txn", got)
	}
}
