package api_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	operatorv1 "github.com/beaconmesh/beacon/proto/beacon/operator/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/httpgw/internal/fakecatalog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t)
	tests := []struct{ method, path, allow string }{
		{"GET", "/v1/catalog/register", "PUT"},
		{"POST", "/v1/kv/x", "DELETE,GET,PUT"},
		{"DELETE", "/v1/catalog/nodes", "GET"},
		{"PATCH", "/v1/snapshot?x", "GET,PUT"},
		{"PATCH", "/v1/txn", "PUT"},
		{"POST", "/", "GET"},
	}
	for _, tt := range tests {
		r := e.do(tt.method, tt.path, "")
		r.expectText(t, 405, "method "+tt.method+" not allowed")
		if got := r.header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
	r := e.do(http.MethodOptions, "/v1/kv/x", "")
	if r.status != 200 || r.header.Get("Allow") != "DELETE,GET,PUT" {
		t.Errorf("OPTIONS: %d Allow %q", r.status, r.header.Get("Allow"))
	}
	r = e.do(http.MethodHead, "/v1/catalog/nodes", "")
	if r.status != 200 || len(r.body) != 0 || r.header.Get("X-Consul-Index") == "" {
		t.Errorf("HEAD: %d %q %v", r.status, r.body, r.header)
	}
}

func TestUnroutedPaths(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/v1/acl/token/self", "/v1/agent/nope", "/v1/nope", "/v2/kv/x"} {
		if r := e.get(p); r.status != 404 {
			t.Errorf("%s: %d, want 404", p, r.status)
		}
	}
}

func TestJSONEncoding(t *testing.T) {
	e := newEnv(t)
	seed(t, e.fake)
	compact := e.get("/v1/catalog/datacenters")
	if string(compact.body) != `["dc1"]` {
		t.Errorf("compact = %q", compact.body)
	}
	pretty := e.get("/v1/catalog/services?pretty")
	want := "{\n    \"db\": [],\n    \"web\": [\n        \"primary\",\n        \"v1\",\n        \"v2\"\n    ],\n    \"web-sidecar-proxy\": []\n}\n"
	if string(pretty.body) != want {
		t.Errorf("pretty = %q, want %q", pretty.body, want)
	}
	// Lists are [] rather than null, even when nothing matches.
	e.fake.Edit(func(f *fakecatalog.Fake) { f.PeerAddrs = nil })
	for _, p := range []string{"/v1/catalog/nodes?node-meta=x:y", "/v1/health/state/warning", "/v1/session/list", "/v1/status/peers"} {
		if r := e.get(p); string(r.body) != "[]" {
			t.Errorf("%s = %q, want []", p, r.body)
		}
	}
}

func TestGzip(t *testing.T) {
	e := newEnv(t)
	seed(t, e.fake)
	plain := e.get("/v1/health/service/web")
	zipped := e.do(http.MethodGet, "/v1/health/service/web", "", "Accept-Encoding", "gzip")
	if zipped.header.Get("Content-Encoding") != "gzip" || !strings.Contains(zipped.header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("headers %v", zipped.header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped.body))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(body, plain.body) {
		t.Fatalf("gunzipped body differs (%v)", err)
	}
	// Refused gzip, and small bodies, are sent as they are.
	for _, r := range []response{
		e.do(http.MethodGet, "/v1/health/service/web", "", "Accept-Encoding", "gzip;q=0"),
		e.do(http.MethodGet, "/v1/catalog/datacenters", "", "Accept-Encoding", "gzip"),
	} {
		if r.header.Get("Content-Encoding") != "" {
			t.Errorf("unexpected Content-Encoding %q", r.header.Get("Content-Encoding"))
		}
	}
}

func TestCommonParameters(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		path   string
		hdr    []string
		status int
		text   string
	}{
		{"own dc", "/v1/catalog/nodes?dc=dc1", nil, 200, ""},
		{"own dc, other case", "/v1/catalog/nodes?dc=DC1", nil, 200, ""},
		{"other dc", "/v1/catalog/nodes?dc=dc2", nil, 500, "No path to datacenter"},
		{"other dc on a write", "/v1/kv/x?dc=dc2", nil, 500, "No path to datacenter"},
		{"default namespace", "/v1/catalog/nodes?ns=default", nil, 200, ""},
		{"other namespace", "/v1/catalog/nodes?ns=team", nil, 400, "Namespaces are a Consul Enterprise feature"},
		{"namespace header", "/v1/catalog/nodes", []string{"X-Consul-Namespace", "team"}, 400, "Namespaces"},
		{"default partition", "/v1/catalog/nodes?partition=default", nil, 200, ""},
		{"other partition", "/v1/catalog/nodes?partition=p1", nil, 400, "Partitions are a Consul Enterprise feature"},
		{"unknown parameters are ignored", "/v1/catalog/nodes?near=_agent&cached&merge-central-config", nil, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodGet, tt.path, "", tt.hdr...)
			r.expectText(t, tt.status, tt.text)
		})
	}
}

func TestTokenPassedThrough(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		path string
		hdr  []string
		want string
	}{
		{"none", "/v1/catalog/nodes", nil, ""},
		{"header", "/v1/catalog/nodes", []string{"X-Consul-Token", "t-header"}, "t-header"},
		{"bearer", "/v1/catalog/nodes", []string{"Authorization", "Bearer t-bearer"}, "t-bearer"},
		{"bearer, lower case", "/v1/catalog/nodes", []string{"Authorization", "bearer  t-b2 "}, "t-b2"},
		{"basic auth is not a token", "/v1/catalog/nodes", []string{"Authorization", "Basic eDp5"}, ""},
		{"query (python-consul)", "/v1/catalog/nodes?token=t-query", nil, "t-query"},
		{"query wins", "/v1/catalog/nodes?token=t-query", []string{"X-Consul-Token", "t-header"}, "t-query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.do(http.MethodGet, tt.path, "", tt.hdr...).expect(t, 200, "")
			toks := e.fake.Tokens()
			if got := toks[len(toks)-1]; got != tt.want {
				t.Errorf("catalog saw token %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadOptionsSentToCatalog(t *testing.T) {
	e := newEnv(t)
	seed(t, e.fake) // index 7: reads with a lower index return at once
	tests := []struct {
		query            string
		index            uint64
		minWait, maxWait time.Duration // 0, 0: no max_wait
		consistency      queryv1.Consistency
		mode             string
	}{
		{"", 0, 0, 0, queryv1.Consistency_CONSISTENCY_UNSPECIFIED, "leader"},
		{"?wait=10s", 0, 0, 0, queryv1.Consistency_CONSISTENCY_UNSPECIFIED, "leader"},
		{"?index=3&wait=60000ms", 3, time.Minute, time.Minute + time.Minute/16, 0, "leader"},
		{"?index=3&wait=2s", 3, 2 * time.Second, 2*time.Second + 2*time.Second/16, 0, "leader"},
		{"?index=3", 3, 5 * time.Minute, 5*time.Minute + 5*time.Minute/16, 0, "leader"},
		{"?index=3&wait=99999h", 3, 10 * time.Minute, 10*time.Minute + 10*time.Minute/16, 0, "leader"},
		{"?index=0&wait=5m", 0, 0, 0, 0, "leader"},
		{"?index=&stale=", 0, 0, 0, queryv1.Consistency_CONSISTENCY_STALE, "stale"},
		{"?consistent", 0, 0, 0, queryv1.Consistency_CONSISTENCY_CONSISTENT, "consistent"},
		{"?leader", 0, 0, 0, 0, "leader"},
	}
	for _, tt := range tests {
		r := e.get("/v1/catalog/nodes" + tt.query)
		r.expect(t, 200, "")
		if got := r.header.Get("X-Consul-Effective-Consistency"); got != tt.mode {
			t.Errorf("%q: X-Consul-Effective-Consistency = %q, want %q", tt.query, got, tt.mode)
		}
		opts := e.fake.LastRequest("ListNodes").(*catalogv1.ListNodesRequest).GetOptions()
		if opts.GetMinIndex() != tt.index || opts.GetConsistency() != tt.consistency {
			t.Errorf("%q: catalog got %v", tt.query, opts)
		}
		w := opts.GetMaxWait()
		if tt.maxWait == 0 {
			if w != nil {
				t.Errorf("%q: max_wait %v, want none", tt.query, w.AsDuration())
			}
			continue
		}
		if d := w.AsDuration(); d < tt.minWait || d >= tt.maxWait {
			t.Errorf("%q: max_wait %v, want [%v, %v)", tt.query, d, tt.minWait, tt.maxWait)
		}
	}
	for _, bad := range []struct{ query, text string }{
		{"?index=-1", "Invalid index"},
		{"?index=abc", "Invalid index"},
		{"?index=1&wait=5", "Invalid wait time"},
		{"?index=1&wait=-5s", "Invalid wait time"},
		{"?wait=abc", "Invalid wait time"},
		{"?index=1&wait=99999999999h", "Invalid wait time"},
		{"?stale&consistent", "Cannot specify ?stale with ?consistent, conflicting semantics."},
	} {
		e.get("/v1/catalog/nodes"+bad.query).expectText(t, 400, bad.text)
	}
}

func TestReadHeaders(t *testing.T) {
	e := newEnv(t)
	e.fake.Edit(func(f *fakecatalog.Fake) { f.LastContact = 1500 * time.Millisecond })
	r := e.get("/v1/catalog/nodes?stale")
	for h, want := range map[string]string{
		"X-Consul-Index":                 "1",
		"X-Consul-KnownLeader":           "true",
		"X-Consul-LastContact":           "1500",
		"X-Consul-Effective-Consistency": "stale",
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}

func TestCatalogErrorsMapped(t *testing.T) {
	tests := []struct {
		code   codes.Code
		msg    string
		path   string
		method string
		status int
		text   string
	}{
		{codes.Unavailable, "leader lost", "/v1/catalog/nodes", "GET", 500, "No cluster leader"},
		{codes.PermissionDenied, `token with AccessorID 'x' lacks permission 'node:read'`, "/v1/catalog/nodes", "GET", 403,
			`Permission denied: token with AccessorID 'x' lacks permission 'node:read'`},
		{codes.Unauthenticated, "no such token", "/v1/catalog/nodes", "GET", 403, "ACL not found"},
		{codes.InvalidArgument, "bad node name", "/v1/catalog/nodes", "GET", 400, "bad node name"},
		{codes.NotFound, "no such thing", "/v1/catalog/nodes", "GET", 404, "no such thing"},
		{codes.FailedPrecondition, "not now", "/v1/catalog/nodes", "GET", 400, "not now"},
		{codes.Aborted, "conflict", "/v1/kv/x", "PUT", 409, "conflict"},
		{codes.ResourceExhausted, "slow down", "/v1/catalog/nodes", "GET", 429, "slow down"},
		{codes.Unimplemented, "not here", "/v1/catalog/nodes", "GET", 501, "not here"},
		{codes.DeadlineExceeded, "too slow", "/v1/catalog/nodes", "GET", 504, "too slow"},
		{codes.Internal, "boom", "/v1/catalog/nodes", "GET", 500, "rpc error making call: boom"},
		// For a transaction, a failed condition is a rollback.
		{codes.FailedPrecondition, "session gone", "/v1/txn", "PUT", 409, "session gone"},
	}
	for _, tt := range tests {
		t.Run(tt.code.String()+" "+tt.path, func(t *testing.T) {
			e := newEnv(t)
			for _, m := range []string{"ListNodes", "Put", "PutBatch", "Txn"} {
				e.fake.SetError(m, status.Error(tt.code, tt.msg))
			}
			body := ""
			if tt.path == "/v1/txn" {
				body = `[{"KV":{"Verb":"set","Key":"a"}}]`
			}
			e.do(tt.method, tt.path, body).expectText(t, tt.status, tt.text)
		})
	}
}

func TestStatusAndOperator(t *testing.T) {
	e := newEnv(t)
	e.fake.Edit(func(f *fakecatalog.Fake) {
		f.Raft = []*operatorv1.RaftServer{
			{Id: "id-1", Node: "s1", Address: "10.0.0.1:8300", Leader: true, Voter: true, ProtocolVersion: "3"},
			{Id: "id-2", Node: "s2", Address: "10.0.0.2:8300", Voter: true, ProtocolVersion: "3"},
		}
	})
	e.get("/v1/status/leader").expect(t, 200, `"127.0.0.1:8300"`)
	e.get("/v1/status/peers").expect(t, 200, `["127.0.0.1:8300"]`)
	e.get("/v1/operator/raft/configuration").expect(t, 200, `{"Servers":[
		{"ID":"id-1","Node":"s1","Address":"10.0.0.1:8300","Leader":true,"ProtocolVersion":"3","Voter":true},
		{"ID":"id-2","Node":"s2","Address":"10.0.0.2:8300","Leader":false,"ProtocolVersion":"3","Voter":true}],"Index":1}`)
	e.do(http.MethodDelete, "/v1/operator/raft/peer", "").expectText(t, 400, "Must specify either ?id")
	e.do(http.MethodDelete, "/v1/operator/raft/peer?id=a&address=b", "").expectText(t, 400, "only one of")
	e.do(http.MethodDelete, "/v1/operator/raft/peer?address=10.0.0.9:8300", "").expect(t, 404, "")
	if r := e.do(http.MethodDelete, "/v1/operator/raft/peer?id=id-2", ""); r.status != 200 || len(r.body) != 0 {
		t.Errorf("remove peer: %d %q", r.status, r.body)
	}
	e.get("/v1/operator/raft/configuration?stale").expect(t, 200, `{"Servers":[
		{"ID":"id-1","Node":"s1","Address":"10.0.0.1:8300","Leader":true,"ProtocolVersion":"3","Voter":true}],"Index":2}`)

	e.fake.Edit(func(f *fakecatalog.Fake) { f.LeaderAddr = "" })
	e.get("/v1/status/leader").expect(t, 200, `""`)
}

func TestSnapshot(t *testing.T) {
	e := newEnv(t)
	archive := bytes.Repeat([]byte("snapshot-bytes "), 1000) // several chunks
	e.fake.Edit(func(f *fakecatalog.Fake) { f.Snapshot = archive })
	r := e.get("/v1/snapshot?stale")
	if r.status != 200 || !bytes.Equal(r.body, archive) {
		t.Fatalf("save: %d, %d bytes", r.status, len(r.body))
	}
	if r.header.Get("X-Consul-Index") != "1" || r.header.Get("X-Consul-Effective-Consistency") != "stale" {
		t.Errorf("save headers %v", r.header)
	}
	if r := e.do(http.MethodPut, "/v1/snapshot", string(archive)); r.status != 200 || len(r.body) != 0 {
		t.Fatalf("restore: %d %q", r.status, r.body)
	}
	var restored []byte
	e.fake.Edit(func(f *fakecatalog.Fake) { restored = f.Restored })
	if !bytes.Equal(restored, archive) {
		t.Errorf("catalog restored %d bytes, want %d", len(restored), len(archive))
	}
	e.do(http.MethodPut, "/v1/snapshot", "").expectText(t, 400, "Missing snapshot")
	e.fake.SetError("Save", status.Error(codes.Unavailable, "no leader"))
	e.get("/v1/snapshot").expectText(t, 500, "No cluster leader")
	e.fake.SetError("Restore", status.Error(codes.InvalidArgument, "not a snapshot"))
	e.do(http.MethodPut, "/v1/snapshot", "garbage").expectText(t, 400, "not a snapshot")
}

func TestAgentSelfAndRoot(t *testing.T) {
	e := newEnv(t)
	r := e.get("/v1/agent/self")
	r.expect(t, 200, "")
	var self struct {
		Config map[string]any
		Member map[string]any
	}
	if err := json.Unmarshal(r.body, &self); err != nil {
		t.Fatal(err)
	}
	if self.Config["Datacenter"] != "dc1" || self.Config["NodeName"] != "gw-node" || self.Config["Server"] != false ||
		self.Config["Version"] == "" || self.Config["SessionTTLMin"] != float64(10*time.Second) {
		t.Errorf("Config = %v", self.Config)
	}
	if self.Member["Name"] != "gw-node" || self.Member["Addr"] != "127.0.0.1" || self.Member["Status"] != float64(1) {
		t.Errorf("Member = %v", self.Member)
	}

	// Once the node is in the catalog, its ID and address are used; without
	// a leader, agent/self still answers.
	if _, err := e.fake.Register(t.Context(), &catalogv1.RegisterRequest{
		Node: &catalogv1.Node{Id: "abcd", Node: "gw-node", Address: "10.9.9.9"}}); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(e.get("/v1/agent/self").body, &self); err != nil {
		t.Fatal(err)
	}
	if self.Config["NodeID"] != "abcd" || self.Member["Addr"] != "10.9.9.9" {
		t.Errorf("with the node registered: %v %v", self.Config, self.Member)
	}
	e.fake.SetError("NodeServices", unavailable())
	e.get("/v1/agent/self").expect(t, 200, "")

	root := e.get("/")
	if root.status != 200 || string(root.body) != "Consul Agent" || !strings.HasPrefix(root.header.Get("Content-Type"), "text/plain") {
		t.Errorf("GET / = %d %q", root.status, root.body)
	}
	m := e.get("/metrics")
	if m.status != 200 || !strings.Contains(string(m.body), `beacon_httpgw_requests_total{code="200",method="GET",route="/v1/agent/self"}`) {
		t.Errorf("metrics: %d\n%s", m.status, m.body)
	}
}
