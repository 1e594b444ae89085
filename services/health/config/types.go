// Package config reads Consul-style service definition files (*.json and
// *.hcl in -config-dir) into typed service and check definitions, and holds
// the rules those definitions obey: defaults, validation, check IDs and the
// expansion of a connect.sidecar_service into its own registration.
//
// The same types describe services and checks registered through the agent
// API, so both paths get the same defaults and the same errors.
package config

import (
	"strconv"
	"time"
)

// Service kinds, as Consul spells them.
const (
	KindTypical            = ""
	KindConnectProxy       = "connect-proxy"
	KindMeshGateway        = "mesh-gateway"
	KindTerminatingGateway = "terminating-gateway"
	KindIngressGateway     = "ingress-gateway"
	KindAPIGateway         = "api-gateway"
)

// Check statuses, as Consul spells them.
const (
	StatusPassing  = "passing"
	StatusWarning  = "warning"
	StatusCritical = "critical"
)

// Service is one service instance definition (Consul's ServiceDefinition).
// Field tags are the snake_case names; CamelCase and lower-case spellings
// of the same keys are accepted too.
type Service struct {
	ID                string                    `mapstructure:"id"`
	Name              string                    `mapstructure:"name"`
	Tags              []string                  `mapstructure:"tags"`
	Address           string                    `mapstructure:"address"`
	Port              int                       `mapstructure:"port"`
	Meta              map[string]string         `mapstructure:"meta"`
	TaggedAddresses   map[string]ServiceAddress `mapstructure:"tagged_addresses"`
	EnableTagOverride bool                      `mapstructure:"enable_tag_override"`
	Weights           *Weights                  `mapstructure:"weights"`
	Kind              string                    `mapstructure:"kind"`
	Proxy             *Proxy                    `mapstructure:"proxy"`
	Connect           *Connect                  `mapstructure:"connect"`
	// Check and Checks are both accepted, in files and in the API; Normalize
	// moves Check into Checks.
	Check  []Check `mapstructure:"check"`
	Checks []Check `mapstructure:"checks"`
	// Token is the ACL token the agent uses for this service's catalog
	// writes (empty: the agent's own).
	Token string `mapstructure:"token"`

	// Accepted for compatibility with Consul files; Beacon has no use for
	// them yet.
	SocketPath string         `mapstructure:"socket_path"`
	Namespace  string         `mapstructure:"namespace"`
	Partition  string         `mapstructure:"partition"`
	Locality   map[string]any `mapstructure:"locality"`

	// Where the definition came from, for error messages; not decoded.
	Source Source `mapstructure:"-"`
}

// Source locates a definition in a file.
type Source struct {
	// File is empty for definitions that came through the API.
	File string
	Line int
	// Path is the definition's place in its file, e.g. "services[1]".
	Path string
}

// String returns "file:line: path", leaving out what is unknown.
func (s Source) String() string {
	out := s.File
	if s.Line > 0 {
		out += ":" + strconv.Itoa(s.Line)
	}
	if s.Path != "" {
		if out != "" {
			out += ": "
		}
		out += s.Path
	}
	return out
}

// ServiceAddress is one of a service's tagged addresses.
type ServiceAddress struct {
	Address string `mapstructure:"address"`
	Port    int    `mapstructure:"port"`
}

// Weights are the instance's DNS SRV weights by health (default 1 and 1).
type Weights struct {
	Passing int `mapstructure:"passing"`
	Warning int `mapstructure:"warning"`
}

// Connect is a service's connect block.
type Connect struct {
	Native bool `mapstructure:"native"`
	// SidecarService, when set (even empty), registers a connect-proxy for
	// the service; see Sidecar. Its ID, Kind and Connect must be empty.
	SidecarService *Service `mapstructure:"sidecar_service"`
}

// Proxy is the proxy block of a connect-proxy service.
type Proxy struct {
	DestinationServiceName string         `mapstructure:"destination_service_name"`
	DestinationServiceID   string         `mapstructure:"destination_service_id"`
	LocalServiceAddress    string         `mapstructure:"local_service_address"`
	LocalServicePort       int            `mapstructure:"local_service_port"`
	Upstreams              []Upstream     `mapstructure:"upstreams"`
	Config                 map[string]any `mapstructure:"config"`
	// Accepted for compatibility; not used.
	Mode        string         `mapstructure:"mode"`
	MeshGateway map[string]any `mapstructure:"mesh_gateway"`
	Expose      map[string]any `mapstructure:"expose"`
}

// Upstream is a service a proxy dials for its application.
type Upstream struct {
	// DestinationType is "service" (default) or "prepared_query".
	DestinationType      string         `mapstructure:"destination_type"`
	DestinationName      string         `mapstructure:"destination_name"`
	DestinationNamespace string         `mapstructure:"destination_namespace"`
	DestinationPartition string         `mapstructure:"destination_partition"`
	DestinationPeer      string         `mapstructure:"destination_peer"`
	Datacenter           string         `mapstructure:"datacenter"`
	LocalBindAddress     string         `mapstructure:"local_bind_address"`
	LocalBindPort        int            `mapstructure:"local_bind_port"`
	Config               map[string]any `mapstructure:"config"`
	MeshGateway          map[string]any `mapstructure:"mesh_gateway"`
}

// Check is one check definition (Consul's CheckDefinition and CheckType).
// Exactly one of HTTP, TCP, GRPC, TTL, Args, AliasNode/AliasService says
// what kind it is.
type Check struct {
	ID        string `mapstructure:"id"`
	Name      string `mapstructure:"name"`
	Notes     string `mapstructure:"notes"`
	ServiceID string `mapstructure:"service_id"`
	// Status is the initial status: passing, warning or critical (default).
	Status string `mapstructure:"status"`

	// Interval is how often a polled check runs (at least 1 s).
	Interval time.Duration `mapstructure:"interval"`
	// Timeout bounds one run (default 10 s; 30 s for scripts).
	Timeout time.Duration `mapstructure:"timeout"`
	// DeregisterCriticalServiceAfter removes the check's service once the
	// check has been critical this long (at least 1 m).
	DeregisterCriticalServiceAfter time.Duration `mapstructure:"deregister_critical_service_after"`

	HTTP             string              `mapstructure:"http"`
	Method           string              `mapstructure:"method"`
	Header           map[string][]string `mapstructure:"header"`
	Body             string              `mapstructure:"body"`
	TLSSkipVerify    bool                `mapstructure:"tls_skip_verify"`
	TLSServerName    string              `mapstructure:"tls_server_name"`
	DisableRedirects bool                `mapstructure:"disable_redirects"`

	TCP       string `mapstructure:"tcp"`
	TCPUseTLS bool   `mapstructure:"tcp_use_tls"`

	GRPC       string `mapstructure:"grpc"`
	GRPCUseTLS bool   `mapstructure:"grpc_use_tls"`

	TTL time.Duration `mapstructure:"ttl"`

	Args []string `mapstructure:"args"`

	AliasNode    string `mapstructure:"alias_node"`
	AliasService string `mapstructure:"alias_service"`

	SuccessBeforePassing   int `mapstructure:"success_before_passing"`
	FailuresBeforeWarning  int `mapstructure:"failures_before_warning"`
	FailuresBeforeCritical int `mapstructure:"failures_before_critical"`

	// Check kinds Consul has and Beacon does not run; set, they are
	// reported as unsupported rather than as unknown keys.
	Script            string `mapstructure:"script"`
	UDP               string `mapstructure:"udp"`
	H2Ping            string `mapstructure:"h2ping"`
	H2PingUseTLS      bool   `mapstructure:"h2ping_use_tls"`
	DockerContainerID string `mapstructure:"docker_container_id"`
	Shell             string `mapstructure:"shell"`
	OSService         string `mapstructure:"os_service"`
	OutputMaxSize     int    `mapstructure:"output_max_size"`

	Source Source `mapstructure:"-"`
}

// Check types, as the catalog's HealthCheck.Type spells them.
const (
	TypeHTTP   = "http"
	TypeTCP    = "tcp"
	TypeGRPC   = "grpc"
	TypeTTL    = "ttl"
	TypeScript = "script"
	TypeAlias  = "alias"
)

// Type returns the check's kind (one of the Type constants), or "" when
// none or an unsupported one is set.
func (c *Check) Type() string {
	switch {
	case c.HTTP != "":
		return TypeHTTP
	case c.TCP != "":
		return TypeTCP
	case c.GRPC != "":
		return TypeGRPC
	case c.TTL > 0:
		return TypeTTL
	case len(c.Args) > 0:
		return TypeScript
	case c.AliasNode != "" || c.AliasService != "":
		return TypeAlias
	}
	return ""
}

// Polled reports whether the check runs every Interval (HTTP, TCP, gRPC,
// script), as opposed to being pushed (TTL) or watched (alias).
func (c *Check) Polled() bool {
	switch c.Type() {
	case TypeHTTP, TypeTCP, TypeGRPC, TypeScript:
		return true
	}
	return false
}

// Definitions is what a set of files defines.
type Definitions struct {
	// Services in file order, each with its checks.
	Services []Service
	// Checks are node-level checks (no service), in file order.
	Checks []Check
	// Ignored lists top-level keys that are agent settings rather than
	// service or check definitions (e.g. "datacenter" in consul.hcl), as
	// "file: key".
	Ignored []string
	// Warnings are things worth logging that do not stop the load.
	Warnings []string
}
