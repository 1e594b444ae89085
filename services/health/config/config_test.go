package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func parse(t *testing.T, name, src string) *Definitions {
	t.Helper()
	d, err := ParseFile(name, []byte(src))
	if err != nil {
		t.Fatalf("ParseFile(%s): %v", name, err)
	}
	return d
}

var ignoreSource = cmpopts.IgnoreTypes(Source{})

func TestSameServiceFromJSONAndHCL(t *testing.T) {
	hclData, err := os.ReadFile("testdata/web.hcl")
	if err != nil {
		t.Fatal(err)
	}
	jsonData, err := os.ReadFile("testdata/web.json")
	if err != nil {
		t.Fatal(err)
	}
	fromHCL := parse(t, "web.hcl", string(hclData))
	fromJSON := parse(t, "web.json", string(jsonData))
	if diff := cmp.Diff(fromHCL.Services, fromJSON.Services, ignoreSource); diff != "" {
		t.Fatalf("HCL and JSON differ (-hcl +json):\n%s", diff)
	}

	want := Service{
		ID: "web-1", Name: "web", Port: 8080, Tags: []string{"rails", "v1"},
		Meta:              map[string]string{"version": "1.0"},
		TaggedAddresses:   map[string]ServiceAddress{"lan": {Address: "10.0.0.5", Port: 8080}},
		EnableTagOverride: true,
		Weights:           &Weights{Passing: 3, Warning: 1},
		Checks: []Check{
			{
				ID: "web-http", Name: "HTTP /health", ServiceID: "web-1", Status: StatusCritical,
				HTTP: "http://localhost:8080/health", Method: "POST", Header: map[string][]string{"X-Probe": {"yes"}},
				Interval: 10 * time.Second, Timeout: time.Second, DeregisterCriticalServiceAfter: 90 * time.Minute,
				FailuresBeforeCritical: 3, SuccessBeforePassing: 2,
			},
			{ID: "service:web-1:2", Name: "ttl", ServiceID: "web-1", Status: StatusCritical, TTL: 30 * time.Second},
		},
		Connect: &Connect{SidecarService: &Service{
			Proxy: &Proxy{Upstreams: []Upstream{{DestinationName: "db", LocalBindPort: 9191, LocalBindAddress: "127.0.0.1"}}},
		}},
	}
	if diff := cmp.Diff([]Service{want}, fromHCL.Services, ignoreSource); diff != "" {
		t.Fatalf("definition (-want +got):\n%s", diff)
	}
}

func TestKeySpellingsAndForms(t *testing.T) {
	tests := []struct {
		name string
		file string
		src  string
		want []string // service IDs
	}{
		{"hcl repeated service blocks", "a.hcl", `service { name = "a" port = 1 }
service { name = "b" port = 2 }`, []string{"a", "b"}},
		{"hcl services list", "a.hcl", `services = [ { name = "a" }, { name = "b" } ]`, []string{"a", "b"}},
		{"json services list", "a.json", `{"services": [{"name": "a"}, {"Name": "b"}]}`, []string{"a", "b"}},
		{"json single service", "a.json", `{"service": {"name": "a"}}`, []string{"a"}},
		{"lower-case keys", "a.json", `{"service": {"name": "a", "id": "x", "enabletagoverride": true}}`, []string{"x"}},
		{"json trailing agent config", "a.json", `{"datacenter": "dc1", "service": {"name": "a"}}`, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := parse(t, tt.file, tt.src)
			var got []string
			for _, s := range d.Services {
				got = append(got, s.ID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("IDs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckDefaults(t *testing.T) {
	d := parse(t, "a.hcl", `
service {
  name = "api"
  check { tcp = "localhost:1" interval = "100ms" }
}
check { name = "disk" args = ["/bin/true"] interval = "30s" }
check { id = "mem" name = "memory" ttl = "1m" status = "passing" }
`)
	svc := d.Services[0]
	c := svc.Checks[0]
	if c.ID != "service:api" || c.Name != "Service 'api' check" || c.Interval != MinInterval || c.Timeout != DefaultTimeout || c.Status != StatusCritical {
		t.Errorf("service check defaults: %+v", c)
	}
	if len(d.Checks) != 2 {
		t.Fatalf("node checks: %+v", d.Checks)
	}
	if d.Checks[0].ID != "disk" || d.Checks[0].Timeout != DefaultScriptTimeout {
		t.Errorf("script check defaults: %+v", d.Checks[0])
	}
	if d.Checks[1].ID != "mem" || d.Checks[1].Status != StatusPassing {
		t.Errorf("ttl check: %+v", d.Checks[1])
	}
}

func TestSidecarExpansion(t *testing.T) {
	d := parse(t, "a.json", `{"service": {"name": "web", "port": 8080, "tags": ["t"], "meta": {"m": "1"},
		"connect": {"sidecar_service": {"proxy": {"upstreams": [{"destination_name": "db", "local_bind_port": 9191}]}}}}}`)
	parent := &d.Services[0]
	sc, err := Sidecar(parent, 21000)
	if err != nil {
		t.Fatal(err)
	}
	want := &Service{
		ID: "web-sidecar-proxy", Name: "web-sidecar-proxy", Kind: KindConnectProxy, Port: 21000,
		Tags: []string{"t"}, Meta: map[string]string{"m": "1"}, Weights: &Weights{Passing: 1, Warning: 1},
		Proxy: &Proxy{
			DestinationServiceName: "web", DestinationServiceID: "web",
			LocalServiceAddress: "127.0.0.1", LocalServicePort: 8080,
			Upstreams: []Upstream{{DestinationName: "db", LocalBindPort: 9191}},
		},
		Checks: []Check{
			{ID: "service:web-sidecar-proxy:1", Name: "Connect Sidecar Listening", ServiceID: "web-sidecar-proxy",
				Status: StatusCritical, TCP: "127.0.0.1:21000", Interval: 10 * time.Second, Timeout: DefaultTimeout},
			{ID: "service:web-sidecar-proxy:2", Name: "Connect Sidecar Aliasing web", ServiceID: "web-sidecar-proxy",
				Status: StatusCritical, AliasService: "web"},
		},
	}
	if diff := cmp.Diff(want, sc, ignoreSource); diff != "" {
		t.Fatalf("sidecar (-want +got):\n%s", diff)
	}

	// An explicit port and checks replace the defaults.
	d = parse(t, "b.hcl", `service {
  name = "web"
  port = 8080
  connect { sidecar_service { port = 20000 check { name = "own" tcp = "127.0.0.1:20000" interval = "5s" } } }
}`)
	sc, err = Sidecar(&d.Services[0], 21000)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Port != 20000 || len(sc.Checks) != 1 || sc.Checks[0].Name != "own" {
		t.Fatalf("sidecar with own port and check: %+v", sc)
	}
}

func TestSidecarInheritsFromParent(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		addr     string // the sidecar's address
		check    string // its default TCP check's target
		destName string
		destID   string
		err      string // a fragment of the error, if one is expected
	}{
		{
			name: "parent address is inherited and checked",
			src: `{"service": {"name": "tagged", "id": "tagged-1", "address": "127.0.0.2", "port": 29306,
				"connect": {"sidecar_service": {"port": 29213}}}}`,
			addr: "127.0.0.2", check: "127.0.0.2:29213", destName: "tagged", destID: "tagged-1",
		},
		{
			name: "own address wins",
			src: `{"service": {"name": "web", "address": "10.0.0.1", "port": 8080,
				"connect": {"sidecar_service": {"address": "10.0.0.9", "port": 21000}}}}`,
			addr: "10.0.0.9", check: "10.0.0.9:21000", destName: "web", destID: "web",
		},
		{
			name: "IPv6 parent address",
			src: `{"service": {"name": "web", "address": "::1", "port": 8080,
				"connect": {"sidecar_service": {"port": 21000}}}}`,
			addr: "::1", check: "[::1]:21000", destName: "web", destID: "web",
		},
		{
			name: "no address anywhere: the check uses the local service address",
			src: `{"service": {"name": "web", "port": 8080,
				"connect": {"sidecar_service": {"port": 21000, "proxy": {"local_service_address": "127.0.0.5"}}}}}`,
			addr: "", check: "127.0.0.5:21000", destName: "web", destID: "web",
		},
		{
			name: "given destination is kept",
			src: `{"service": {"name": "web", "id": "web-1", "port": 8080,
				"connect": {"sidecar_service": {"proxy": {"destination_service_name": "web-v2", "destination_service_id": "web-v2-1"}}}}}`,
			check: "127.0.0.1:21000", destName: "web-v2", destID: "web-v2-1",
		},
		{
			name: "only the missing half of the destination is filled",
			src: `{"service": {"name": "web", "id": "web-1", "port": 8080,
				"connect": {"sidecar_service": {"proxy": {"destination_service_name": "web-v2"}}}}}`,
			check: "127.0.0.1:21000", destName: "web-v2", destID: "web-1",
		},
		{
			name: "destination pointing at the sidecar itself",
			src: `{"service": {"name": "web", "port": 8080,
				"connect": {"sidecar_service": {"proxy": {"destination_service_id": "web-sidecar-proxy"}}}}}`,
			err: "proxy.destination_service_id",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseFile("a.json", []byte(tt.src))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got error %v, want one mentioning %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sc, err := Sidecar(&d.Services[0], 21000)
			if err != nil {
				t.Fatal(err)
			}
			if sc.Address != tt.addr {
				t.Errorf("address = %q, want %q", sc.Address, tt.addr)
			}
			if len(sc.Checks) != 2 || sc.Checks[0].TCP != tt.check {
				t.Errorf("checks = %+v, want a TCP check on %s first", sc.Checks, tt.check)
			}
			if sc.Proxy.DestinationServiceName != tt.destName || sc.Proxy.DestinationServiceID != tt.destID {
				t.Errorf("destination = %q/%q, want %q/%q", sc.Proxy.DestinationServiceName, sc.Proxy.DestinationServiceID, tt.destName, tt.destID)
			}
		})
	}
}

func TestInvalidFiles(t *testing.T) {
	tests := []struct {
		name string
		file string
		src  string
		// want are substrings of the error, in order; the first is file:line.
		want []string
	}{
		{"hcl syntax", "bad.hcl", "service {\n  name = \"web\"\n  port = \n}\n", []string{"bad.hcl:4: "}},
		{"json syntax", "bad.json", "{\"service\": {\n  \"name\": \"web\",\n  \"port\" 80\n}}", []string{"bad.json:3: ", "invalid character"}},
		{"json truncated", "bad.json", "{\"service\": {\n  \"name\": \"web\",\n", []string{"bad.json:3: ", "unexpected end of file"}},
		{"bad duration", "d.hcl", "service {\n  name = \"web\"\n  check {\n    tcp = \"a:1\"\n    interval = \"ten\"\n  }\n}", []string{"d.hcl:5: ", "service[0].check[0].interval", `invalid duration "ten"`}},
		{"unitless duration", "d.json", "{\"service\": {\"name\": \"web\",\n \"check\": {\"tcp\": \"a:1\",\n \"interval\": 10}}}", []string{"d.json:3: ", "interval", "has no unit"}},
		{"port not a number", "p.json", "{\"service\": {\n \"name\": \"web\",\n \"port\": \"http\"\n}}", []string{"p.json:3: ", "service[0].port"}},
		{"unknown key", "u.hcl", "service {\n  name = \"web\"\n  colour = \"blue\"\n}", []string{"u.hcl:3: ", "service[0].colour", "unknown key"}},
		{"missing name", "n.json", "{\"services\": [{\"name\": \"a\"},\n {\"port\": 80}]}", []string{"n.json:2: ", "services[1].name", "is required"}},
		{"check without kind", "k.hcl", "service {\n  name = \"web\"\n  checks = [\n    { interval = \"10s\" },\n  ]\n}", []string{"k.hcl:4: ", "service[0].checks[0]", "nothing to run"}},
		{"two kinds", "k.hcl", "service {\n  name = \"web\"\n  check {\n    tcp = \"a:1\"\n    http = \"http://a/\"\n    interval = \"1s\"\n  }\n}", []string{"k.hcl:3: ", "several kinds"}},
		{"polled without interval", "i.hcl", "service {\n  name = \"web\"\n  check { tcp = \"a:1\" }\n}", []string{"i.hcl:3: ", "interval", "is required"}},
		{"sidecar id", "s.hcl", "service {\n  name = \"web\"\n  connect {\n    sidecar_service {\n      id = \"x\"\n    }\n  }\n}", []string{"s.hcl:5: ", "sidecar_service.id", "not allowed"}},
		{"upstream without port", "u.json", "{\"service\": {\"name\": \"web\", \"connect\": {\"sidecar_service\": {\"proxy\": {\"upstreams\": [\n{\"destination_name\": \"db\"}]}}}}}", []string{"u.json:2: ", "local_bind_port"}},
		{"unsupported check kind", "c.hcl", "check {\n  name = \"dns\"\n  udp = \"a:53\"\n  interval = \"5s\"\n}", []string{"c.hcl:3: ", "check[0].udp", "not supported"}},
		{"node check without name", "c.json", "{\"check\": {\"ttl\": \"5s\"}}", []string{"c.json:1: ", "name", "is required"}},
		{"wrong extension", "x.yaml", "a: b", []string{"x.yaml: ", "unknown format"}},
		{"proxy config number out of range", "r.json", "{\"service\": {\"name\": \"web\", \"connect\": {\"sidecar_service\": {\"proxy\": {\n\"config\": {\"limit\": 1e999}}}}}}", []string{"r.json:2: ", "config", "out of range"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFile(tt.file, []byte(tt.src))
			if err == nil {
				t.Fatal("no error")
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FileError", err, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.want[0]) {
				t.Fatalf("error %q does not start with %q", msg, tt.want[0])
			}
			rest := msg
			for _, w := range tt.want[1:] {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error %q lacks %q", msg, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestLoadDirs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("b.hcl", `service { name = "b" }`)
	write("a.json", `{"service": {"name": "a"}}`)
	write("c.hcl", `service { name = "a" port = 9 }`) // replaces a.json's "a"
	write("consul.hcl", `datacenter = "dc1"
data_dir = "/opt/consul"`)
	write("notes.txt", `not a definition`)
	if err := os.Mkdir(filepath.Join(dir, "sub.hcl"), 0o700); err != nil {
		t.Fatal(err)
	}
	write("sub.hcl/x.hcl", `service { name = "nested" }`)

	d, err := Load([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range d.Services {
		ids = append(ids, s.ID)
	}
	if diff := cmp.Diff([]string{"a", "b"}, ids); diff != "" {
		t.Fatalf("services (-want +got):\n%s", diff)
	}
	if d.Services[0].Port != 9 || d.Services[0].Source.File != filepath.Join(dir, "c.hcl") {
		t.Errorf("the later definition of a should win: %+v", d.Services[0])
	}
	if len(d.Warnings) != 1 || len(d.Ignored) != 2 {
		t.Errorf("warnings %q, ignored %q", d.Warnings, d.Ignored)
	}

	write("z.json", `{"service": {"name": }}`)
	write("y.hcl", `service { port = 1 }`)
	_, err = Load([]string{dir})
	if err == nil {
		t.Fatal("no error for invalid files")
	}
	for _, want := range []string{filepath.Join(dir, "y.hcl") + ":1: ", filepath.Join(dir, "z.json") + ":1: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if _, err := Load([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing dir is not an error")
	}
}

func FuzzParseFile(f *testing.F) {
	for _, name := range []string{"testdata/web.hcl", "testdata/web.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(name, b)
	}
	f.Add("a.hcl", []byte(`service { name = "a" check { ttl = "1s" } }`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		if !strings.HasSuffix(name, ".json") {
			name += ".hcl"
		}
		d, err := ParseFile(name, data)
		if err != nil {
			return
		}
		for i := range d.Services {
			// What parses must normalize again to the same thing.
			s := d.Services[i].Clone()
			if err := s.Normalize(); err != nil {
				t.Fatalf("normalizing a parsed service again: %v", err)
			}
			if !SameDefinition(s, &d.Services[i]) {
				t.Fatalf("Normalize is not idempotent:\n%s", cmp.Diff(&d.Services[i], s))
			}
		}
	})
}
