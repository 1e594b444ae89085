package command

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl"
)

// Service definition files are Consul agent config files: a top-level
// "service" (one or a list) or "services" (a list) key, in JSON or HCL, keys
// in snake_case or CamelCase. They are turned into the CamelCase bodies
// PUT /v1/agent/service/register takes, as consul/api sends them. Other
// top-level keys are agent configuration and are ignored; an unknown key
// inside a service is an error, as in Consul, so that typos are caught.
//
// The node agent will have a full parser (with validation) of its own; this
// one only translates, and leaves judging the values to the agent.

// serviceDef is one service, as a register body.
type serviceDef map[string]any

func (s serviceDef) str(key string) string {
	v, _ := s[key].(string)
	return v
}

// fieldKind says how a definition key's value is translated.
type fieldKind int

const (
	scalar  fieldKind = iota // kept as is (strings, numbers, lists of them)
	object                   // one object, translated with sub
	objects                  // a list of objects, each translated with sub
	opaque                   // an object whose keys are the user's (meta, header, config)
	mapOf                    // an object of user keys whose values are translated with sub
)

type field struct {
	api  string
	kind fieldKind
	sub  schema
}

// schema maps canonical keys (see canon) to fields.
type schema map[string]*field

// canon folds the spellings Consul accepts for a key onto one:
// enable_tag_override, EnableTagOverride and enableTagOverride.
func canon(k string) string {
	return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(k))
}

// acronyms are spelled in capitals in Consul's API field names.
var acronyms = map[string]string{"id": "ID", "http": "HTTP", "tcp": "TCP", "grpc": "GRPC", "tls": "TLS", "ttl": "TTL", "udp": "UDP", "os": "OS"}

// apiName turns snake_case into Consul's CamelCase: local_bind_port is
// LocalBindPort, tls_skip_verify is TLSSkipVerify.
func apiName(snake string) string {
	var b strings.Builder
	for _, w := range strings.Split(snake, "_") {
		if a, ok := acronyms[w]; ok {
			b.WriteString(a)
		} else if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

// add registers scalar keys; "key:APIName" overrides the derived name.
func (s schema) add(kind fieldKind, sub schema, keys ...string) {
	for _, k := range keys {
		key, api, ok := strings.Cut(k, ":")
		if !ok {
			api = apiName(key)
		}
		s[canon(key)] = &field{api: api, kind: kind, sub: sub}
	}
}

var serviceSchema = buildServiceSchema()

func buildServiceSchema() schema {
	svc, check, proxy, upstream := schema{}, schema{}, schema{}, schema{}
	addr, weights, gateway, expose, path, connect := schema{}, schema{}, schema{}, schema{}, schema{}, schema{}

	addr.add(scalar, nil, "address", "port")
	weights.add(scalar, nil, "passing", "warning")
	gateway.add(scalar, nil, "mode")
	path.add(scalar, nil, "path", "local_path_port", "listener_port", "protocol")
	expose.add(scalar, nil, "checks")
	expose.add(objects, path, "paths")

	check.add(scalar, nil,
		"id:CheckID", "check_id:CheckID", "name", "notes", "service_id", "status",
		"interval", "timeout", "deregister_critical_service_after",
		"http", "method", "body", "tls_skip_verify", "tls_server_name", "disable_redirects",
		"tcp", "tcp_use_tls", "udp", "grpc", "grpc_use_tls", "h2ping:H2PING", "h2ping_use_tls:H2PingUseTLS",
		"ttl", "args:ScriptArgs", "script_args:ScriptArgs", "docker_container_id", "shell",
		"os_service", "alias_node", "alias_service", "output_max_size",
		"success_before_passing", "failures_before_warning", "failures_before_critical")
	check.add(opaque, nil, "header")

	upstream.add(scalar, nil,
		"destination_type", "destination_namespace", "destination_partition", "destination_peer",
		"destination_name", "datacenter", "local_bind_address", "local_bind_port",
		"local_bind_socket_path", "local_bind_socket_mode", "centrally_configured")
	upstream.add(opaque, nil, "config")
	upstream.add(object, gateway, "mesh_gateway")

	proxy.add(scalar, nil,
		"destination_service_name", "destination_service_id", "local_service_address",
		"local_service_port", "local_service_socket_path", "mode")
	proxy.add(opaque, nil, "config", "transparent_proxy", "access_logs")
	proxy.add(objects, upstream, "upstreams")
	proxy.add(object, gateway, "mesh_gateway")
	proxy.add(object, expose, "expose")

	connect.add(scalar, nil, "native")
	connect.add(object, svc, "sidecar_service")

	svc.add(scalar, nil,
		"id", "name", "tags", "address", "port", "enable_tag_override", "kind",
		"socket_path", "namespace", "partition", "token")
	svc.add(opaque, nil, "meta", "locality")
	svc.add(mapOf, addr, "tagged_addresses")
	svc.add(object, weights, "weights")
	svc.add(object, proxy, "proxy")
	svc.add(object, connect, "connect")
	svc.add(object, check, "check")
	svc.add(objects, check, "checks")
	return svc
}

// list returns v as a list: HCL gives blocks as []map[string]any, JSON
// arrays are []any, and a lone object counts as a list of one.
func list(v any) ([]any, bool) {
	switch t := v.(type) {
	case []any:
		return t, true
	case []map[string]any:
		out := make([]any, len(t))
		for i, m := range t {
			out[i] = m
		}
		return out, true
	case map[string]any:
		return []any{t}, true
	}
	return nil, false
}

// single returns v as one object; an HCL block is a list of one.
func single(v any) (map[string]any, bool) {
	l, ok := list(v)
	if !ok || len(l) != 1 {
		return nil, false
	}
	m, ok := l[0].(map[string]any)
	return m, ok
}

// translate converts one object of a definition; where names the object in
// errors, e.g. "service[0].check".
func translate(in map[string]any, s schema, where string) (map[string]any, error) {
	out := make(map[string]any, len(in))
	for _, k := range slices.Sorted(maps.Keys(in)) {
		v := in[k]
		f, ok := s[canon(k)]
		if !ok {
			return nil, fmt.Errorf("%s: unknown field %q", where, k)
		}
		at := where + "." + k
		switch f.kind {
		case scalar:
			out[f.api] = v
		case opaque:
			m, ok := single(v)
			if !ok {
				return nil, fmt.Errorf("%s: want an object", at)
			}
			out[f.api] = m
		case object:
			m, ok := single(v)
			if !ok {
				return nil, fmt.Errorf("%s: want one object", at)
			}
			t, err := translate(m, f.sub, at)
			if err != nil {
				return nil, err
			}
			out[f.api] = t
		case objects:
			l, ok := list(v)
			if !ok {
				return nil, fmt.Errorf("%s: want a list of objects", at)
			}
			ts := make([]any, 0, len(l))
			for i, e := range l {
				m, ok := e.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s[%d]: want an object", at, i)
				}
				t, err := translate(m, f.sub, fmt.Sprintf("%s[%d]", at, i))
				if err != nil {
					return nil, err
				}
				ts = append(ts, t)
			}
			out[f.api] = ts
		case mapOf:
			m, ok := single(v)
			if !ok {
				return nil, fmt.Errorf("%s: want an object", at)
			}
			tm := make(map[string]any, len(m))
			for name, e := range m {
				em, ok := single(e)
				if !ok {
					return nil, fmt.Errorf("%s.%s: want an object", at, name)
				}
				t, err := translate(em, f.sub, at+"."+name)
				if err != nil {
					return nil, err
				}
				tm[name] = t
			}
			out[f.api] = tm
		}
	}
	return out, nil
}

// parseServiceFile reads the service definitions of one file.
func parseServiceFile(path string) ([]serviceDef, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseServiceDefs(path, data)
}

// parseServiceDefs parses the definitions in data; path picks the format
// by its extension and names the file in errors.
func parseServiceDefs(path string, data []byte) ([]serviceDef, error) {
	var raw map[string]any
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	case ".hcl":
		if err := hcl.Unmarshal(data, &raw); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("%s: unknown format: want a .json or .hcl file", path)
	}
	var defs []serviceDef
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		if c := canon(k); c != "service" && c != "services" {
			continue
		}
		l, ok := list(raw[k])
		if !ok {
			return nil, fmt.Errorf("%s: %s: want an object or a list of objects", path, k)
		}
		for i, e := range l {
			where := fmt.Sprintf("%s[%d]", k, i)
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: %s: want an object", path, where)
			}
			t, err := translate(m, serviceSchema, where)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			defs = append(defs, t)
		}
	}
	if len(defs) == 0 {
		return nil, fmt.Errorf("%s: no service definitions (want a \"service\" or \"services\" key)", path)
	}
	return defs, nil
}

// parseServiceFiles reads every file's definitions, in order.
func parseServiceFiles(paths []string) ([]serviceDef, error) {
	var all []serviceDef
	for _, p := range paths {
		defs, err := parseServiceFile(p)
		if err != nil {
			return nil, err
		}
		all = append(all, defs...)
	}
	return all, nil
}
