package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
)

func TestTxn(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodPut, "/v1/txn", `[
		{"KV":{"Verb":"set","Key":"a","Value":"YQ==","Flags":0,"Index":0,"Session":"","Namespace":"","Partition":""}},
		{"KV":{"Verb":"set","Key":"b","Value":"Yg=="}},
		{"KV":{"Verb":"get","Key":"a"}}]`)
	r.expect(t, 200, `{"Results":[
		{"KV":{"LockIndex":0,"Key":"a","Flags":0,"Value":null,"CreateIndex":2,"ModifyIndex":2}},
		{"KV":{"LockIndex":0,"Key":"b","Flags":0,"Value":null,"CreateIndex":2,"ModifyIndex":2}},
		{"KV":{"LockIndex":0,"Key":"a","Flags":0,"Value":"YQ==","CreateIndex":2,"ModifyIndex":2}}],"Errors":null}`)

	// A failed condition rolls everything back.
	r = e.do(http.MethodPut, "/v1/txn", `[
		{"KV":{"Verb":"set","Key":"c","Value":"Yw=="}},
		{"KV":{"Verb":"cas","Key":"a","Value":"eA==","Index":99}}]`)
	r.expect(t, 409, `{"Results":null,"Errors":[{"OpIndex":1,"What":"failed to set key \"a\", index is stale"}]}`)
	e.get("/v1/kv/c").expect(t, 404, "")

	// Deletes add no result.
	e.do(http.MethodPut, "/v1/txn", `[{"KV":{"Verb":"delete","Key":"b"}}]`).expect(t, 200, `{"Results":[],"Errors":null}`)
}

func TestTxnReadOnly(t *testing.T) {
	e := newEnv(t)
	e.do(http.MethodPut, "/v1/kv/a", "x").expect(t, 200, `true`)
	for _, tt := range []struct {
		query string
		want  queryv1.Consistency
		mode  string
	}{
		{"", queryv1.Consistency_CONSISTENCY_UNSPECIFIED, "leader"},
		{"?stale", queryv1.Consistency_CONSISTENCY_STALE, "stale"},
		{"?consistent=", queryv1.Consistency_CONSISTENCY_CONSISTENT, "consistent"},
		// A transaction never blocks, whatever it is asked.
		{"?index=100&wait=1h", queryv1.Consistency_CONSISTENCY_UNSPECIFIED, "leader"},
	} {
		r := e.do(http.MethodPut, "/v1/txn"+tt.query, `[{"KV":{"Verb":"get","Key":"a"}}]`)
		r.expect(t, 200, `{"Results":[{"KV":{"LockIndex":0,"Key":"a","Flags":0,"Value":"eA==","CreateIndex":2,"ModifyIndex":2}}],"Errors":null}`)
		if r.header.Get("X-Consul-Index") != "2" || r.header.Get("X-Consul-KnownLeader") != "true" ||
			r.header.Get("X-Consul-LastContact") != "0" || r.header.Get("X-Consul-Effective-Consistency") != tt.mode {
			t.Errorf("%q: read headers %v", tt.query, r.header)
		}
		opts := e.fake.LastRequest("Txn").(*kvv1.TxnRequest).GetOptions()
		if opts.GetConsistency() != tt.want || opts.GetMinIndex() != 0 || opts.GetMaxWait() != nil {
			t.Errorf("%q: catalog got options %v", tt.query, opts)
		}
	}
}

func TestTxnHostileInput(t *testing.T) {
	ops := func(n int) string {
		var b strings.Builder
		b.WriteString("[")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"KV":{"Verb":"set","Key":"k%d","Value":"eA=="}}`, i)
		}
		b.WriteString("]")
		return b.String()
	}
	tests := []struct {
		name, path, body string
		status           int
		want             string // JSON, or text contained in the body
	}{
		{"128 operations", "/v1/txn", ops(128), 200, ""},
		{"129 operations", "/v1/txn", ops(129), 413, "Transaction contains too many operations (129 > 128)"},
		{"unknown verb", "/v1/txn", `[{"KV":{"Verb":"set"}},{"KV":{"Verb":"frob","Key":"a"}}]`, 409,
			`{"Results":null,"Errors":[{"OpIndex":1,"What":"unknown KV verb \"frob\""}]}`},
		{"node operation", "/v1/txn", `[{"Node":{"Verb":"get","Node":{"Node":"n1"}}}]`, 409,
			`{"Results":null,"Errors":[{"OpIndex":0,"What":"Node operations are not supported in transactions"}]}`},
		{"empty operation", "/v1/txn", `[{}]`, 409,
			`{"Results":null,"Errors":[{"OpIndex":0,"What":"operation has no KV, Node, Service or Check"}]}`},
		{"no operations", "/v1/txn", `[]`, 200, `{"Results":[],"Errors":null}`},
		{"value not base64", "/v1/txn", `[{"KV":{"Verb":"set","Key":"a","Value":"%%%"}}]`, 400, `"KV.Value"`},
		{"value not a string", "/v1/txn", `[{"KV":{"Verb":"set","Key":"a","Value":12}}]`, 400, `"KV.Value"`},
		{"object instead of list", "/v1/txn", `{"KV":{}}`, 400, "cannot use object"},
		{"malformed", "/v1/txn", `[{"KV":`, 400, "Request decode failed"},
		{"body over 512 KiB", "/v1/txn", `[` + strings.Repeat(" ", 512<<10) + `]`, 413, "too large"},
		{"stale and consistent", "/v1/txn?stale&consistent", `[{"KV":{"Verb":"get","Key":"a"}}]`, 400, "conflicting semantics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.do(http.MethodPut, tt.path, tt.body)
			switch {
			case tt.want == "":
				r.expect(t, tt.status, "")
			case strings.HasPrefix(tt.want, "{"):
				r.expect(t, tt.status, tt.want)
			default:
				r.expectText(t, tt.status, tt.want)
			}
		})
	}
}
