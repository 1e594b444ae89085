package state

import (
	"errors"
	"slices"
	"testing"

	"github.com/hashicorp/go-memdb"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
)

func TestKVPutAndGet(t *testing.T) {
	s := New()
	mustPut(t, s, 5, &kvv1.PutRequest{Key: "a", Value: []byte("1"), Flags: 42})
	mustPut(t, s, 6, &kvv1.PutRequest{Key: "a", Value: []byte("2"), Flags: 43})
	idx, p, err := s.KVGet(nil, "a")
	if err != nil {
		t.Fatal(err)
	}
	want := &kvv1.KVPair{Key: "a", Value: []byte("2"), Flags: 43, CreateIndex: 5, ModifyIndex: 6}
	if d := diff(want, p); d != "" {
		t.Errorf("pair (-want +got):\n%s", d)
	}
	if idx != 6 {
		t.Errorf("index = %d, want 6", idx)
	}
	// Keys are case-sensitive; a missing key reports the table index.
	mustPut(t, s, 7, &kvv1.PutRequest{Key: "other"})
	if idx, p, _ := s.KVGet(nil, "A"); p != nil || idx != 7 {
		t.Errorf("KVGet(A) = %d, %v; want 7, nil", idx, p)
	}
	// The store keeps its own copy of the value.
	val := []byte("mine")
	mustPut(t, s, 8, &kvv1.PutRequest{Key: "b", Value: val})
	val[0] = 'X'
	if got := string(getKV(t, s, "b").GetValue()); got != "mine" {
		t.Errorf("stored value changed with the caller's slice: %q", got)
	}
}

func TestKVPutErrors(t *testing.T) {
	s := New()
	tests := []struct {
		name string
		req  *kvv1.PutRequest
		want error
	}{
		{"nil", nil, ErrInvalidRequest},
		{"no key", &kvv1.PutRequest{Value: []byte("x")}, ErrMissingKey},
		{"acquire and release", &kvv1.PutRequest{Key: "k", Acquire: "s", Release: "s"}, ErrInvalidRequest},
		{"unknown session", &kvv1.PutRequest{Key: "k", Acquire: "nope"}, ErrUnknownSession},
	}
	for _, tt := range tests {
		if _, err := s.KVPut(1, tt.req); !errors.Is(err, tt.want) {
			t.Errorf("%s: error = %v, want %v", tt.name, err, tt.want)
		}
	}
	if n := s.TableSizes()[tableKVs]; n != 0 {
		t.Errorf("%d keys written by failed puts", n)
	}
}

func TestKVPutCAS(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		cas     uint64
		wantOK  bool
		wantVal string
	}{
		{"create-only on missing", "new", 0, true, "x"},
		{"create-only on existing", "k", 0, false, "v"},
		{"matching index", "k", 5, true, "x"},
		{"stale index", "k", 4, false, "v"},
		{"index on missing", "new", 5, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			mustPut(t, s, 5, &kvv1.PutRequest{Key: "k", Value: []byte("v")})
			ok := mustPut(t, s, 6, &kvv1.PutRequest{Key: tt.key, Value: []byte("x"), Cas: u64(tt.cas)})
			if ok != tt.wantOK {
				t.Errorf("ok = %v, want %v", ok, tt.wantOK)
			}
			if got := string(getKV(t, s, tt.key).GetValue()); got != tt.wantVal {
				t.Errorf("value = %q, want %q", got, tt.wantVal)
			}
		})
	}
}

func TestKVPutBatch(t *testing.T) {
	s := New()
	mustPut(t, s, 5, &kvv1.PutRequest{Key: "k", Value: []byte("v")})
	ok, err := s.KVPutBatch(6, []*kvv1.PutRequest{
		{Key: "a", Value: []byte("1"), Flags: 7},
		{Key: "k", Value: []byte("stale"), Cas: u64(4)}, // fails alone
		{Key: "k", Value: []byte("w"), Cas: u64(5)},
		{Key: "a", Value: []byte("2"), Cas: u64(6)}, // sees the first put
		{Key: "new", Value: []byte("n"), Cas: u64(0)},
		{Key: "new", Value: []byte("again"), Cas: u64(0)}, // exists by now
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, true, true, true, false}; !slices.Equal(ok, want) {
		t.Errorf("ok = %v, want %v", ok, want)
	}
	for _, want := range []*kvv1.KVPair{
		{Key: "a", Value: []byte("2"), Flags: 0, CreateIndex: 6, ModifyIndex: 6},
		{Key: "k", Value: []byte("w"), CreateIndex: 5, ModifyIndex: 6},
		{Key: "new", Value: []byte("n"), CreateIndex: 6, ModifyIndex: 6},
	} {
		if d := diff(want, getKV(t, s, want.GetKey())); d != "" {
			t.Errorf("%s (-want +got):\n%s", want.GetKey(), d)
		}
	}
	if idx, _, _ := s.KVGet(nil, "k"); idx != 6 || s.MaxIndex() != 6 {
		t.Errorf("index = %d, max index %d; want 6", idx, s.MaxIndex())
	}

	// A batch that cannot be applied writes nothing.
	for _, tt := range []struct {
		name string
		puts []*kvv1.PutRequest
		want error
	}{
		{"nil put", []*kvv1.PutRequest{{Key: "x"}, nil}, ErrInvalidRequest},
		{"no key", []*kvv1.PutRequest{{Key: "x"}, {Value: []byte("v")}}, ErrMissingKey},
		{"acquire", []*kvv1.PutRequest{{Key: "x"}, {Key: "l", Acquire: "s"}}, ErrInvalidRequest},
		{"release", []*kvv1.PutRequest{{Key: "x"}, {Key: "l", Release: "s"}}, ErrInvalidRequest},
	} {
		if _, err := s.KVPutBatch(7, tt.puts); !errors.Is(err, tt.want) {
			t.Errorf("%s: error = %v, want %v", tt.name, err, tt.want)
		}
	}
	if p := getKV(t, s, "x"); p != nil || s.MaxIndex() != 6 {
		t.Errorf("a refused batch wrote: x = %v, max index %d", p, s.MaxIndex())
	}
}

func TestKVLocking(t *testing.T) {
	s := fixture(t)
	mustSession(t, s, 5, &kvv1.Session{Id: "s1", Node: "n1"})
	mustSession(t, s, 6, &kvv1.Session{Id: "s2", Node: "n1"})
	steps := []struct {
		name     string
		req      *kvv1.PutRequest
		wantOK   bool
		wantPair *kvv1.KVPair
	}{
		{"s1 acquires", &kvv1.PutRequest{Key: "lock", Value: []byte("a"), Acquire: "s1"}, true,
			&kvv1.KVPair{Key: "lock", Value: []byte("a"), Session: "s1", LockIndex: 1, CreateIndex: 10, ModifyIndex: 10}},
		{"s1 re-acquires", &kvv1.PutRequest{Key: "lock", Value: []byte("b"), Acquire: "s1"}, true,
			&kvv1.KVPair{Key: "lock", Value: []byte("b"), Session: "s1", LockIndex: 1, CreateIndex: 10, ModifyIndex: 11}},
		{"s2 cannot acquire", &kvv1.PutRequest{Key: "lock", Value: []byte("c"), Acquire: "s2"}, false,
			&kvv1.KVPair{Key: "lock", Value: []byte("b"), Session: "s1", LockIndex: 1, CreateIndex: 10, ModifyIndex: 11}},
		{"plain put keeps the lock", &kvv1.PutRequest{Key: "lock", Value: []byte("d")}, true,
			&kvv1.KVPair{Key: "lock", Value: []byte("d"), Session: "s1", LockIndex: 1, CreateIndex: 10, ModifyIndex: 13}},
		{"s2 cannot release", &kvv1.PutRequest{Key: "lock", Release: "s2"}, false,
			&kvv1.KVPair{Key: "lock", Value: []byte("d"), Session: "s1", LockIndex: 1, CreateIndex: 10, ModifyIndex: 13}},
		{"s1 releases", &kvv1.PutRequest{Key: "lock", Value: []byte("e"), Release: "s1"}, true,
			&kvv1.KVPair{Key: "lock", Value: []byte("e"), LockIndex: 1, CreateIndex: 10, ModifyIndex: 15}},
		{"release of a free lock", &kvv1.PutRequest{Key: "lock", Release: "s1"}, false,
			&kvv1.KVPair{Key: "lock", Value: []byte("e"), LockIndex: 1, CreateIndex: 10, ModifyIndex: 15}},
		{"s2 acquires", &kvv1.PutRequest{Key: "lock", Value: []byte("f"), Acquire: "s2"}, true,
			&kvv1.KVPair{Key: "lock", Value: []byte("f"), Session: "s2", LockIndex: 2, CreateIndex: 10, ModifyIndex: 17}},
		{"release of a missing key", &kvv1.PutRequest{Key: "nope", Release: "s2"}, false, nil},
	}
	for i, st := range steps {
		idx := uint64(10 + i)
		ok := mustPut(t, s, idx, st.req)
		if ok != st.wantOK {
			t.Errorf("%s: ok = %v, want %v", st.name, ok, st.wantOK)
		}
		if d := diff(st.wantPair, getKV(t, s, st.req.GetKey())); d != "" {
			t.Errorf("%s: pair (-want +got):\n%s", st.name, d)
		}
	}
}

func TestKVDelete(t *testing.T) {
	tests := []struct {
		name     string
		req      *kvv1.DeleteRequest
		wantOK   bool
		wantKeys []string
	}{
		{"key", &kvv1.DeleteRequest{Key: "a/1"}, true, []string{"a/2", "a/sub/x", "b"}},
		{"missing key", &kvv1.DeleteRequest{Key: "zzz"}, true, []string{"a/1", "a/2", "a/sub/x", "b"}},
		{"cas match", &kvv1.DeleteRequest{Key: "a/1", Cas: u64(1)}, true, []string{"a/2", "a/sub/x", "b"}},
		{"cas stale", &kvv1.DeleteRequest{Key: "a/1", Cas: u64(9)}, false, []string{"a/1", "a/2", "a/sub/x", "b"}},
		{"cas missing", &kvv1.DeleteRequest{Key: "zzz", Cas: u64(9)}, true, []string{"a/1", "a/2", "a/sub/x", "b"}},
		{"recurse", &kvv1.DeleteRequest{Key: "a/", Recurse: true}, true, []string{"b"}},
		{"recurse all", &kvv1.DeleteRequest{Recurse: true}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			for i, k := range []string{"a/1", "a/2", "a/sub/x", "b"} {
				mustPut(t, s, uint64(i+1), &kvv1.PutRequest{Key: k})
			}
			ok, err := s.KVDelete(10, tt.req)
			if err != nil || ok != tt.wantOK {
				t.Fatalf("KVDelete = %v, %v; want %v", ok, err, tt.wantOK)
			}
			_, keys, err := s.KVKeys(nil, "", "")
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(tt.wantKeys, keys); d != "" {
				t.Errorf("keys (-want +got):\n%s", d)
			}
		})
	}
	s := New()
	for _, req := range []*kvv1.DeleteRequest{nil, {}, {Key: "a", Recurse: true, Cas: u64(1)}} {
		if _, err := s.KVDelete(1, req); err == nil {
			t.Errorf("KVDelete(%v) succeeded, want an error", req)
		}
	}
}

func TestKVListIndexNeverGoesBack(t *testing.T) {
	s := New()
	mustPut(t, s, 5, &kvv1.PutRequest{Key: "a/1"})
	mustPut(t, s, 6, &kvv1.PutRequest{Key: "a/2"})
	mustPut(t, s, 7, &kvv1.PutRequest{Key: "b/1"})
	listIdx := func(prefix string) uint64 {
		idx, _, err := s.KVList(nil, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
	if got := listIdx("a/"); got != 6 {
		t.Errorf("a/ index = %d, want 6", got)
	}
	if _, err := s.KVDelete(8, &kvv1.DeleteRequest{Key: "a/2"}); err != nil {
		t.Fatal(err)
	}
	if got := listIdx("a/"); got != 8 {
		t.Errorf("a/ index after delete = %d, want 8", got)
	}
	mustPut(t, s, 9, &kvv1.PutRequest{Key: "b/2"})
	if got := listIdx("a/"); got != 8 {
		t.Errorf("a/ index after a write elsewhere = %d, want 8", got)
	}
	if got := listIdx("b/"); got != 9 {
		t.Errorf("b/ index = %d, want 9", got)
	}
	if got := listIdx("c/"); got != 9 {
		t.Errorf("empty prefix index = %d, want the kvs table's, 9", got)
	}
	if _, keys, _ := s.KVKeys(nil, "a/", ""); len(keys) != 1 {
		t.Errorf("keys under a/ = %v", keys)
	}

	// Reaping the tombstone raises the floor, so the index holds.
	far := uint64(8 + tombstoneWindow + 1)
	if _, err := s.KVDelete(far, &kvv1.DeleteRequest{Key: "b/1"}); err != nil {
		t.Fatal(err)
	}
	if got := s.TableSizes()[tableTombstones]; got != 1 {
		t.Errorf("%d tombstones after reaping, want 1 (b/1's)", got)
	}
	if got := listIdx("a/"); got < 8 {
		t.Errorf("a/ index after reaping = %d, want >= 8", got)
	}
	// Re-creating a key drops its tombstone.
	mustPut(t, s, far+1, &kvv1.PutRequest{Key: "b/1"})
	if got := s.TableSizes()[tableTombstones]; got != 0 {
		t.Errorf("%d tombstones after re-creating the key, want 0", got)
	}
}

func TestKVKeys(t *testing.T) {
	s := New()
	for i, k := range []string{"web/bar", "web/foo", "web/subdir/a", "web/subdir/b", "webx", "web/subdir/c/d"} {
		mustPut(t, s, uint64(i+1), &kvv1.PutRequest{Key: k})
	}
	tests := []struct {
		prefix, sep string
		want        []string
	}{
		{"web/", "/", []string{"web/bar", "web/foo", "web/subdir/"}},
		{"", "/", []string{"web/", "webx"}},
		{"web/sub", "/", []string{"web/subdir/"}},
		{"web/", "", []string{"web/bar", "web/foo", "web/subdir/a", "web/subdir/b", "web/subdir/c/d"}},
		{"web/subdir/", "/", []string{"web/subdir/a", "web/subdir/b", "web/subdir/c/"}},
		{"nope", "/", []string{}},
	}
	for _, tt := range tests {
		_, got, err := s.KVKeys(nil, tt.prefix, tt.sep)
		if err != nil {
			t.Fatal(err)
		}
		if d := diff(tt.want, got); d != "" {
			t.Errorf("KVKeys(%q, %q) (-want +got):\n%s", tt.prefix, tt.sep, d)
		}
	}
}

func TestKVWatches(t *testing.T) {
	type watchers map[string]memdb.WatchSet
	setup := func(t *testing.T) (*Store, watchers) {
		s := fixture(t)
		mustSession(t, s, 5, &kvv1.Session{Id: "s1", Node: "n1"})
		for i, k := range []string{"a/1", "a/2", "b/1", "b/2"} {
			mustPut(t, s, uint64(10+i), &kvv1.PutRequest{Key: k, Value: []byte("v")})
		}
		mustPut(t, s, 20, &kvv1.PutRequest{Key: "a/1", Acquire: "s1"})
		w := watchers{}
		for _, name := range []string{"get a/1", "get a/2", "get b/1", "list a/", "list b/", "keys b/", "catalog"} {
			w[name] = memdb.NewWatchSet()
		}
		s.KVGet(w["get a/1"], "a/1")
		s.KVGet(w["get a/2"], "a/2")
		s.KVGet(w["get b/1"], "b/1")
		s.KVList(w["list a/"], "a/")
		s.KVList(w["list b/"], "b/")
		s.KVKeys(w["keys b/"], "b/", "/")
		readAll(t, s, w["catalog"])
		return s, w
	}
	tests := []struct {
		name  string
		write func(s *Store) error
		fired []string
	}{
		{"put a/1", func(s *Store) error { _, err := s.KVPut(30, &kvv1.PutRequest{Key: "a/1"}); return err },
			[]string{"get a/1", "list a/"}},
		{"put a/2", func(s *Store) error { _, err := s.KVPut(30, &kvv1.PutRequest{Key: "a/2"}); return err },
			[]string{"get a/2", "list a/"}},
		{"create a/3", func(s *Store) error { _, err := s.KVPut(30, &kvv1.PutRequest{Key: "a/3"}); return err },
			[]string{"list a/"}},
		{"delete b/1", func(s *Store) error { _, err := s.KVDelete(30, &kvv1.DeleteRequest{Key: "b/1"}); return err },
			[]string{"get b/1", "list b/", "keys b/"}},
		{"failed cas", func(s *Store) error {
			_, err := s.KVPut(30, &kvv1.PutRequest{Key: "b/1", Cas: u64(1)})
			return err
		}, nil},
		{"txn on a/2", func(s *Store) error {
			_, errs := s.Txn(30, []*kvv1.TxnOp{kvOp(kvv1.KVVerb_KV_VERB_SET, "a/2", "x")})
			if len(errs) > 0 {
				return errors.New(errs[0].GetWhat())
			}
			return nil
		}, []string{"get a/2", "list a/"}},
		{"session destroy releases a/1", func(s *Store) error { return s.SessionDestroy(30, "s1") },
			[]string{"get a/1", "list a/"}},
		{"catalog write", func(s *Store) error {
			return s.Register(30, &catalogv1.RegisterRequest{Node: node("n4", "10.0.0.4", nil)})
		}, []string{"catalog"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, w := setup(t)
			if err := tt.write(s); err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for _, name := range tt.fired {
				want[name] = true
			}
			for name, ws := range w {
				if got := fired(ws); got != want[name] {
					t.Errorf("watcher %q fired = %v, want %v", name, got, want[name])
				}
			}
		})
	}
}
