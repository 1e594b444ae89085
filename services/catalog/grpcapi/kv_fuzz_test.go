package grpcapi

import (
	"slices"
	"strings"
	"testing"

	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	"github.com/beaconmesh/beacon/services/catalog/state"
)

// FuzzKVKey checks KV key handling end to end below the API: a key the API
// accepts is stored under exactly that key, found by Get, by List and Keys
// of each of its prefixes (and by no other prefix), rolled up at the
// separator by Keys, and gone after Delete; a key it refuses is refused
// with InvalidArgument, never a panic.
func FuzzKVKey(f *testing.F) {
	for _, s := range []struct{ key, prefix string }{
		{"a/b/c", "a/"}, {"a", ""}, {"web/config/", "web"}, {"ключ/值", "ключ"},
		{"../../etc/passwd", ".."}, {"a\x00b", "a"}, {"\xff\xfe", ""}, {"//", "/"},
		{strings.Repeat("k", MaxKeyLen+1), "k"}, {"a%2Fb", "a%"},
	} {
		f.Add(s.key, s.prefix)
	}
	f.Fuzz(func(t *testing.T, k, prefix string) {
		if err := key("key", k, false); err != nil {
			return
		}
		if key("prefix", prefix, true) != nil {
			prefix = ""
		}
		st := state.New()
		other := "zz-other"
		if k == other {
			other = "zz-other2"
		}
		for i, kk := range []string{other, k} {
			if ok, err := st.KVPut(uint64(10+i), &kvv1.PutRequest{Key: kk, Value: []byte("v:" + kk)}); err != nil || !ok {
				t.Fatalf("put %q: %v %v", kk, ok, err)
			}
		}
		_, pair, err := st.KVGet(nil, k)
		if err != nil || pair == nil || pair.GetKey() != k || string(pair.GetValue()) != "v:"+k || pair.GetModifyIndex() != 11 {
			t.Fatalf("get %q = %v, %v", k, pair, err)
		}
		_, pairs, err := st.KVList(nil, prefix)
		if err != nil {
			t.Fatalf("list %q: %v", prefix, err)
		}
		found := slices.ContainsFunc(pairs, func(p *kvv1.KVPair) bool { return p.GetKey() == k })
		if found != strings.HasPrefix(k, prefix) {
			t.Fatalf("list %q: contains %q = %v", prefix, k, found)
		}
		_, keys, err := st.KVKeys(nil, prefix, "/")
		if err != nil {
			t.Fatalf("keys %q: %v", prefix, err)
		}
		if strings.HasPrefix(k, prefix) {
			want := k
			if i := strings.Index(k[len(prefix):], "/"); i >= 0 {
				want = k[:len(prefix)+i+1]
			}
			if !slices.Contains(keys, want) {
				t.Fatalf("keys %q with separator /: %q lacks %q", prefix, keys, want)
			}
		}
		if ok, err := st.KVDelete(12, &kvv1.DeleteRequest{Key: k}); err != nil || !ok {
			t.Fatalf("delete %q: %v %v", k, ok, err)
		}
		if _, pair, _ := st.KVGet(nil, k); pair != nil {
			t.Fatalf("%q still there after delete: %v", k, pair)
		}
		if _, pair, _ := st.KVGet(nil, other); pair == nil {
			t.Fatalf("deleting %q removed %q too", k, other)
		}
	})
}
