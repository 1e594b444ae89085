package command

import "testing"

const webJSON = `{
  "service": {
    "name": "web",
    "tags": ["rails"],
    "port": 80,
    "enable_tag_override": true,
    "meta": {"Version": "1"},
    "tagged_addresses": {"lan": {"address": "10.0.0.1", "port": 80}},
    "check": {"id": "web-http", "http": "http://localhost/health", "interval": "10s",
              "header": {"X-Probe": ["1"]}, "tls_skip_verify": true},
    "checks": [{"args": ["/bin/true"], "interval": "30s"}, {"TTL": "15s", "DeregisterCriticalServiceAfter": "90m"}],
    "connect": {"sidecar_service": {"proxy": {"upstreams": [{"destination_name": "db", "local_bind_port": 9191}]}}}
  }
}`

// webBody is webJSON as the agent's loader reads it (check folded into
// checks, defaults filled in), in consul/api's register body. The check
// IDs the agent derives from the service ID are left out.
const webBody = `{
  "Name": "web", "Tags": ["rails"], "Port": 80, "EnableTagOverride": true,
  "Meta": {"Version": "1"},
  "TaggedAddresses": {"lan": {"Address": "10.0.0.1", "Port": 80}},
  "Weights": {"Passing": 1, "Warning": 1},
  "Check": null,
  "Checks": [
    {"CheckID": "web-http", "Name": "Service 'web' check", "HTTP": "http://localhost/health", "Method": "GET",
     "Interval": "10s", "Timeout": "10s", "Header": {"X-Probe": ["1"]}, "TLSSkipVerify": true, "Status": "critical"},
    {"Name": "Service 'web' check", "ScriptArgs": ["/bin/true"], "Interval": "30s", "Timeout": "30s", "Status": "critical"},
    {"Name": "Service 'web' check", "TTL": "15s", "DeregisterCriticalServiceAfter": "1h30m0s", "Status": "critical"}
  ],
  "Connect": {"SidecarService": {"Check": null, "Checks": null,
    "Proxy": {"Upstreams": [{"DestinationName": "db", "LocalBindPort": 9191, "MeshGateway": {}}], "MeshGateway": {}, "Expose": {}}}}
}`

const twoHCL = `
service {
  name = "api"
  id   = "api-1"
  port = 8080
  check {
    tcp      = "localhost:8080"
    interval = "5s"
  }
}
service {
  name = "db"
  tags = ["primary"]
}
datacenter = "dc1"
`

func TestServicesRegister(t *testing.T) {
	reg := func(body string) exchange {
		return exchange{method: "PUT", path: "/v1/agent/service/register", jsonBody: body}
	}
	runCases(t, []cliCase{
		{
			name:   "from flags",
			args:   []string{"services", "register", "-name", "web", "-port", "80", "-tag", "a", "-tag", "b", "-meta", "v=1", "-tagged-address", "wan=1.2.3.4:80"},
			want:   []exchange{reg(`{"Name":"web","Port":80,"Tags":["a","b"],"Meta":{"v":"1"},"TaggedAddresses":{"wan":{"Address":"1.2.3.4","Port":80}},"Check":null,"Checks":null}`)},
			stdout: "Registered service: web\n",
		},
		{
			name:   "from a JSON file",
			args:   []string{"services", "register", "{{dir}}/web.json"},
			files:  map[string]string{"web.json": webJSON},
			want:   []exchange{reg(webBody)},
			stdout: "Registered service: web\n",
		},
		{
			name:  "from an HCL file with two services, other keys ignored",
			args:  []string{"services", "register", "{{dir}}/two.hcl"},
			files: map[string]string{"two.hcl": twoHCL},
			want: []exchange{
				reg(`{"Name":"api","ID":"api-1","Port":8080,"Weights":{"Passing":1,"Warning":1},"Check":null,
				      "Checks":[{"Name":"Service 'api' check","TCP":"localhost:8080","Interval":"5s","Timeout":"10s","Status":"critical"}]}`),
				reg(`{"Name":"db","Tags":["primary"],"Weights":{"Passing":1,"Warning":1},"Check":null,"Checks":null}`),
			},
			stdout: "Registered service: api\nRegistered service: db\n",
		},
		{
			name:   "flags fill in what files leave out",
			args:   []string{"services", "register", "-address", "10.1.1.1", "-port", "1", "-tag", "extra", "-meta", "b=flag", "{{dir}}/s.json"},
			files:  map[string]string{"s.json": `{"services":[{"Name":"x","Port":9,"Tags":["t"],"Meta":{"a":"file","b":"file"}}]}`},
			want:   []exchange{reg(`{"Name":"x","Port":9,"Address":"10.1.1.1","Tags":["t","extra"],"Meta":{"a":"file","b":"flag"},"Weights":{"Passing":1,"Warning":1},"Check":null,"Checks":null}`)},
			stdout: "Registered service: x\n",
		},
		{
			name:   "agent does not serve the route",
			args:   []string{"services", "register", "-name", "web"},
			want:   []exchange{{method: "PUT", path: "/v1/agent/service/register", jsonBody: `{"Name":"web","Check":null,"Checks":null}`, notServed: true}},
			code:   1,
			stderr: "Error registering service \"web\": Unexpected response code: 404 (404 page not found): the agent at {{addr}} does not serve PUT /v1/agent/service/register\n",
		},
		{
			name:   "agent refuses the definition",
			args:   []string{"services", "register", "-name", "web", "-port", "-1"},
			want:   []exchange{{method: "PUT", path: "/v1/agent/service/register", jsonBody: `{"Name":"web","Port":-1,"Check":null,"Checks":null}`, status: 400, reply: "Invalid Port"}},
			code:   1,
			stderr: "Error registering service \"web\": Unexpected response code: 400 (Invalid Port)\n",
		},
		{
			name:   "unknown field in a file",
			args:   []string{"services", "register", "{{dir}}/bad.json"},
			files:  map[string]string{"bad.json": `{"service":{"name":"web","prot":80}}`},
			code:   1,
			stderr: "Error: {{dir}}/bad.json:1: service[0].prot: unknown key\n",
		},
		{
			name:   "file without services",
			args:   []string{"services", "register", "{{dir}}/agent.hcl"},
			files:  map[string]string{"agent.hcl": `datacenter = "dc1"`},
			code:   1,
			stderr: "Error: no service definitions in {{dir}}/agent.hcl (want a \"service\" or \"services\" key)\n",
		},
		{
			name:   "unknown format",
			args:   []string{"services", "register", "{{dir}}/web.yaml"},
			files:  map[string]string{"web.yaml": "service: {}"},
			code:   1,
			stderr: "Error: {{dir}}/web.yaml: unknown format: want a .json or .hcl file\n",
		},
		{
			name:   "broken JSON",
			args:   []string{"services", "register", "{{dir}}/web.json"},
			files:  map[string]string{"web.json": `{"service": {"name": "web",}}`},
			code:   1,
			stderr: "Error: {{dir}}/web.json:1: invalid character '}' looking for beginning of object key string\n",
		},
		{
			name:   "nothing to register",
			args:   []string{"services", "register"},
			code:   1,
			stderr: "Service registration requires at least one argument or flags.\n",
		},
		{
			name:   "files and -name",
			args:   []string{"services", "register", "-name", "web", "web.json"},
			code:   1,
			stderr: "Service registration requires arguments or -name, not both.\n",
		},
		{
			name:   "bad tagged address",
			args:   []string{"services", "register", "-name", "web", "-tagged-address", "wan=nope"},
			code:   1,
			stderr: "Invalid Tagged Address: wan=nope: address nope: missing port in address\n",
		},
	})
}

func TestServicesDeregister(t *testing.T) {
	runCases(t, []cliCase{
		{
			name:   "by id",
			args:   []string{"services", "deregister", "-id", "web"},
			want:   []exchange{{method: "PUT", path: "/v1/agent/service/deregister/web"}},
			stdout: "Deregistered service: web\n",
		},
		{
			name:  "by file: ID, else name",
			args:  []string{"services", "deregister", "{{dir}}/two.hcl"},
			files: map[string]string{"two.hcl": twoHCL},
			want: []exchange{
				{method: "PUT", path: "/v1/agent/service/deregister/api-1"},
				{method: "PUT", path: "/v1/agent/service/deregister/db"},
			},
			stdout: "Deregistered service: api-1\nDeregistered service: db\n",
		},
		{
			name:   "agent does not serve the route",
			args:   []string{"services", "deregister", "-id", "web"},
			want:   []exchange{{method: "PUT", path: "/v1/agent/service/deregister/web", notServed: true}},
			code:   1,
			stderr: "Error deregistering service \"web\": Unexpected response code: 404 (404 page not found): the agent at {{addr}} does not serve PUT /v1/agent/service/deregister/web\n",
		},
		{
			name:   "nothing to deregister",
			args:   []string{"services", "deregister"},
			code:   1,
			stderr: "Service deregistration requires at least one argument or -id.\n",
		},
		{
			name:   "files and -id",
			args:   []string{"services", "deregister", "-id", "web", "web.json"},
			code:   1,
			stderr: "Service deregistration requires arguments or -id, not both.\n",
		},
	})
}
