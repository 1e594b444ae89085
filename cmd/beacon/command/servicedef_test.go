package command

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

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

func TestParseServiceDefs(t *testing.T) {
	asJSON := func(t *testing.T, defs []serviceDef) string {
		t.Helper()
		b, err := json.Marshal(defs)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name, file, data string
		want             string // JSON of the register bodies
		err              string
	}{
		{name: "json", file: "web.json", data: webJSON, want: "[" + webBody + "]"},
		{name: "hcl blocks", file: "web.hcl", data: webHCL, want: "[" + webBody + "]"},
		{name: "json list under services", file: "s.json", data: `{"services":[{"name":"a"},{"name":"b","port":1}]}`, want: `[{"Name":"a"},{"Name":"b","Port":1}]`},
		{name: "CamelCase keys", file: "s.json", data: `{"Service":{"Name":"a","ID":"a1","EnableTagOverride":false,"Weights":{"Passing":3,"Warning":1}}}`, want: `[{"Name":"a","ID":"a1","EnableTagOverride":false,"Weights":{"Passing":3,"Warning":1}}]`},
		{name: "acronyms", file: "s.json", data: `{"service":{"name":"a","check":{"grpc":"x:1","grpc_use_tls":true,"h2ping":"x:2","h2ping_use_tls":false,"os_service":"s","docker_container_id":"c","ttl":"1s","udp":"x:3","tcp_use_tls":true}}}`, want: `[{"Name":"a","Check":{"GRPC":"x:1","GRPCUseTLS":true,"H2PING":"x:2","H2PingUseTLS":false,"OSService":"s","DockerContainerID":"c","TTL":"1s","UDP":"x:3","TCPUseTLS":true}}]`},
		{name: "proxy config is the user's", file: "p.json", data: `{"service":{"name":"p","kind":"connect-proxy","proxy":{"destination_service_name":"web","config":{"bind_port":1,"Some_Key":{"x":1}},"mesh_gateway":{"mode":"local"}}}}`, want: `[{"Name":"p","Kind":"connect-proxy","Proxy":{"DestinationServiceName":"web","Config":{"bind_port":1,"Some_Key":{"x":1}},"MeshGateway":{"Mode":"local"}}}]`},
		{name: "unknown nested key", file: "s.json", data: `{"service":{"name":"a","check":{"intervall":"1s"}}}`, err: `s.json: service[0].check: unknown field "intervall"`},
		{name: "service is not an object", file: "s.json", data: `{"service":5}`, err: `s.json: service: want an object or a list of objects`},
		{name: "check is a list of two", file: "s.json", data: `{"service":{"name":"a","check":[{},{}]}}`, err: `s.json: service[0].check: want one object`},
		{name: "tagged address is not an object", file: "s.json", data: `{"service":{"name":"a","tagged_addresses":{"lan":"x"}}}`, err: `s.json: service[0].tagged_addresses.lan: want an object`},
		{name: "hcl syntax error", file: "s.hcl", data: "service {", err: "s.hcl: "},
		{name: "top level not an object", file: "s.json", data: `[1]`, err: "s.json: json: cannot unmarshal array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defs, err := parseServiceDefs(tt.file, []byte(tt.data))
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("error %v, want one starting %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			if err := json.Unmarshal([]byte(asJSON(t, defs)), &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %s\nwant %s", asJSON(t, defs), tt.want)
			}
		})
	}
}

func TestAPIName(t *testing.T) {
	for in, want := range map[string]string{
		"enable_tag_override":               "EnableTagOverride",
		"deregister_critical_service_after": "DeregisterCriticalServiceAfter",
		"tls_skip_verify":                   "TLSSkipVerify",
		"destination_service_id":            "DestinationServiceID",
		"local_bind_socket_path":            "LocalBindSocketPath",
	} {
		if got := apiName(in); got != want {
			t.Errorf("apiName(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseServiceDefs checks that no file makes the parser panic, and
// that whatever it accepts encodes as a JSON body.
func FuzzParseServiceDefs(f *testing.F) {
	f.Add("web.json", webJSON)
	f.Add("web.hcl", webHCL)
	f.Add("two.hcl", twoHCL)
	f.Add("s.json", `{"services":[{"name":"a","tagged_addresses":{"lan":[{"address":"x"}]}}]}`)
	f.Fuzz(func(t *testing.T, name, data string) {
		defs, err := parseServiceDefs(name, []byte(data))
		if err != nil {
			return
		}
		if _, err := json.Marshal(defs); err != nil {
			t.Fatalf("accepted definitions do not encode: %v", err)
		}
	})
}
