package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/rpcclient"
	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/httpgw/api"
	"github.com/beaconmesh/beacon/services/httpgw/internal/fakecatalog"
	"github.com/google/go-cmp/cmp"
	consulapi "github.com/hashicorp/consul/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeAgent answers the node agent's Connect calls; any other call panics
// through the nil embedded interface.
type fakeAgent struct {
	api.AgentClient
	leafReqs  chan *agentv1.ConnectLeafRequest
	leaf      func(*agentv1.ConnectLeafRequest) (*agentv1.ConnectLeafResponse, error)
	authReq   *agentv1.ConnectAuthorizeRequest
	authorize func(*agentv1.ConnectAuthorizeRequest) (*agentv1.ConnectAuthorizeResponse, error)
}

func (a *fakeAgent) ConnectLeaf(_ context.Context, in *agentv1.ConnectLeafRequest, _ ...grpc.CallOption) (*agentv1.ConnectLeafResponse, error) {
	if a.leafReqs != nil {
		a.leafReqs <- in
	}
	return a.leaf(in)
}

func (a *fakeAgent) ConnectAuthorize(_ context.Context, in *agentv1.ConnectAuthorizeRequest, _ ...grpc.CallOption) (*agentv1.ConnectAuthorizeResponse, error) {
	a.authReq = in
	return a.authorize(in)
}

// newAgentEnv is newEnv with a node agent.
func newAgentEnv(t *testing.T, agent api.AgentClient) *env {
	t.Helper()
	f := fakecatalog.New()
	addr := fakecatalog.Start(t, f)
	conn, err := rpcclient.Dial(rpcclient.Config{Addrs: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	b := api.NewBackend(conn)
	b.Agent = agent
	s, err := api.New(api.Options{Backend: b, Datacenter: "dc1", NodeName: "gw-node",
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	return &env{t: t, fake: f, url: hs.URL, client: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
}

const root1 = `{"ID":"aa:bb:01","Name":"Beacon CA Primary Cert 1","SerialNumber":1,"SigningKeyID":"cc:dd:01",
	"NotBefore":"2026-01-01T00:00:00Z","NotAfter":"2036-01-01T00:00:00Z",
	"RootCert":"-----BEGIN CERTIFICATE-----\nroot1\n-----END CERTIFICATE-----\n","IntermediateCerts":[],
	"Active":true,"PrivateKeyType":"ec","PrivateKeyBits":256,"CreateIndex":1,"ModifyIndex":1}`

func TestConnectCARoots(t *testing.T) {
	e := newEnv(t)
	want := `{"ActiveRootID":"aa:bb:01","TrustDomain":"` + fakecatalog.ClusterID + `.consul","Roots":[` + root1 + `]}`
	for _, path := range []string{"/v1/connect/ca/roots", "/v1/agent/connect/ca/roots"} {
		r := e.get(path)
		r.expect(t, 200, want)
		if r.header.Get("X-Consul-Index") == "" || r.header.Get("X-Consul-KnownLeader") != "true" {
			t.Errorf("%s: headers %v", path, r.header)
		}
	}
	e.get("/v1/connect/ca/roots?index=x").expectText(t, 400, "Invalid index")
}

func TestConnectCARootsPEM(t *testing.T) {
	e := newEnv(t)
	// A rotation, so that the chain has both roots, in the catalog's order.
	e.do(http.MethodPut, "/v1/connect/ca/configuration", `{"Config":{"PrivateKey":"K","RootCert":"C"}}`).expect(t, 200, "")
	chain := "-----BEGIN CERTIFICATE-----\nroot1\n-----END CERTIFICATE-----\n" +
		"-----BEGIN CERTIFICATE-----\nroot2\n-----END CERTIFICATE-----\n"
	jsonRoots := func(t *testing.T, r response) {
		t.Helper()
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || !strings.Contains(string(r.body), `"ActiveRootID"`) {
			t.Fatalf("status %d, Content-Type %q, body %q; want the JSON roots", r.status, r.header.Get("Content-Type"), r.body)
		}
	}
	tests := []struct {
		path  string
		check func(*testing.T, response)
	}{
		{"/v1/connect/ca/roots?pem=true", func(t *testing.T, r response) {
			if r.status != 200 || r.header.Get("Content-Type") != "application/pem-certificate-chain" || string(r.body) != chain {
				t.Fatalf("status %d, Content-Type %q, body %q; want 200 %q", r.status, r.header.Get("Content-Type"), r.body, chain)
			}
			if r.header.Get("X-Consul-Index") == "" {
				t.Errorf("no X-Consul-Index: %v", r.header)
			}
		}},
		{"/v1/connect/ca/roots?pem=1", func(t *testing.T, r response) {
			if r.status != 200 || string(r.body) != chain {
				t.Fatalf("status %d, body %q", r.status, r.body)
			}
		}},
		{"/v1/connect/ca/roots?pem=false", jsonRoots},
		{"/v1/connect/ca/roots?pem=", jsonRoots},
		// Consul's agent route has no ?pem.
		{"/v1/agent/connect/ca/roots?pem=true", jsonRoots},
		{"/v1/connect/ca/roots?pem=yes", func(t *testing.T, r response) {
			r.expectText(t, 400, `"pem"`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) { tt.check(t, e.get(tt.path)) })
	}
}

func TestConnectCAConfig(t *testing.T) {
	e := newEnv(t)
	e.get("/v1/connect/ca/configuration").expect(t, 200, `{"Provider":"consul","ClusterID":"`+fakecatalog.ClusterID+`",
		"Config":{"LeafCertTTL":"72h","RootCertTTL":"87600h","PrivateKeyType":"ec","PrivateKeyBits":256},
		"State":null,"ForceWithoutCrossSigning":false,"CreateIndex":1,"ModifyIndex":1}`)

	tests := []struct {
		name   string
		body   string
		status int
		text   string
		want   *connectv1.SetConfigRequest
	}{
		{name: "TTLs", body: `{"Provider":"consul","Config":{"LeafCertTTL":"24h","RootCertTTL":"8760h","RotationPeriod":"2160h"}}`, status: 200,
			want: &connectv1.SetConfigRequest{Config: &connectv1.CAConfig{LeafCertTtl: dur("24h"), RootCertTtl: dur("8760h")}}},
		{name: "snake case keys", body: `{"Config":{"leaf_cert_ttl":"1h"}}`, status: 200,
			want: &connectv1.SetConfigRequest{Config: &connectv1.CAConfig{LeafCertTtl: dur("1h")}}},
		{name: "new key and root rotate", body: `{"Provider":"consul","Config":{"PrivateKey":"KEY\n","RootCert":"CERT","PrivateKeyType":"ec","PrivateKeyBits":256}}`, status: 200,
			want: &connectv1.SetConfigRequest{Config: &connectv1.CAConfig{PrivateKey: "KEY", RootCert: "CERT"}, RotateRoot: true}},
		{name: "other provider", body: `{"Provider":"vault","Config":{}}`, status: 400, text: `Provider "vault" is not supported`},
		{name: "key without root", body: `{"Config":{"PrivateKey":"KEY"}}`, status: 400, text: "Config.PrivateKey and Config.RootCert"},
		{name: "bad TTL", body: `{"Config":{"LeafCertTTL":"soon"}}`, status: 400, text: "Config.LeafCertTTL"},
		{name: "TTL as number", body: `{"Config":{"LeafCertTTL":5}}`, status: 400, text: "Config.LeafCertTTL"},
		{name: "RSA", body: `{"Config":{"PrivateKeyType":"rsa","PrivateKeyBits":2048}}`, status: 400, text: "Config.PrivateKeyType"},
		{name: "P-384", body: `{"Config":{"PrivateKeyBits":384}}`, status: 400, text: "Config.PrivateKeyBits"},
		{name: "state is read-only", body: `{"State":{"a":"b"}}`, status: 400, text: "State is read-only"},
		{name: "malformed", body: `{"Config":`, status: 400, text: "Request decode failed"},
		{name: "config not an object", body: `{"Config":[]}`, status: 400, text: `"Config"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.do(http.MethodPut, "/v1/connect/ca/configuration", tt.body)
			if tt.status != 200 {
				r.expectText(t, tt.status, tt.text)
				return
			}
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if d := cmp.Diff(tt.want, e.fake.LastRequest("SetConfig"), protocmp.Transform()); d != "" {
				t.Errorf("catalog got (-want +got):\n%s", d)
			}
		})
	}
}

func TestConnectCARotationWithConsulClient(t *testing.T) {
	e := newEnv(t)
	c := newConsulClient(t, e).Connect()
	roots, meta, err := c.CARoots(nil)
	if err != nil || len(roots.Roots) != 1 {
		t.Fatalf("CARoots = %+v, %v", roots, err)
	}
	done := make(chan *consulapi.CARootList, 1)
	go func() {
		r, _, err := c.CARoots(&consulapi.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 10 * time.Second})
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	waitFor(t, "the roots query to block", func() bool { return e.fake.Waiters() == 1 })
	if _, err := c.CASetConfig(&consulapi.CAConfig{Provider: "consul", Config: map[string]any{"PrivateKey": "K", "RootCert": "C"}}, nil); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got == nil || len(got.Roots) != 2 || got.ActiveRootID != "aa:bb:02" || got.Roots[0].Active || !got.Roots[1].Active {
		t.Fatalf("after rotation: %+v", got)
	}
	cfg, _, err := c.CAGetConfig(nil)
	if err != nil || cfg.Provider != "consul" || cfg.Config["LeafCertTTL"] != "72h" {
		t.Fatalf("CAGetConfig = %+v, %v", cfg, err)
	}
}

func TestIntentionsLifecycle(t *testing.T) {
	e := newEnv(t)
	e.do(http.MethodPut, "/v1/connect/intentions/exact?source=web&destination=db", `{"Action":"deny","Description":"no","Meta":{"k":"v"}}`).expect(t, 200, `true`)
	e.do(http.MethodPut, "/v1/connect/intentions/exact?source=*&destination=db", `{"Action":"allow"}`).expect(t, 200, `true`)
	created := e.do(http.MethodPost, "/v1/connect/intentions", `{"SourceName":"api","DestinationName":"*","Action":"allow","SourceType":"consul"}`)
	created.expect(t, 200, `{"ID":"00000000-0000-4000-9000-000000000003"}`)
	e.do(http.MethodPost, "/v1/connect/intentions", `{"SourceName":"api","DestinationName":"*","Action":"deny"}`).
		expectText(t, 409, "duplicate intention found: api => *")

	webDB := `{"ID":"00000000-0000-4000-9000-000000000001","Description":"no","SourceNS":"default","SourceName":"web",
		"DestinationNS":"default","DestinationName":"db","SourceType":"consul","Action":"deny","Meta":{"k":"v"},
		"Precedence":9,"CreateIndex":2,"ModifyIndex":2}`
	starDB := `{"ID":"00000000-0000-4000-9000-000000000002","SourceNS":"default","SourceName":"*",
		"DestinationNS":"default","DestinationName":"db","SourceType":"consul","Action":"allow","Meta":{},
		"Precedence":8,"CreateIndex":3,"ModifyIndex":3}`
	apiStar := `{"ID":"00000000-0000-4000-9000-000000000003","SourceNS":"default","SourceName":"api",
		"DestinationNS":"default","DestinationName":"*","SourceType":"consul","Action":"allow","Meta":{},
		"Precedence":6,"CreateIndex":4,"ModifyIndex":4}`

	e.get("/v1/connect/intentions/exact?source=web&destination=db").expect(t, 200, webDB)
	e.get("/v1/connect/intentions").expect(t, 200, `[`+webDB+`,`+starDB+`,`+apiStar+`]`)
	e.get(`/v1/connect/intentions?filter=Action+%3D%3D+"allow"`).expect(t, 200, `[`+starDB+`,`+apiStar+`]`)
	e.get("/v1/connect/intentions/match?by=destination&name=db&name=cache").expect(t, 200,
		`{"db":[`+webDB+`,`+starDB+`,`+apiStar+`],"cache":[`+apiStar+`]}`)
	e.get("/v1/connect/intentions/match?by=source&name=web").expect(t, 200, `{"web":[`+webDB+`,`+starDB+`]}`)
	e.get("/v1/connect/intentions/check?source=web&destination=db").expect(t, 200, `{"Allowed":false}`)
	e.get("/v1/connect/intentions/check?source=api&destination=db").expect(t, 200, `{"Allowed":true}`)
	e.get("/v1/connect/intentions/00000000-0000-4000-9000-000000000003").expect(t, 200, apiStar)

	e.do(http.MethodDelete, "/v1/connect/intentions/00000000-0000-4000-9000-000000000003", "").expect(t, 200, `true`)
	e.get("/v1/connect/intentions/00000000-0000-4000-9000-000000000003").expectText(t, 404, "Intention not found")
	e.do(http.MethodDelete, "/v1/connect/intentions/exact?source=web&destination=db", "").expect(t, 200, `true`)
	e.get("/v1/connect/intentions/exact?source=web&destination=db").expectText(t, 404, "Intention not found")
	e.get("/v1/connect/intentions").expect(t, 200, `[`+starDB+`]`)
}

func TestIntentionsBadInput(t *testing.T) {
	tests := []struct {
		method, path, body string
		status             int
		text               string
	}{
		{"PUT", "/v1/connect/intentions/exact?destination=db", `{"Action":"allow"}`, 400, "required query parameter 'source' not set"},
		{"PUT", "/v1/connect/intentions/exact?source=web", `{"Action":"allow"}`, 400, "required query parameter 'destination' not set"},
		{"PUT", "/v1/connect/intentions/exact?source=web&destination=db", `{"Action":"maybe"}`, 400, "Action must be set to 'allow' or 'deny'"},
		{"PUT", "/v1/connect/intentions/exact?source=web&destination=db", `{}`, 400, "Action must be set"},
		{"PUT", "/v1/connect/intentions/exact?source=web&destination=db", `{"Permissions":[{"Action":"allow"}]}`, 400, "Permissions (L7 intentions) are not supported"},
		{"PUT", "/v1/connect/intentions/exact?source=web&destination=db", `{"Action":"allow","SourceNS":"team"}`, 400, `SourceNS "team"`},
		{"PUT", "/v1/connect/intentions/exact?source=web&destination=db", `{"Action":"allow","SourceType":"external-uri"}`, 400, `SourceType "external-uri"`},
		{"PUT", "/v1/connect/intentions/exact?source=web&destination=db", `{"Action":`, 400, "Request decode failed"},
		{"PUT", "/v1/connect/intentions/exact?source=web&destination=db", `{"Action":1}`, 400, `"Action"`},
		{"PUT", "/v1/connect/intentions/exact?source=ns/web&destination=db", `{"Action":"allow"}`, 400, `"source"`},
		{"PUT", "/v1/connect/intentions/exact?source=web&destination=a/b/c/db", `{"Action":"allow"}`, 400, `"destination"`},
		{"POST", "/v1/connect/intentions", `{"DestinationName":"db","Action":"allow"}`, 400, "SourceName is required"},
		{"POST", "/v1/connect/intentions", `{"SourceName":"web","Action":"allow"}`, 400, "DestinationName is required"},
		{"GET", "/v1/connect/intentions/exact?source=web", "", 400, "required query parameter 'destination' not set"},
		{"DELETE", "/v1/connect/intentions/exact", "", 400, "required query parameter 'source' not set"},
		{"GET", "/v1/connect/intentions/check?destination=db", "", 400, "required query parameter 'source' not set"},
		{"GET", "/v1/connect/intentions/check?source=web&destination=db&source-type=x", "", 400, `"source-type"`},
		{"GET", "/v1/connect/intentions/match?name=web", "", 400, "required query parameter 'by' not set"},
		{"GET", "/v1/connect/intentions/match?by=both&name=web", "", 400, "'by' parameter must be one of 'source' or 'destination'"},
		{"GET", "/v1/connect/intentions/match?by=source", "", 400, "required query parameter 'name' not set"},
		{"GET", "/v1/connect/intentions?filter=Nope+%3D%3D+1", "", 400, "Failed to create boolean expression evaluator"},
		{"GET", "/v1/connect/intentions/", "", 400, "Missing intention ID"},
		{"PUT", "/v1/connect/intentions/", `{"SourceName":"web","DestinationName":"db","Action":"allow"}`, 400, "Missing intention ID"},
		{"PUT", "/v1/connect/intentions/some-id", `{"SourceName":"web","DestinationName":"db","Action":"allow"}`, 500,
			"Cannot modify non-existent intention: 'some-id'"},
		{"PUT", "/v1/connect/intentions/some-id", `{"SourceName":"web","DestinationName":"db"}`, 400, "Action must be set"},
		{"POST", "/v1/connect/intentions/some-id", `{}`, 405, "method POST not allowed"},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.body, func(t *testing.T) {
			e.do(tt.method, tt.path, tt.body).expectText(t, tt.status, tt.text)
		})
	}
}

func TestIntentionUpdateByID(t *testing.T) {
	const id = "00000000-0000-4000-9000-000000000001"
	tests := []struct {
		name   string
		body   string
		status int
		want   string // the whole JSON answer for 200, else text in the body
		after  string // the intention read back by ID
	}{
		{
			name: "replaces action, description and meta", status: 200, want: `{"ID":"` + id + `"}`,
			body: `{"ID":"ignored","SourceName":"web","DestinationName":"db","SourceNS":"default","Action":"allow","Description":"now allowed","Meta":{"k":"v2"},"Precedence":1}`,
			after: `{"ID":"` + id + `","Description":"now allowed","SourceNS":"default","SourceName":"web","DestinationNS":"default",
				"DestinationName":"db","SourceType":"consul","Action":"allow","Meta":{"k":"v2"},"Precedence":9,"CreateIndex":2,"ModifyIndex":3}`,
		},
		{
			name: "another destination", status: 400, want: `DestinationName "cache"`,
			body: `{"SourceName":"web","DestinationName":"cache","Action":"allow"}`,
		},
		{
			name: "another source", status: 400, want: `SourceName "api"`,
			body: `{"SourceName":"api","DestinationName":"db","Action":"allow"}`,
		},
		{
			name: "no names", status: 400, want: "SourceName is required",
			body: `{"Action":"allow"}`,
		},
		{
			name: "L7 permissions", status: 400, want: "Permissions (L7 intentions) are not supported",
			body: `{"SourceName":"web","DestinationName":"db","Permissions":[{"Action":"allow"}]}`,
		},
	}
	original := `{"ID":"` + id + `","Description":"no","SourceNS":"default","SourceName":"web","DestinationNS":"default",
		"DestinationName":"db","SourceType":"consul","Action":"deny","Meta":{"k":"v"},"Precedence":9,"CreateIndex":2,"ModifyIndex":2}`
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.do(http.MethodPut, "/v1/connect/intentions/exact?source=web&destination=db", `{"Action":"deny","Description":"no","Meta":{"k":"v"}}`).expect(t, 200, `true`)
			r := e.do(http.MethodPut, "/v1/connect/intentions/"+id, tt.body)
			if tt.status != 200 {
				r.expectText(t, tt.status, tt.want)
				e.get("/v1/connect/intentions/"+id).expect(t, 200, original)
				return
			}
			r.expect(t, 200, tt.want)
			e.get("/v1/connect/intentions/"+id).expect(t, 200, tt.after)
		})
	}
}

func TestIntentionsWithConsulClient(t *testing.T) {
	e := newEnv(t)
	c := newConsulClient(t, e).Connect()
	if _, err := c.IntentionUpsert(&consulapi.Intention{SourceName: "web", DestinationName: "db", Action: consulapi.IntentionActionDeny,
		Meta: map[string]string{"owner": "ops"}}, nil); err != nil {
		t.Fatal(err)
	}
	got, _, err := c.IntentionGetExact("web", "db", nil)
	if err != nil || got == nil || got.Action != consulapi.IntentionActionDeny || got.Precedence != 9 || got.Meta["owner"] != "ops" || got.ID == "" {
		t.Fatalf("IntentionGetExact = %+v, %v", got, err)
	}
	// consul/api sends the whole intention back on update.
	got.Action = consulapi.IntentionActionAllow
	if _, err := c.IntentionUpsert(got, nil); err != nil {
		t.Fatal(err)
	}
	allowed, _, err := c.IntentionCheck(&consulapi.IntentionCheck{Source: "web", Destination: "db"}, nil)
	if err != nil || !allowed {
		t.Fatalf("IntentionCheck = %v, %v", allowed, err)
	}
	id, _, err := c.IntentionCreate(&consulapi.Intention{SourceName: "*", DestinationName: "db", Action: consulapi.IntentionActionDeny}, nil)
	if err != nil || id == "" {
		t.Fatalf("IntentionCreate = %q, %v", id, err)
	}
	byID, _, err := c.IntentionGet(id, nil)
	if err != nil || byID == nil || byID.SourceName != "*" {
		t.Fatalf("IntentionGet = %+v, %v", byID, err)
	}
	byID.Action, byID.Description = consulapi.IntentionActionAllow, "updated by ID"
	if _, err := c.IntentionUpdate(byID, nil); err != nil {
		t.Fatalf("IntentionUpdate: %v", err)
	}
	if byID, _, err = c.IntentionGet(id, nil); err != nil || byID == nil || byID.ID != id ||
		byID.Action != consulapi.IntentionActionAllow || byID.Description != "updated by ID" {
		t.Fatalf("IntentionGet after IntentionUpdate = %+v, %v", byID, err)
	}
	if _, err := c.IntentionUpdate(&consulapi.Intention{ID: "00000000-0000-4000-9000-0000000000ff", SourceName: "*", DestinationName: "db",
		Action: consulapi.IntentionActionAllow}, nil); err == nil || !strings.Contains(err.Error(), "Cannot modify non-existent intention") {
		t.Errorf("IntentionUpdate of an unknown ID: %v", err)
	}
	matches, _, err := c.IntentionMatch(&consulapi.IntentionMatch{By: consulapi.IntentionMatchDestination, Names: []string{"db"}}, nil)
	if err != nil || len(matches["db"]) != 2 || matches["db"][0].SourceName != "web" {
		t.Fatalf("IntentionMatch = %+v, %v", matches, err)
	}
	all, _, err := c.Intentions(nil)
	if err != nil || len(all) != 2 {
		t.Fatalf("Intentions = %d, %v", len(all), err)
	}
	if _, err := c.IntentionDeleteExact("web", "db", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.IntentionDelete(id, nil); err != nil {
		t.Fatal(err)
	}
	missing, _, err := c.IntentionGetExact("web", "db", nil)
	if err != nil || missing != nil {
		t.Fatalf("after delete: %+v, %v", missing, err)
	}
}

func TestAgentConnectLeaf(t *testing.T) {
	va := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	agent := &fakeAgent{leafReqs: make(chan *agentv1.ConnectLeafRequest, 4), leaf: func(in *agentv1.ConnectLeafRequest) (*agentv1.ConnectLeafResponse, error) {
		if in.GetService() == "broken" {
			return nil, status.Error(codes.Unavailable, "no leaf certificate yet: the CA is not initialized yet")
		}
		return &agentv1.ConnectLeafResponse{
			Meta: &queryv1.ReadMeta{Index: 42, KnownLeader: true},
			Cert: &connectv1.IssuedCert{SerialNumber: "0a:0b", CertPem: "CERT", Service: in.GetService(),
				ServiceUri: "spiffe://td/ns/default/dc/dc1/svc/" + in.GetService(),
				ValidAfter: timestamppb.New(va), ValidBefore: timestamppb.New(va.Add(72 * time.Hour))},
			PrivateKeyPem: "KEY", CreateIndex: 42, ModifyIndex: 42,
		}, nil
	}}
	e := newAgentEnv(t, agent)
	r := e.get("/v1/agent/connect/ca/leaf/web")
	r.expect(t, 200, `{"SerialNumber":"0a:0b","CertPEM":"CERT","PrivateKeyPEM":"KEY","Service":"web",
		"ServiceURI":"spiffe://td/ns/default/dc/dc1/svc/web","ValidAfter":"2026-05-01T10:00:00Z",
		"ValidBefore":"2026-05-04T10:00:00Z","CreateIndex":42,"ModifyIndex":42}`)
	if got := r.header.Get("X-Consul-Index"); got != "42" {
		t.Errorf("X-Consul-Index = %q, want 42", got)
	}
	if in := <-agent.leafReqs; in.GetOptions().GetMinIndex() != 0 {
		t.Errorf("plain read sent min_index %d", in.GetOptions().GetMinIndex())
	}

	e.get("/v1/agent/connect/ca/leaf/web?index=42&wait=2s").expect(t, 200, "")
	in := <-agent.leafReqs
	if in.GetOptions().GetMinIndex() != 42 || in.GetOptions().GetMaxWait().AsDuration() < 2*time.Second {
		t.Errorf("blocking read sent %v", in.GetOptions())
	}
	e.get("/v1/agent/connect/ca/leaf/").expectText(t, 400, "Missing service name")
	e.get("/v1/agent/connect/ca/leaf/web?wait=x").expectText(t, 400, "Invalid wait time")
	e.get("/v1/agent/connect/ca/leaf/broken").expectText(t, 500, "the CA is not initialized yet")

	c := newConsulClient(t, e).Agent()
	leaf, meta, err := c.ConnectCALeaf("web", nil)
	if err != nil || leaf.Service != "web" || leaf.PrivateKeyPEM != "KEY" || !leaf.ValidAfter.Equal(va) || meta.LastIndex != 42 {
		t.Fatalf("ConnectCALeaf = %+v, %+v, %v", leaf, meta, err)
	}
}

func TestAgentConnectAuthorize(t *testing.T) {
	agent := &fakeAgent{authorize: func(in *agentv1.ConnectAuthorizeRequest) (*agentv1.ConnectAuthorizeResponse, error) {
		if strings.HasPrefix(in.GetClientCertUri(), "bad") {
			return nil, status.Error(codes.InvalidArgument, "ClientCertURI not a valid Connect identifier")
		}
		return &agentv1.ConnectAuthorizeResponse{Authorized: false, Reason: "Matched L4 intention: web => db (Precedence: 9, Action: DENY)"}, nil
	}}
	e := newAgentEnv(t, agent)
	e.do(http.MethodPost, "/v1/agent/connect/authorize", `{"Target":"db","ClientCertURI":"spiffe://td/ns/default/dc/dc1/svc/web","ClientCertSerial":"0a"}`).
		expect(t, 200, `{"Authorized":false,"Reason":"Matched L4 intention: web => db (Precedence: 9, Action: DENY)"}`)
	want := &agentv1.ConnectAuthorizeRequest{Target: "db", ClientCertUri: "spiffe://td/ns/default/dc/dc1/svc/web", ClientCertSerial: "0a"}
	if d := cmp.Diff(want, agent.authReq, protocmp.Transform()); d != "" {
		t.Errorf("agent got (-want +got):\n%s", d)
	}
	for _, tt := range []struct{ body, text string }{
		{`{"ClientCertURI":"spiffe://td/ns/default/dc/dc1/svc/web"}`, "Target service must be specified"},
		{`{"Target":"db"}`, "ClientCertURI not a valid Connect identifier"},
		{`{"Target":"db","ClientCertURI":"bad"}`, "ClientCertURI not a valid Connect identifier"},
		{`{"Target":`, "Request decode failed"},
	} {
		e.do(http.MethodPost, "/v1/agent/connect/authorize", tt.body).expectText(t, 400, tt.text)
	}
	e.do(http.MethodGet, "/v1/agent/connect/authorize", "").expectText(t, 405, "not allowed")

	res, err := newConsulClient(t, e).Agent().ConnectAuthorize(&consulapi.AgentAuthorizeParams{Target: "db", ClientCertURI: "spiffe://td/ns/default/dc/dc1/svc/web"})
	if err != nil || res.Authorized || !strings.Contains(res.Reason, "DENY") {
		t.Fatalf("ConnectAuthorize = %+v, %v", res, err)
	}

	// Without a node agent these routes answer 503.
	none := newEnv(t)
	none.get("/v1/agent/connect/ca/leaf/web").expectText(t, 503, "no node agent configured")
	none.do(http.MethodPost, "/v1/agent/connect/authorize", `{"Target":"db","ClientCertURI":"x"}`).expectText(t, 503, "no node agent configured")
}
