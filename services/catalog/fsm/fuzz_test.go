package fsm

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	"github.com/beaconmesh/beacon/services/catalog/state"
)

var update = flag.Bool("update", false, "rewrite the committed FuzzApply seed corpus")

// seeds are the committed FuzzApply inputs: one valid command of each type
// (against fuzzBase's state), an ignorable unknown type and a malformed one.
func seeds(t testing.TB) map[string][]byte {
	return map[string][]byte{
		"register": encode(t, RegisterType, &catalogv1.RegisterRequest{
			Node:    &catalogv1.Node{Node: "n2", Address: "10.0.0.2", Meta: map[string]string{"rack": "a"}},
			Service: &catalogv1.Service{Service: "db", Tags: []string{"primary"}, Port: 5432},
			Checks: []*catalogv1.HealthCheck{
				{CheckId: "db-tcp", ServiceId: "db", Status: catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL},
			},
		}),
		"deregister":      encode(t, DeregisterType, &catalogv1.DeregisterRequest{Node: "n1"}),
		"kv put acquire":  encode(t, KVPutType, &kvv1.PutRequest{Key: "lock", Value: []byte("x"), Acquire: "s1"}),
		"kv delete":       encode(t, KVDeleteType, &kvv1.DeleteRequest{Key: "cfg/", Recurse: true}),
		"session create":  encode(t, SessionCreateType, &kvv1.Session{Id: "s2", Node: "n1", NodeChecks: []string{"serfHealth"}}),
		"session destroy": encode(t, SessionDestroyType, &kvv1.DestroySessionRequest{Id: "s1"}),
		"txn": encode(t, TxnType, &kvv1.TxnRequest{Ops: []*kvv1.TxnOp{
			{Op: &kvv1.TxnOp_Kv{Kv: &kvv1.KVOp{Verb: kvv1.KVVerb_KV_VERB_CAS, Key: "cfg/a", Value: []byte("2"), Index: 3}}},
			{Op: &kvv1.TxnOp_Kv{Kv: &kvv1.KVOp{Verb: kvv1.KVVerb_KV_VERB_GET_TREE, Key: "cfg/"}}},
		}}),
		"ignorable": {byte(IgnoreUnknownTypeFlag | 3), 0x0a, 0x01, 'k'},
		"malformed": {byte(RegisterType), 0x0a, 0x7f},
	}
}

// fuzzBase returns an FSM with a node, a session, a held lock and keys, so
// that fuzzed commands reach past the "not found" paths.
func fuzzBase(t testing.TB) *FSM {
	f := New(nil)
	for i, c := range []struct {
		typ MessageType
		msg proto.Message
	}{
		{RegisterType, registerN1()},
		{SessionCreateType, &kvv1.Session{Id: "s1", Node: "n1", NodeChecks: []string{"serfHealth"}}},
		{KVPutType, &kvv1.PutRequest{Key: "cfg/a", Value: []byte("1")}},
		{KVPutType, &kvv1.PutRequest{Key: "lock", Acquire: "s1"}},
	} {
		if res, _ := f.Apply(&raft.Log{Index: uint64(i + 1), Data: encode(t, c.typ, c.msg)}).(*Result); res == nil || res.Err != nil {
			t.Fatalf("base command %d: %+v", i, res)
		}
	}
	return f
}

func FuzzApply(f *testing.F) {
	for _, seed := range seeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := fuzzBase(t)
		func() {
			// The one documented panic: an entry that cannot be decoded.
			defer func() {
				if r := recover(); r != nil {
					if _, ok := r.(*DecodeError); !ok {
						panic(r)
					}
				}
			}()
			m.Apply(&raft.Log{Index: 10, Data: data})
		}()
		// Whatever was applied, the state must still read, snapshot and
		// restore.
		st := m.State()
		st.AllServiceHealth(nil)
		st.KVKeys(nil, "", "/")
		var buf bytes.Buffer
		if err := st.Snapshot().Persist(&buf); err != nil {
			t.Fatal(err)
		}
		if _, err := state.Restore(&buf); err != nil {
			t.Fatalf("restore after applying %x: %v", data, err)
		}
	})
}

// TestFuzzSeedsCommitted checks the committed corpus matches seeds (rewrite
// it with -update) and that each valid seed applies cleanly.
func TestFuzzSeedsCommitted(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzApply")
	for name, data := range seeds(t) {
		file := filepath.Join(dir, fuzzFileName(name))
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(data)))
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (run with -update to write the corpus)", err)
		}
		if string(got) != want {
			t.Errorf("%s is stale (run with -update)", file)
		}
	}
	for _, name := range []string{"register", "deregister", "kv put acquire", "kv delete", "session create", "session destroy", "txn"} {
		res, _ := fuzzBase(t).Apply(&raft.Log{Index: 10, Data: seeds(t)[name]}).(*Result)
		if res == nil || !res.OK || res.Err != nil {
			t.Errorf("seed %q: %+v, want OK", name, res)
		}
	}
}

func fuzzFileName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c == ' ' {
			b[i] = '-'
		}
	}
	return string(b)
}
