package api_test

import (
	"net/http"
	"strings"
	"testing"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

const (
	n1JSON = `{"ID":"11111111-1111-1111-1111-111111111111","Node":"n1","Address":"10.0.0.1","Datacenter":"dc1",
		"TaggedAddresses":{},"Meta":{"rack":"r1"},"CreateIndex":2,"ModifyIndex":2}`
	n2JSON = `{"ID":"","Node":"n2","Address":"10.0.0.2","Datacenter":"dc1",
		"TaggedAddresses":{},"Meta":{"rack":"r2"},"CreateIndex":4,"ModifyIndex":4}`
	web1Row = `{"ID":"11111111-1111-1111-1111-111111111111","Node":"n1","Address":"10.0.0.1","Datacenter":"dc1",
		"TaggedAddresses":{},"NodeMeta":{"rack":"r1"},"ServiceKind":"","ServiceID":"web-1","ServiceName":"web",
		"ServiceTags":["v1","primary"],"ServiceAddress":"","ServiceWeights":{"Passing":1,"Warning":1},
		"ServiceMeta":{"version":"1"},"ServicePort":8080,"ServiceEnableTagOverride":false,
		"ServiceProxy":{"MeshGateway":{},"Expose":{}},"ServiceConnect":{},"CreateIndex":3,"ModifyIndex":3}`
	web2Row = `{"ID":"","Node":"n2","Address":"10.0.0.2","Datacenter":"dc1",
		"TaggedAddresses":{},"NodeMeta":{"rack":"r2"},"ServiceKind":"","ServiceID":"web-2","ServiceName":"web",
		"ServiceTags":["v2"],"ServiceAddress":"10.0.1.2","ServiceWeights":{"Passing":1,"Warning":1},
		"ServiceMeta":{},"ServicePort":8081,"ServiceEnableTagOverride":false,
		"ServiceProxy":{"MeshGateway":{},"Expose":{}},"ServiceConnect":{},"CreateIndex":5,"ModifyIndex":5}`
	sidecarRow = `{"ID":"","Node":"n2","Address":"10.0.0.2","Datacenter":"dc1",
		"TaggedAddresses":{},"NodeMeta":{"rack":"r2"},"ServiceKind":"connect-proxy","ServiceID":"web-sidecar-proxy",
		"ServiceName":"web-sidecar-proxy","ServiceTags":[],"ServiceAddress":"","ServiceWeights":{"Passing":1,"Warning":1},
		"ServiceMeta":{},"ServicePort":21000,"ServiceEnableTagOverride":false,
		"ServiceProxy":{"DestinationServiceName":"web","DestinationServiceID":"web-2","LocalServicePort":8081,"MeshGateway":{},"Expose":{}},
		"ServiceConnect":{},"CreateIndex":6,"ModifyIndex":6}`
	web1Svc = `{"ID":"web-1","Service":"web","Tags":["v1","primary"],"Address":"","Meta":{"version":"1"},"Port":8080,
		"Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,"Proxy":{"MeshGateway":{},"Expose":{}},"Connect":{},
		"CreateIndex":3,"ModifyIndex":3}`
	dbSvc = `{"ID":"db","Service":"db","Tags":[],"Address":"","Meta":{},"Port":5432,
		"Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,"Proxy":{"MeshGateway":{},"Expose":{}},"Connect":{},
		"CreateIndex":7,"ModifyIndex":7}`
)

func TestCatalogReads(t *testing.T) {
	e := newEnv(t)
	seed(t, e.fake)
	tests := []struct {
		name   string
		path   string
		status int
		want   string
	}{
		{"datacenters", "/v1/catalog/datacenters", 200, `["dc1"]`},
		{"nodes", "/v1/catalog/nodes", 200, `[` + n1JSON + `,` + n2JSON + `]`},
		{"nodes by node-meta", "/v1/catalog/nodes?node-meta=rack:r2", 200, `[` + n2JSON + `]`},
		{"nodes by filter", "/v1/catalog/nodes?filter=" + q(`Meta.rack == "r1"`), 200, `[` + n1JSON + `]`},
		{"nodes filter matches nothing", "/v1/catalog/nodes?filter=" + q(`Node == "zz"`), 200, `[]`},
		{"services", "/v1/catalog/services", 200,
			`{"db":[],"web":["primary","v1","v2"],"web-sidecar-proxy":[]}`},
		{"services by node-meta", "/v1/catalog/services?node-meta=rack:r1", 200, `{"db":[],"web":["primary","v1"]}`},
		{"services by filter", "/v1/catalog/services?filter=" + q(`ServiceTags contains "v2"`), 200, `{"web":["v2"]}`},
		{"services by filter and node-meta", "/v1/catalog/services?node-meta=rack:r2&filter=" + q(`ServiceKind == "connect-proxy"`), 200,
			`{"web-sidecar-proxy":[]}`},
		{"service", "/v1/catalog/service/web", 200, `[` + web1Row + `,` + web2Row + `]`},
		{"service by tag", "/v1/catalog/service/web?tag=v1", 200, `[` + web1Row + `]`},
		{"service by two tags (AND)", "/v1/catalog/service/web?tag=v1&tag=v2", 200, `[]`},
		{"service by filter", "/v1/catalog/service/web?filter=" + q(`ServiceMeta.version == "1"`), 200, `[` + web1Row + `]`},
		{"unknown service", "/v1/catalog/service/nope", 200, `[]`},
		{"service without a name", "/v1/catalog/service/", 400, ``},
		{"connect", "/v1/catalog/connect/web", 200, `[` + sidecarRow + `]`},
		{"node", "/v1/catalog/node/n1", 200, `{"Node":` + n1JSON + `,"Services":{"db":` + dbSvc + `,"web-1":` + web1Svc + `}}`},
		{"node filtered", "/v1/catalog/node/n1?filter=" + q(`Port == 5432`), 200, `{"Node":` + n1JSON + `,"Services":{"db":` + dbSvc + `}}`},
		{"unknown node is null", "/v1/catalog/node/nope", 200, `null`},
		{"node without a name", "/v1/catalog/node/", 400, ``},
		{"node-services", "/v1/catalog/node-services/n1", 200, `{"Node":` + n1JSON + `,"Services":[` + dbSvc + `,` + web1Svc + `]}`},
		{"node-services filtered", "/v1/catalog/node-services/n1?filter=" + q(`"v1" in Tags`), 200, `{"Node":` + n1JSON + `,"Services":[` + web1Svc + `]}`},
		{"node-services of unknown node", "/v1/catalog/node-services/nope", 200, `{"Node":null,"Services":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.get(tt.path)
			r.expect(t, tt.status, tt.want)
			if tt.status == 200 && tt.name != "datacenters" {
				if got := r.header.Get("X-Consul-Index"); got != "7" {
					t.Errorf("X-Consul-Index = %q, want 7", got)
				}
				if got := r.header.Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type = %q", got)
				}
			}
		})
	}
}

// q escapes a query value.
func q(s string) string {
	return strings.NewReplacer("%", "%25", " ", "%20", `"`, "%22", "&", "%26", "+", "%2B", "=", "%3D", "#", "%23").Replace(s)
}

func TestCatalogRegister(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status int
		text   string                     // part of the error body
		want   *catalogv1.RegisterRequest // what the catalog receives
	}{
		{
			name: "full, as consul/api sends it",
			body: `{"ID":"","Node":"n9","Address":"10.0.0.9","Datacenter":"dc1","TaggedAddresses":{"lan":"10.0.0.9"},
				"NodeMeta":{"k":"v"},"Namespace":"","Partition":"","Locality":null,
				"Service":{"Kind":"","ID":"","Service":"api","Tags":["a"],"Meta":null,"Port":9000,"Address":"",
					"SocketPath":"","TaggedAddresses":{"wan":{"Address":"1.2.3.4","Port":9001}},
					"Weights":{"Passing":0,"Warning":0},"EnableTagOverride":false,"CreateIndex":0,"ModifyIndex":0,
					"ContentHash":"","Proxy":null,"Connect":null,"PeerName":"","Namespace":"","Partition":"","Datacenter":""},
				"Check":{"Node":"","CheckID":"api-check","Name":"api health","Status":"passing","Notes":"","Output":"",
					"ServiceID":"api","ServiceName":"api","Type":"http",
					"Definition":{"HTTP":"http://10.0.0.9:9000/","Header":null,"Method":"","Body":"","TLSServerName":"",
						"TLSSkipVerify":false,"TCP":"","TCPUseTLS":false,"UDP":"","GRPC":"","OSService":"","GRPCUseTLS":false,
						"Interval":"10s","Timeout":"0s","DeregisterCriticalServiceAfter":"0s"},"Namespace":""},
				"SkipNodeUpdate":false}`,
			status: 200,
			want: &catalogv1.RegisterRequest{
				Node: &catalogv1.Node{Node: "n9", Address: "10.0.0.9", Datacenter: "dc1",
					TaggedAddresses: map[string]string{"lan": "10.0.0.9"}, Meta: map[string]string{"k": "v"}},
				Service: &catalogv1.Service{Id: "api", Service: "api", Tags: []string{"a"}, Port: 9000,
					TaggedAddresses: map[string]*catalogv1.ServiceAddress{"wan": {Address: "1.2.3.4", Port: 9001}},
					Weights:         &catalogv1.Weights{Passing: 1, Warning: 1}},
				Checks: []*catalogv1.HealthCheck{{Node: "n9", CheckId: "api-check", Name: "api health",
					Status: catalogv1.HealthStatus_HEALTH_STATUS_PASSING, ServiceId: "api", ServiceName: "api", Type: "http",
					Definition: &catalogv1.CheckDefinition{Interval: dur("10s"),
						Kind: &catalogv1.CheckDefinition_Http{Http: &catalogv1.HTTPCheck{Url: "http://10.0.0.9:9000/"}}}}},
			},
		},
		{
			name:   "lower-case keys, as python-consul sends them",
			body:   `{"node":"n9","address":"10.0.0.9","service":{"service":"api","port":9000,"weights":{"passing":3,"warning":1}},"checks":[{"name":"c1"}]}`,
			status: 200,
			want: &catalogv1.RegisterRequest{
				Node:    &catalogv1.Node{Node: "n9", Address: "10.0.0.9", Datacenter: "dc1"},
				Service: &catalogv1.Service{Id: "api", Service: "api", Port: 9000, Weights: &catalogv1.Weights{Passing: 3, Warning: 1}},
				Checks:  []*catalogv1.HealthCheck{{Node: "n9", CheckId: "c1", Name: "c1"}},
			},
		},
		{name: "malformed JSON", body: `{"Node":"n9",`, status: 400, text: "Request decode failed"},
		{name: "not JSON at all", body: `node=n9`, status: 400, text: "invalid JSON"},
		{name: "trailing garbage", body: `{"Node":"n9","Address":"a"} x`, status: 400, text: "unexpected data"},
		{name: "wrong type names the field", body: `{"Node":"n9","Address":"a","Service":{"Service":"s","Port":"80"}}`, status: 400, text: `"Service.Port"`},
		{name: "unknown fields are ignored, whatever their type", body: `{"Node":"n9","Address":"a","Service":{"Service":"s","CreateIndex":-1}}`, status: 200},
		{name: "bad duration names the field", body: `{"Node":"n9","Address":"a","Check":{"Name":"c","Definition":{"Interval":"soon"}}}`, status: 400, text: `"Check.Definition.Interval"`},
		{name: "array instead of object", body: `[]`, status: 400, text: "cannot use array"},
		{name: "empty body", body: ``, status: 400, text: "empty body"},
		{name: "missing node", body: `{"Address":"a"}`, status: 400, text: "must provide node"},
		{name: "missing address", body: `{"Node":"n9"}`, status: 400, text: "must provide address"},
		{name: "service without a name", body: `{"Node":"n9","Address":"a","Service":{"ID":"x"}}`, status: 400, text: "service name"},
		{name: "bad check status", body: `{"Node":"n9","Address":"a","Check":{"Name":"c","Status":"fine"}}`, status: 400, text: "invalid check status"},
		{name: "bad service kind", body: `{"Node":"n9","Address":"a","Service":{"Service":"s","Kind":"weird"}}`, status: 400, text: "invalid service kind"},
		{name: "check on another node", body: `{"Node":"n9","Address":"a","Check":{"Node":"n8","Name":"c"}}`, status: 400, text: "does not match"},
		{name: "other datacenter", body: `{"Node":"n9","Address":"a","Datacenter":"dc2"}`, status: 500, text: "No path to datacenter"},
		{name: "oversize body", body: `{"Node":"n9","Address":"a","NodeMeta":{"k":"` + strings.Repeat("x", 1<<20) + `"}}`, status: 413, text: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.do(http.MethodPut, "/v1/catalog/register", tt.body)
			if tt.status != 200 {
				r.expectText(t, tt.status, tt.text)
				if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("error Content-Type = %q", ct)
				}
				return
			}
			r.expect(t, 200, `true`)
			if tt.want == nil {
				return
			}
			got := e.fake.LastRequest("Register")
			if d := cmp.Diff(tt.want, got, protocmp.Transform()); d != "" {
				t.Errorf("catalog got (-want +got):\n%s", d)
			}
		})
	}
}

func TestCatalogDeregister(t *testing.T) {
	e := newEnv(t)
	seed(t, e.fake)
	tests := []struct {
		name, body string
		status     int
		after      string // GET path checked afterwards
		want       string
	}{
		{"one check", `{"Node":"n2","CheckID":"web-2-check"}`, 200, "/v1/health/checks/web?node-meta=rack:r2", `[]`},
		{"one service", `{"Node":"n1","ServiceID":"db"}`, 200, "/v1/catalog/service/db", `[]`},
		{"a node cascades", `{"Node":"n2"}`, 200, "/v1/catalog/service/web-sidecar-proxy", `[]`},
		{"unknown node is fine", `{"Node":"nope"}`, 200, "", ""},
		{"lower-case keys", `{"node":"n1","serviceid":"web-1"}`, 200, "/v1/catalog/service/web?tag=v1", `[]`},
		{"missing node", `{"ServiceID":"x"}`, 400, "", ""},
		{"other datacenter", `{"Node":"n1","Datacenter":"dc9"}`, 500, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodPut, "/v1/catalog/deregister", tt.body)
			if tt.status != 200 {
				if r.status != tt.status {
					t.Fatalf("status = %d, want %d (%s)", r.status, tt.status, r.body)
				}
				return
			}
			r.expect(t, 200, `true`)
			if tt.after != "" {
				e.get(tt.after).expect(t, 200, tt.want)
			}
		})
	}
}

func TestCatalogDatacentersWithoutLeader(t *testing.T) {
	e := newEnv(t)
	e.fake.SetError("ListDatacenters", unavailable())
	e.get("/v1/catalog/datacenters").expect(t, 200, `["dc1"]`)
}
