package api_test

import (
	"testing"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
)

const (
	serfN1 = `{"Node":"n1","CheckID":"serfHealth","Name":"Serf Health Status","Status":"passing","Notes":"","Output":"",
		"ServiceID":"","ServiceName":"","ServiceTags":[],"Type":"serf","ExposedPort":0,"Definition":{},"CreateIndex":2,"ModifyIndex":2}`
	serfN2 = `{"Node":"n2","CheckID":"serfHealth","Name":"Serf Health Status","Status":"passing","Notes":"","Output":"",
		"ServiceID":"","ServiceName":"","ServiceTags":[],"Type":"serf","ExposedPort":0,"Definition":{},"CreateIndex":4,"ModifyIndex":4}`
	webCheck = `{"Node":"n1","CheckID":"web-check","Name":"web alive","Status":"passing","Notes":"","Output":"",
		"ServiceID":"web-1","ServiceName":"web","ServiceTags":["v1","primary"],"Type":"http","ExposedPort":0,
		"Definition":{"HTTP":"http://10.0.0.1:8080/health"},"CreateIndex":3,"ModifyIndex":3}`
	web2Check = `{"Node":"n2","CheckID":"web-2-check","Name":"web alive","Status":"critical","Notes":"","Output":"connection refused",
		"ServiceID":"web-2","ServiceName":"web","ServiceTags":["v2"],"Type":"","ExposedPort":0,"Definition":{},"CreateIndex":5,"ModifyIndex":5}`
	web2Svc = `{"ID":"web-2","Service":"web","Tags":["v2"],"Address":"10.0.1.2","Meta":{},"Port":8081,
		"Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,"Proxy":{"MeshGateway":{},"Expose":{}},"Connect":{},
		"CreateIndex":5,"ModifyIndex":5}`
	sidecarSvc = `{"Kind":"connect-proxy","ID":"web-sidecar-proxy","Service":"web-sidecar-proxy","Tags":[],"Address":"","Meta":{},
		"Port":21000,"Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,
		"Proxy":{"DestinationServiceName":"web","DestinationServiceID":"web-2","LocalServicePort":8081,"MeshGateway":{},"Expose":{}},
		"Connect":{},"CreateIndex":6,"ModifyIndex":6}`
	web1Entry   = `{"Node":` + n1JSON + `,"Service":` + web1Svc + `,"Checks":[` + serfN1 + `,` + webCheck + `]}`
	web2Entry   = `{"Node":` + n2JSON + `,"Service":` + web2Svc + `,"Checks":[` + serfN2 + `,` + web2Check + `]}`
	sidecarEntr = `{"Node":` + n2JSON + `,"Service":` + sidecarSvc + `,"Checks":[` + serfN2 + `]}`
)

func TestHealthReads(t *testing.T) {
	e := newEnv(t)
	seed(t, e.fake)
	tests := []struct {
		name   string
		path   string
		status int
		want   string
	}{
		{"node", "/v1/health/node/n1", 200, `[` + serfN1 + `,` + webCheck + `]`},
		{"unknown node", "/v1/health/node/nope", 200, `[]`},
		{"node filtered", "/v1/health/node/n1?filter=" + q(`CheckID == "serfHealth"`), 200, `[` + serfN1 + `]`},
		{"service checks", "/v1/health/checks/web", 200, `[` + webCheck + `,` + web2Check + `]`},
		{"service checks by node-meta", "/v1/health/checks/web?node-meta=rack:r2", 200, `[` + web2Check + `]`},
		{"service", "/v1/health/service/web", 200, `[` + web1Entry + `,` + web2Entry + `]`},
		{"service ?passing", "/v1/health/service/web?passing", 200, `[` + web1Entry + `]`},
		{"service ?passing=1 (Go client)", "/v1/health/service/web?passing=1", 200, `[` + web1Entry + `]`},
		{"service ?passing=true (node client)", "/v1/health/service/web?passing=true", 200, `[` + web1Entry + `]`},
		{"service ?passing=false", "/v1/health/service/web?passing=false", 200, `[` + web1Entry + `,` + web2Entry + `]`},
		{"service ?passing=maybe", "/v1/health/service/web?passing=maybe", 400, ``},
		{"service by tag", "/v1/health/service/web?tag=v2", 200, `[` + web2Entry + `]`},
		{"service by node-meta", "/v1/health/service/web?node-meta=rack:r1", 200, `[` + web1Entry + `]`},
		{"service by filter", "/v1/health/service/web?filter=" + q(`Service.Tags contains "v2"`), 200, `[` + web2Entry + `]`},
		{"service by node filter", "/v1/health/service/web?filter=" + q(`Node.Meta.rack == "r1"`), 200, `[` + web1Entry + `]`},
		{"service by collection filter", "/v1/health/service/web?filter=" + q(`any Checks as c { c.Status == "critical" }`), 200, `[` + web2Entry + `]`},
		{"unknown service", "/v1/health/service/nope", 200, `[]`},
		{"service without a name", "/v1/health/service/", 400, ``},
		{"connect", "/v1/health/connect/web", 200, `[` + sidecarEntr + `]`},
		{"connect ?passing&stale (built-in proxy)", "/v1/health/connect/web?passing&stale", 200, `[` + sidecarEntr + `]`},
		{"state critical", "/v1/health/state/critical", 200, `[` + web2Check + `]`},
		{"state passing", "/v1/health/state/passing", 200, `[` + serfN1 + `,` + webCheck + `,` + serfN2 + `]`},
		{"state warning", "/v1/health/state/warning", 200, `[]`},
		{"state any", "/v1/health/state/any", 200, `[` + serfN1 + `,` + webCheck + `,` + serfN2 + `,` + web2Check + `]`},
		{"state any filtered", "/v1/health/state/any?filter=" + q(`ServiceName == "web" and Status != "critical"`), 200, `[` + webCheck + `]`},
		{"state bogus", "/v1/health/state/bogus", 400, ``},
		{"state missing", "/v1/health/state/", 400, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.get(tt.path)
			r.expect(t, tt.status, tt.want)
			if tt.status == 200 && r.header.Get("X-Consul-Index") != "7" {
				t.Errorf("X-Consul-Index = %q, want 7", r.header.Get("X-Consul-Index"))
			}
		})
	}
}

func TestHealthStateSentToCatalog(t *testing.T) {
	e := newEnv(t)
	for state, want := range map[string]catalogv1.HealthStatus{
		"any":      catalogv1.HealthStatus_HEALTH_STATUS_UNSPECIFIED,
		"passing":  catalogv1.HealthStatus_HEALTH_STATUS_PASSING,
		"warning":  catalogv1.HealthStatus_HEALTH_STATUS_WARNING,
		"critical": catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL,
	} {
		e.get("/v1/health/state/"+state).expect(t, 200, `[]`)
		if got := e.fake.LastRequest("ChecksInState").(*catalogv1.ChecksInStateRequest).GetState(); got != want {
			t.Errorf("state %s: catalog got %v, want %v", state, got, want)
		}
	}
}

func TestFilterErrors(t *testing.T) {
	e := newEnv(t)
	seed(t, e.fake)
	tests := []struct {
		name, path, text string
	}{
		{"syntax", "/v1/catalog/nodes?filter=" + q(`Node ==`), "Failed to create boolean expression evaluator"},
		{"bare word", "/v1/catalog/services?filter=foo", "Failed to create boolean expression evaluator"},
		{"unknown selector", "/v1/catalog/nodes?filter=" + q(`Bogus == "x"`), `selector "Bogus" is not valid`},
		{"unknown nested selector", "/v1/health/service/web?filter=" + q(`Service.Bogus == "x"`), `selector "Service.Bogus" is not valid`},
		{"hidden selector", "/v1/catalog/nodes?filter=" + q(`CreateIndex == 1`), `selector "CreateIndex" is not valid`},
		{"selector through a list", "/v1/health/service/web?filter=" + q(`Checks.Status == "passing"`), "Checks is a list"},
		{"value of the wrong type", "/v1/catalog/service/web?filter=" + q(`ServicePort == "http"`), "does not fit"},
		{"wrong type in a later clause", "/v1/catalog/service/web?filter=" + q(`ServiceName == "x" and ServicePort == "http"`), "does not fit"},
		{"bad regular expression", "/v1/catalog/nodes?filter=" + q(`Node matches "(["`), "invalid regular expression"},
		{"unknown selector with no data", "/v1/catalog/service/nope?filter=" + q(`Nope == 1`), "not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.get(tt.path)
			r.expectText(t, 400, tt.text)
		})
	}
}
