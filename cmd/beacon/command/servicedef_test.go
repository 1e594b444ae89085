package command

import "testing"

// webHCL is webJSON written as HCL blocks, which HCL1 decodes as lists.
const webHCL = `
service {
  name = "web"
  tags = ["rails"]
  port = 80
  enable_tag_override = true
  meta {
    Version = "1"
  }
  tagged_addresses {
    lan {
      address = "10.0.0.1"
      port    = 80
    }
  }
  check {
    id              = "web-http"
    http            = "http://localhost/health"
    interval        = "10s"
    tls_skip_verify = true
    header {
      X-Probe = ["1"]
    }
  }
  checks = [
    { args = ["/bin/true"], interval = "30s" },
    { TTL = "15s", DeregisterCriticalServiceAfter = "90m" },
  ]
  connect {
    sidecar_service {
      proxy {
        upstreams = [{ destination_name = "db", local_bind_port = 9191 }]
      }
    }
  }
}
`

// TestServicesRegisterFiles checks that service definition files are read
// and judged as the agent's loader does, and what is sent for them.
func TestServicesRegisterFiles(t *testing.T) {
	reg := func(body string) exchange {
		return exchange{method: "PUT", path: "/v1/agent/service/register", jsonBody: body}
	}
	runCases(t, []cliCase{
		{
			name:   "HCL blocks read as the same JSON",
			args:   []string{"services", "register", "{{dir}}/web.hcl"},
			files:  map[string]string{"web.hcl": webHCL},
			want:   []exchange{reg(webBody)},
			stdout: "Registered service: web\n",
		},
		{
			name:  "CamelCase JSON with several services",
			args:  []string{"services", "register", "{{dir}}/s.json"},
			files: map[string]string{"s.json": `{"Services":[{"Name":"a","ID":"a1","Weights":{"Passing":3,"Warning":1}},{"Name":"b","Port":1,"Check":{"CheckID":"b-ttl","TTL":"5s","Status":"passing"}}]}`},
			want: []exchange{
				reg(`{"Name":"a","ID":"a1","Weights":{"Passing":3,"Warning":1},"Check":null,"Checks":null}`),
				reg(`{"Name":"b","Port":1,"Weights":{"Passing":1,"Warning":1},"Check":null,"Checks":[{"CheckID":"b-ttl","Name":"Service 'b' check","TTL":"5s","Status":"passing"}]}`),
			},
			stdout: "Registered service: a\nRegistered service: b\n",
		},
		{
			name:  "every file of a directory, in name order",
			args:  []string{"services", "register", "{{dir}}"},
			files: map[string]string{"b.json": `{"service":{"name":"b"}}`, "a.hcl": "service {\n  name = \"a\"\n}\n", "notes.txt": "not config"},
			want: []exchange{
				reg(`{"Name":"a","Weights":{"Passing":1,"Warning":1},"Check":null,"Checks":null}`),
				reg(`{"Name":"b","Weights":{"Passing":1,"Warning":1},"Check":null,"Checks":null}`),
			},
			stdout: "Registered service: a\nRegistered service: b\n",
		},
		{
			// The agent derives the check's ID from the service's, so it is
			// left for the agent to derive from -id.
			name:   "-id fills in the ID and the check ID follows",
			args:   []string{"services", "register", "-id", "web-2", "{{dir}}/web.json"},
			files:  map[string]string{"web.json": `{"service":{"name":"web","check":{"ttl":"10s"}}}`},
			want:   []exchange{reg(`{"Name":"web","ID":"web-2","Weights":{"Passing":1,"Warning":1},"Check":null,"Checks":[{"Name":"Service 'web' check","TTL":"10s","Status":"critical"}]}`)},
			stdout: "Registered service: web\n",
		},
		{
			name:  "proxy config keys are the user's",
			args:  []string{"services", "register", "{{dir}}/p.json"},
			files: map[string]string{"p.json": `{"service":{"name":"p","kind":"connect-proxy","port":21000,"proxy":{"destination_service_name":"web","config":{"bind_port":1,"Some_Key":{"x":1}}}}}`},
			want: []exchange{reg(`{"Name":"p","Kind":"connect-proxy","Port":21000,"Weights":{"Passing":1,"Warning":1},"Check":null,"Checks":null,
				"Proxy":{"DestinationServiceName":"web","Config":{"bind_port":1,"Some_Key":{"x":1}},"MeshGateway":{},"Expose":{}}}`)},
			stdout: "Registered service: p\n",
		},
		{
			name:   "a later definition of an ID replaces the earlier one, with a warning",
			args:   []string{"services", "register", "{{dir}}/a.json", "{{dir}}/b.json"},
			files:  map[string]string{"a.json": `{"service":{"name":"web","port":1}}`, "b.json": `{"service":{"name":"web","port":2}}`},
			want:   []exchange{reg(`{"Name":"web","Port":2,"Weights":{"Passing":1,"Warning":1},"Check":null,"Checks":null}`)},
			stdout: "Registered service: web\n",
			stderr: "{{dir}}/b.json:1: service[0]: service \"web\" replaces the one defined at {{dir}}/a.json:1: service[0]\n",
		},
		{
			name:   "unknown nested field",
			args:   []string{"services", "register", "{{dir}}/s.json"},
			files:  map[string]string{"s.json": "{\"service\": {\n  \"name\": \"a\",\n  \"check\": {\"ttl\": \"5s\", \"intervall\": \"1s\"}\n}}"},
			code:   1,
			stderr: "Error: {{dir}}/s.json:3: service[0].check[0].intervall: unknown key\n",
		},
		{
			name:   "wrong type",
			args:   []string{"services", "register", "{{dir}}/db.hcl"},
			files:  map[string]string{"db.hcl": "service {\n  name = \"db\"\n  port = \"abc\"\n}\n"},
			code:   1,
			stderr: "Error: {{dir}}/db.hcl:3: service[0].port: \"abc\" is not an integer\n",
		},
		{
			name:   "duration without a unit",
			args:   []string{"services", "register", "{{dir}}/s.json"},
			files:  map[string]string{"s.json": `{"service":{"name":"a","check":{"tcp":"localhost:1","interval":10}}}`},
			code:   1,
			stderr: "Error: {{dir}}/s.json:1: service[0].check[0].interval: duration 10 has no unit: write it as a string such as \"10s\"\n",
		},
		{
			name:   "missing name",
			args:   []string{"services", "register", "{{dir}}/s.json"},
			files:  map[string]string{"s.json": `{"service":{"port":80}}`},
			code:   1,
			stderr: "Error: {{dir}}/s.json:1: service[0].name: is required\n",
		},
		{
			name:   "connect-proxy without a destination",
			args:   []string{"services", "register", "{{dir}}/p.json"},
			files:  map[string]string{"p.json": `{"service":{"name":"p","kind":"connect-proxy","port":21000}}`},
			code:   1,
			stderr: "Error: {{dir}}/p.json:1: service[0].proxy.destination_service_name: is required for a connect-proxy\n",
		},
		{
			name:  "every problem of every file, and nothing registered",
			args:  []string{"services", "register", "{{dir}}/ok.json", "{{dir}}/x.json", "{{dir}}/y.hcl"},
			files: map[string]string{"ok.json": `{"service":{"name":"ok"}}`, "x.json": `{"service": {"name": "x", "bogus": 1}}`, "y.hcl": "service {\n  port = 70000\n}\n"},
			code:  1,
			stderr: "Error: {{dir}}/x.json:1: service[0].bogus: unknown key; " +
				"{{dir}}/y.hcl:1: service[0].name: is required; {{dir}}/y.hcl:2: service[0].port: 70000 is out of range 0-65535\n",
		},
		{
			name:   "missing file",
			args:   []string{"services", "register", "{{dir}}/nope.json"},
			code:   1,
			stderr: "Error: config dir: stat {{dir}}/nope.json: no such file or directory\n",
		},
	})
}

func TestServicesDeregisterFiles(t *testing.T) {
	runCases(t, []cliCase{
		{
			name:  "a directory",
			args:  []string{"services", "deregister", "{{dir}}"},
			files: map[string]string{"a.json": `{"services":[{"name":"a","id":"a-1"},{"name":"b"}]}`},
			want: []exchange{
				{method: "PUT", path: "/v1/agent/service/deregister/a-1"},
				{method: "PUT", path: "/v1/agent/service/deregister/b"},
			},
			stdout: "Deregistered service: a-1\nDeregistered service: b\n",
		},
		{
			name:   "a file the agent would refuse",
			args:   []string{"services", "deregister", "{{dir}}/a.json"},
			files:  map[string]string{"a.json": `{"service":{"id":"a-1"}}`},
			code:   1,
			stderr: "Error: {{dir}}/a.json:1: service[0].name: is required\n",
		},
	})
}
