package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

func kvKeys(ps consulapi.KVPairs) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Key)
	}
	return out
}

func TestConsulAPIKV(t *testing.T) {
	t.Parallel()
	a, c := startAgent(t)
	kv := c.KV()

	for _, k := range []string{"app/config/port", "app/config/host", "app/db/user", "app/name", "other"} {
		if _, err := kv.Put(&consulapi.KVPair{Key: k, Value: []byte("v:" + k), Flags: 42}, nil); err != nil {
			t.Fatalf("Put(%s): %v", k, err)
		}
	}
	p, meta, err := kv.Get("app/config/port", nil)
	if err != nil || p == nil {
		t.Fatalf("Get(app/config/port) = %v, %v", p, err)
	}
	if string(p.Value) != "v:app/config/port" || p.Flags != 42 || p.CreateIndex == 0 || p.ModifyIndex == 0 {
		t.Errorf("Get(app/config/port) = %+v", p)
	}
	if meta.LastIndex == 0 || !meta.KnownLeader {
		t.Errorf("Get meta = %+v", meta)
	}

	list, _, err := kv.List("app/", nil)
	if err != nil || !slices.Equal(kvKeys(list), []string{"app/config/host", "app/config/port", "app/db/user", "app/name"}) {
		t.Errorf("List(app/) = %v, %v", kvKeys(list), err)
	}
	keys, _, err := kv.Keys("app/", "/", nil)
	if err != nil || !slices.Equal(keys, []string{"app/config/", "app/db/", "app/name"}) {
		t.Errorf("Keys(app/, /) = %v, %v; want [app/config/ app/db/ app/name]", keys, err)
	}
	keys, _, err = kv.Keys("app/", "", nil)
	if err != nil || len(keys) != 4 {
		t.Errorf("Keys(app/) = %v, %v; want 4 keys", keys, err)
	}

	// ?raw gives the bytes verbatim.
	raw := do(t, http.MethodGet, "http://"+a.HTTPAddr+"/v1/kv/app/name?raw", nil)
	if raw.status != http.StatusOK || raw.body != "v:app/name" {
		t.Errorf("GET ?raw = %d %q", raw.status, raw.body)
	}

	// A missing key is a 404 that still carries the read headers.
	miss := do(t, http.MethodGet, "http://"+a.HTTPAddr+"/v1/kv/does/not/exist", nil)
	if miss.status != http.StatusNotFound {
		t.Errorf("GET missing key: status %d, want 404", miss.status)
	}
	if idx, err := strconv.ParseUint(miss.header.Get("X-Consul-Index"), 10, 64); err != nil || idx == 0 {
		t.Errorf("GET missing key: X-Consul-Index %q, want a positive index", miss.header.Get("X-Consul-Index"))
	}
	if miss.header.Get("X-Consul-KnownLeader") != "true" || miss.header.Get("X-Consul-LastContact") == "" {
		t.Errorf("GET missing key: headers %v", miss.header)
	}
	if p, meta, err := kv.Get("does/not/exist", nil); err != nil || p != nil || meta.LastIndex == 0 {
		t.Errorf("Get(missing) = %v, %+v, %v; want nil with an index", p, meta, err)
	}

	// CAS: 0 creates only, otherwise the ModifyIndex must match.
	ok, _, err := kv.CAS(&consulapi.KVPair{Key: "cas", Value: []byte("1"), ModifyIndex: 0}, nil)
	if err != nil || !ok {
		t.Fatalf("CAS create = %v, %v", ok, err)
	}
	ok, _, err = kv.CAS(&consulapi.KVPair{Key: "cas", Value: []byte("again"), ModifyIndex: 0}, nil)
	if err != nil || ok {
		t.Errorf("CAS create of an existing key = %v, %v; want false", ok, err)
	}
	cur, _, err := kv.Get("cas", nil)
	if err != nil || cur == nil {
		t.Fatal(cur, err)
	}
	ok, _, err = kv.CAS(&consulapi.KVPair{Key: "cas", Value: []byte("stale"), ModifyIndex: cur.ModifyIndex - 1}, nil)
	if err != nil || ok {
		t.Errorf("CAS with a stale index = %v, %v; want false", ok, err)
	}
	ok, _, err = kv.CAS(&consulapi.KVPair{Key: "cas", Value: []byte("2"), ModifyIndex: cur.ModifyIndex}, nil)
	if err != nil || !ok {
		t.Errorf("CAS with the current index = %v, %v; want true", ok, err)
	}
	if p, _, _ := kv.Get("cas", nil); p == nil || string(p.Value) != "2" {
		t.Errorf("after CAS: %+v", p)
	}

	// DeleteCAS, Delete, DeleteTree.
	cur, _, _ = kv.Get("cas", nil)
	ok, _, err = kv.DeleteCAS(&consulapi.KVPair{Key: "cas", ModifyIndex: cur.ModifyIndex + 1000}, nil)
	if err != nil || ok {
		t.Errorf("DeleteCAS with a wrong index = %v, %v; want false", ok, err)
	}
	ok, _, err = kv.DeleteCAS(&consulapi.KVPair{Key: "cas", ModifyIndex: cur.ModifyIndex}, nil)
	if err != nil || !ok {
		t.Errorf("DeleteCAS = %v, %v; want true", ok, err)
	}
	if p, _, _ := kv.Get("cas", nil); p != nil {
		t.Errorf("cas still there after DeleteCAS: %+v", p)
	}
	if _, err := kv.Delete("other", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Delete("never-was", nil); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
	if _, err := kv.DeleteTree("app/config/", nil); err != nil {
		t.Fatal(err)
	}
	list, _, err = kv.List("", nil)
	if err != nil || !slices.Equal(kvKeys(list), []string{"app/db/user", "app/name"}) {
		t.Errorf("List() after deletes = %v, %v; want [app/db/user app/name]", kvKeys(list), err)
	}
}

// TestConsulAPIConcurrentWrites has many clients write at once, so that
// the gateway batches their puts: every plain put lands, and check-and-set
// increments of one counter lose no update and succeed exactly once per
// index.
func TestConsulAPIConcurrentWrites(t *testing.T) {
	t.Parallel()
	_, c := startAgent(t)
	kv := c.KV()
	const writers, each = 16, 10
	if _, err := kv.Put(&consulapi.KVPair{Key: "counter", Value: []byte("0")}, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("plain/%02d/%02d", w, i)
				if _, err := kv.Put(&consulapi.KVPair{Key: key, Value: []byte(key), Flags: uint64(w)}, nil); err != nil {
					errs <- fmt.Errorf("put %s: %w", key, err)
					return
				}
				for {
					p, _, err := kv.Get("counter", nil)
					if err != nil {
						errs <- fmt.Errorf("get counter: %w", err)
						return
					}
					n, _ := strconv.Atoi(string(p.Value))
					ok, _, err := kv.CAS(&consulapi.KVPair{Key: "counter", Value: []byte(strconv.Itoa(n + 1)), ModifyIndex: p.ModifyIndex}, nil)
					if err != nil {
						errs <- fmt.Errorf("cas counter: %w", err)
						return
					}
					if ok {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	p, _, err := kv.Get("counter", nil)
	if err != nil || p == nil || string(p.Value) != strconv.Itoa(writers*each) {
		t.Errorf("counter = %v, %v; want %d (no lost update)", p, err, writers*each)
	}
	pairs, _, err := kv.List("plain/", nil)
	if err != nil || len(pairs) != writers*each {
		t.Fatalf("List(plain/) = %d pairs, %v; want %d", len(pairs), err, writers*each)
	}
	for _, p := range pairs {
		if string(p.Value) != p.Key || fmt.Sprintf("plain/%02d/", p.Flags) != p.Key[:len("plain/00/")] {
			t.Errorf("%s = %q flags %d", p.Key, p.Value, p.Flags)
		}
	}
}

func TestConsulAPITxn(t *testing.T) {
	t.Parallel()
	a, c := startAgent(t)
	kv := c.KV()
	if _, err := kv.Put(&consulapi.KVPair{Key: "txn/existing", Value: []byte("old")}, nil); err != nil {
		t.Fatal(err)
	}
	existing, _, _ := kv.Get("txn/existing", nil)

	ok, resp, _, err := c.Txn().Txn(consulapi.TxnOps{
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVSet, Key: "txn/a", Value: []byte("A")}},
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVCAS, Key: "txn/existing", Value: []byte("new"), Index: existing.ModifyIndex}},
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVGet, Key: "txn/existing"}},
	}, nil)
	if err != nil || !ok {
		t.Fatalf("Txn = %v, %+v, %v; want success", ok, resp, err)
	}
	if len(resp.Errors) != 0 || len(resp.Results) != 3 {
		t.Errorf("Txn results %d, errors %v", len(resp.Results), resp.Errors)
	} else if got := resp.Results[2].KV; got == nil || string(got.Value) != "new" {
		t.Errorf("Txn get result = %+v, want new", got)
	}
	// A check that holds reports the key without its value, as Consul's
	// does; check-not-exists reports nothing.
	got, _, _ := kv.Get("txn/existing", nil)
	ok, resp, _, err = c.Txn().Txn(consulapi.TxnOps{
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVCheckIndex, Key: "txn/existing", Index: got.ModifyIndex}},
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVCheckNotExists, Key: "txn/none"}},
	}, nil)
	if err != nil || !ok || len(resp.Results) != 1 || resp.Results[0].KV == nil ||
		resp.Results[0].KV.Key != "txn/existing" || resp.Results[0].KV.Value != nil {
		t.Errorf("check-index Txn = %v, %+v, %v; want one result, txn/existing without its value", ok, resp, err)
	}

	// A failing operation rolls back the whole transaction: 409, one error
	// per failing operation, nothing applied.
	ok, resp, _, err = c.Txn().Txn(consulapi.TxnOps{
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVSet, Key: "txn/b", Value: []byte("B")}},
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVDelete, Key: "txn/a"}},
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVCheckIndex, Key: "txn/existing", Index: 1}},
	}, nil)
	if err != nil || ok {
		t.Fatalf("rolled-back Txn = %v, %v; want not ok without a transport error", ok, err)
	}
	if len(resp.Errors) != 1 || resp.Errors[0].OpIndex != 2 || resp.Errors[0].What == "" {
		t.Errorf("rolled-back Txn errors = %+v; want one for op 2", resp.Errors)
	}
	if p, _, _ := kv.Get("txn/b", nil); p != nil {
		t.Errorf("txn/b was written by a rolled-back transaction: %+v", p)
	}
	if p, _, _ := kv.Get("txn/a", nil); p == nil {
		t.Error("txn/a was deleted by a rolled-back transaction")
	}

	// On the wire, a rollback is a 409 whose body names each failing op.
	r := do(t, http.MethodPut, "http://"+a.HTTPAddr+"/v1/txn", strings.NewReader(
		`[{"KV":{"Verb":"set","Key":"txn/c","Value":"Qw=="}},{"KV":{"Verb":"check-not-exists","Key":"txn/a"}}]`))
	if r.status != http.StatusConflict || !strings.Contains(r.body, `"OpIndex":1`) {
		t.Errorf("PUT /v1/txn rollback = %d %s; want 409 with an error for op 1", r.status, r.body)
	}
	if p, _, _ := kv.Get("txn/c", nil); p != nil {
		t.Errorf("txn/c was written by a rolled-back transaction: %+v", p)
	}
}

func TestConsulAPISessions(t *testing.T) {
	t.Parallel()
	_, c := startAgent(t)
	sess := c.Session()

	id, _, err := sess.Create(&consulapi.SessionEntry{Name: "s1", TTL: "10s", LockDelay: 2 * time.Second, Behavior: consulapi.SessionBehaviorDelete}, nil)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	info, meta, err := sess.Info(id, nil)
	if err != nil || info == nil {
		t.Fatalf("Info = %v, %v", info, err)
	}
	if info.Name != "s1" || info.Node != devNode || info.TTL != "10s" || info.LockDelay != 2*time.Second || info.Behavior != "delete" {
		t.Errorf("Info = %+v", info)
	}
	if meta.LastIndex == 0 {
		t.Errorf("Info meta = %+v", meta)
	}
	id2, _, err := sess.CreateNoChecks(&consulapi.SessionEntry{Name: "s2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := sess.List(nil)
	if err != nil || len(all) != 2 {
		t.Errorf("List = %d sessions, %v; want 2", len(all), err)
	}
	onNode, _, err := sess.Node(devNode, nil)
	if err != nil || len(onNode) != 2 {
		t.Errorf("Node(%s) = %d sessions, %v; want 2", devNode, len(onNode), err)
	}
	renewed, _, err := sess.Renew(id, nil)
	if err != nil || renewed == nil || renewed.ID != id {
		t.Errorf("Renew = %+v, %v", renewed, err)
	}

	// With Behavior delete, the keys a session holds go with it.
	if ok, _, err := c.KV().Acquire(&consulapi.KVPair{Key: "held", Value: []byte("x"), Session: id}, nil); err != nil || !ok {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	if _, err := sess.Destroy(id, nil); err != nil {
		t.Fatal(err)
	}
	if info, _, err := sess.Info(id, nil); err != nil || info != nil {
		t.Errorf("Info after Destroy = %+v, %v; want nil", info, err)
	}
	if p, _, _ := c.KV().Get("held", nil); p != nil {
		t.Errorf("key held by a destroyed delete-behaviour session is still there: %+v", p)
	}
	// A 404, which consul/api turns into a nil entry (RenewPeriodic then
	// stops with ErrSessionExpired).
	if e, _, err := sess.Renew(id, nil); err != nil || e != nil {
		t.Errorf("Renew of a destroyed session = %+v, %v; want nil, nil", e, err)
	}
	if _, err := sess.Destroy(id2, nil); err != nil {
		t.Fatal(err)
	}
}
