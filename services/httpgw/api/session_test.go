package api_test

import (
	"context"
	"net/http"
	"testing"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

func TestSessionCreate(t *testing.T) {
	release := kvv1.SessionBehavior_SESSION_BEHAVIOR_RELEASE
	del := kvv1.SessionBehavior_SESSION_BEHAVIOR_DELETE
	session := func(mod func(s *kvv1.Session)) *kvv1.Session {
		s := &kvv1.Session{Node: "gw-node", LockDelay: dur("15s"), Behavior: release}
		if mod != nil {
			mod(s)
		}
		return s
	}
	tests := []struct {
		name   string
		body   string
		status int
		text   string
		want   *kvv1.CreateSessionRequest
	}{
		{name: "empty body: defaults on the gateway's node", body: ``, status: 200,
			want: &kvv1.CreateSessionRequest{Session: session(nil)}},
		{name: "empty object", body: `{}`, status: 200,
			want: &kvv1.CreateSessionRequest{Session: session(nil)}},
		{name: "everything", body: `{"Name":"x","Node":"n1","LockDelay":"30s","Behavior":"delete","TTL":"30s"}`, status: 200,
			want: &kvv1.CreateSessionRequest{Session: session(func(s *kvv1.Session) {
				s.Name, s.Node, s.LockDelay, s.Behavior, s.Ttl = "x", "n1", dur("30s"), del, dur("30s")
			})}},
		{name: "lock delay below 1000 is seconds", body: `{"LockDelay":15}`, status: 200,
			want: &kvv1.CreateSessionRequest{Session: session(nil)}},
		{name: "lock delay in milliseconds, as consul/api sends it", body: `{"LockDelay":"15000ms"}`, status: 200,
			want: &kvv1.CreateSessionRequest{Session: session(nil)}},
		{name: "lock delay in nanoseconds", body: `{"LockDelay":2000000000}`, status: 200,
			want: &kvv1.CreateSessionRequest{Session: session(func(s *kvv1.Session) { s.LockDelay = dur("2s") })}},
		{name: "patroni: lower case, float TTL, no checks",
			body: `{"name":"patroni","lockdelay":"0.001s","ttl":"15.0s","behavior":"delete","checks":[]}`, status: 200,
			want: &kvv1.CreateSessionRequest{NodeChecksSet: true, Session: session(func(s *kvv1.Session) {
				s.Name, s.LockDelay, s.Ttl, s.Behavior, s.NodeChecks = "patroni", dur("1ms"), dur("15s"), del, []string{}
			})}},
		{name: "consul/api CreateNoChecks", body: `{"NodeChecks":[]}`, status: 200,
			want: &kvv1.CreateSessionRequest{NodeChecksSet: true, Session: session(func(s *kvv1.Session) { s.NodeChecks = []string{} })}},
		{name: "legacy Checks merge into NodeChecks", body: `{"NodeChecks":["c2"],"Checks":["serfHealth","c1","c2"]}`, status: 200,
			want: &kvv1.CreateSessionRequest{NodeChecksSet: true, Session: session(func(s *kvv1.Session) {
				s.NodeChecks = []string{"c2", "serfHealth", "c1"}
			})}},
		{name: "service checks keep the node default", body: `{"ServiceChecks":[{"ID":"web-check","Namespace":""}]}`, status: 200,
			want: &kvv1.CreateSessionRequest{Session: session(func(s *kvv1.Session) {
				s.ServiceChecks = []*kvv1.ServiceCheckRef{{Id: "web-check"}}
			})}},
		{name: "null checks are absent", body: `{"Checks":null,"NodeChecks":null}`, status: 200,
			want: &kvv1.CreateSessionRequest{Session: session(nil)}},
		{name: "TTL 10s is the minimum", body: `{"TTL":"10s"}`, status: 200,
			want: &kvv1.CreateSessionRequest{Session: session(func(s *kvv1.Session) { s.Ttl = dur("10s") })}},
		{name: "TTL 86400s is the maximum", body: `{"TTL":"86400s"}`, status: 200,
			want: &kvv1.CreateSessionRequest{Session: session(func(s *kvv1.Session) { s.Ttl = dur("24h") })}},
		{name: "TTL 0s is none", body: `{"TTL":"0s"}`, status: 200,
			want: &kvv1.CreateSessionRequest{Session: session(nil)}},
		// Consul's 500 and text, which patroni looks for to adjust its TTL.
		{name: "TTL too short", body: `{"TTL":"5s"}`, status: 500, text: "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]"},
		{name: "TTL too long", body: `{"TTL":"86401s"}`, status: 500, text: "Invalid Session TTL '86401000000000', must be between [10s=24h0m0s]"},
		{name: "TTL not a duration", body: `{"TTL":"soon"}`, status: 400, text: "invalid TTL"},
		{name: "TTL a number", body: `{"TTL":30}`, status: 400, text: `"TTL"`},
		{name: "bad behavior", body: `{"Behavior":"destroy"}`, status: 400, text: "invalid Behavior"},
		{name: "lock delay too long", body: `{"LockDelay":"2m"}`, status: 400, text: "invalid LockDelay"},
		{name: "negative lock delay", body: `{"LockDelay":-1}`, status: 400, text: "invalid LockDelay"},
		{name: "lock delay not a duration", body: `{"LockDelay":"soon"}`, status: 400, text: `"LockDelay"`},
		{name: "malformed", body: `{"Name":`, status: 400, text: "Request decode failed"},
		{name: "node unknown to the catalog", body: `{"Node":"ghost"}`, status: 400, text: "missing node registration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			seed(t, e.fake)
			if _, err := e.fake.Register(context.Background(), &catalogv1.RegisterRequest{
				Node: &catalogv1.Node{Node: "gw-node", Address: "127.0.0.1"}}); err != nil {
				t.Fatal(err)
			}
			r := e.do(http.MethodPut, "/v1/session/create", tt.body)
			if tt.status != 200 {
				r.expectText(t, tt.status, tt.text)
				return
			}
			r.expect(t, 200, `{"ID":"00000000-0000-4000-8000-000000000001"}`)
			if d := cmp.Diff(tt.want, e.fake.LastRequest("CreateSession"), protocmp.Transform()); d != "" {
				t.Errorf("catalog got (-want +got):\n%s", d)
			}
		})
	}
}

func TestSessionLifecycle(t *testing.T) {
	e := newEnv(t)
	seed(t, e.fake)
	e.do(http.MethodPut, "/v1/session/create", `{"Node":"n1","TTL":"15s"}`).expect(t, 200, `{"ID":"00000000-0000-4000-8000-000000000001"}`)
	e.do(http.MethodPut, "/v1/session/create", `{"Node":"n2","Name":"other","Behavior":"delete","NodeChecks":[]}`).expect(t, 200, "")
	s1 := `{"ID":"00000000-0000-4000-8000-000000000001","Name":"","Node":"n1","LockDelay":15000000000,"Behavior":"release",
		"TTL":"15s","NodeChecks":["serfHealth"],"ServiceChecks":[],"CreateIndex":8,"ModifyIndex":8}`
	s2 := `{"ID":"00000000-0000-4000-8000-000000000002","Name":"other","Node":"n2","LockDelay":15000000000,"Behavior":"delete",
		"TTL":"","NodeChecks":[],"ServiceChecks":[],"CreateIndex":9,"ModifyIndex":9}`

	e.get("/v1/session/info/00000000-0000-4000-8000-000000000001").expect(t, 200, `[`+s1+`]`)
	e.get("/v1/session/info/unknown").expect(t, 200, `[]`)
	e.get("/v1/session/list").expect(t, 200, `[`+s1+`,`+s2+`]`)
	e.get("/v1/session/node/n2").expect(t, 200, `[`+s2+`]`)
	e.get("/v1/session/node/nope").expect(t, 200, `[]`)
	e.do(http.MethodPut, "/v1/session/renew/00000000-0000-4000-8000-000000000001", "").expect(t, 200, `[`+s1+`]`)

	e.do(http.MethodPut, "/v1/session/destroy/00000000-0000-4000-8000-000000000001", "").expect(t, 200, `true`)
	e.do(http.MethodPut, "/v1/session/destroy/00000000-0000-4000-8000-000000000001", "").expect(t, 200, `true`)
	e.do(http.MethodPut, "/v1/session/renew/00000000-0000-4000-8000-000000000001", "").
		expectText(t, 404, "Session id '00000000-0000-4000-8000-000000000001' not found")
	e.get("/v1/session/info/00000000-0000-4000-8000-000000000001").expect(t, 200, `[]`)

	for _, p := range []string{"/v1/session/info/", "/v1/session/node/"} {
		if r := e.get(p); r.status != 400 {
			t.Errorf("%s: %d, want 400", p, r.status)
		}
	}
	for _, p := range []string{"/v1/session/destroy/", "/v1/session/renew/"} {
		if r := e.do(http.MethodPut, p, ""); r.status != 400 {
			t.Errorf("%s: %d, want 400", p, r.status)
		}
	}
}
