package consuljson

import (
	"errors"
	"fmt"
	"slices"

	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
)

// AgentServiceRegistration is the body of PUT /v1/agent/service/register
// (Consul's ServiceDefinition). Read it with CanonicalKeys first, so that
// snake_case and lower-case keys work too.
type AgentServiceRegistration struct {
	Kind              string
	ID                string
	Name              string
	Tags              []string
	Port              int
	Address           string
	TaggedAddresses   map[string]ServiceAddress
	EnableTagOverride bool
	Meta              map[string]string
	Weights           *Weights
	Check             *AgentCheckDefinition
	Checks            []*AgentCheckDefinition
	Proxy             *ConnectProxyConfig
	Connect           *AgentServiceConnect
}

// AgentServiceConnect is the Connect block of a registration.
type AgentServiceConnect struct {
	Native         bool
	SidecarService *AgentServiceRegistration
}

// AgentCheckDefinition is a check given to the agent: the body of PUT
// /v1/agent/check/register (Consul's CheckDefinition) and an element of a
// registration's Check and Checks (Consul's CheckType). consul/api sends
// the ID as "ID" for the former and "CheckID" for the latter; both are
// accepted everywhere.
type AgentCheckDefinition struct {
	ID                             string
	CheckID                        string
	Name                           string
	Notes                          string
	ServiceID                      string
	Status                         string
	Interval                       Duration
	Timeout                        Duration
	TTL                            Duration
	DeregisterCriticalServiceAfter Duration
	HTTP                           string
	Method                         string
	Header                         map[string][]string
	Body                           string
	TLSServerName                  string
	TLSSkipVerify                  bool
	TCP                            string
	TCPUseTLS                      bool
	GRPC                           string
	GRPCUseTLS                     bool
	ScriptArgs                     []string `alias:"Args"`
	AliasNode                      string
	AliasService                   string
	SuccessBeforePassing           int
	FailuresBeforeWarning          int
	FailuresBeforeCritical         int

	// Kinds of check Consul has and Beacon's agent does not run; read
	// only to refuse them by name.
	UDP               string
	H2PING            string
	DockerContainerID string
	OSService         string
}

// AgentCheckUpdate is the body of PUT /v1/agent/check/update/:id.
type AgentCheckUpdate struct {
	Status string
	Output string
}

// The registration errors below are Consul's answers, word for word where
// Consul has one.
var (
	errMissingServiceName = errors.New("Missing service name")
	errMissingCheckName   = errors.New("Missing check name")
	errServiceCheckStatus = errors.New("Status for checks must 'passing', 'warning', 'critical'")
	errBadCheckStatus     = errors.New("Bad check status")
)

// Proto validates the registration and converts it.
func (r *AgentServiceRegistration) Proto(replaceExistingChecks bool) (*agentv1.RegisterServiceRequest, error) {
	if r.Name == "" {
		return nil, errMissingServiceName
	}
	svc, err := r.service("")
	if err != nil {
		return nil, err
	}
	out := &agentv1.RegisterServiceRequest{Service: svc, ReplaceExistingChecks: replaceExistingChecks}
	if out.Checks, err = serviceChecks(r.Check, r.Checks, ""); err != nil {
		return nil, err
	}
	if r.Connect != nil && r.Connect.SidecarService != nil {
		side := r.Connect.SidecarService
		if side.Connect != nil && side.Connect.SidecarService != nil {
			return nil, errors.New("Invalid SidecarService: a SidecarService cannot have a SidecarService")
		}
		sc := &agentv1.SidecarService{}
		if sc.Service, err = side.service("SidecarService."); err != nil {
			return nil, err
		}
		if sc.Checks, err = serviceChecks(side.Check, side.Checks, "in sidecar_service "); err != nil {
			return nil, err
		}
		out.SidecarService = sc
	}
	return out, nil
}

// service converts the instance itself; prefix names it in errors.
func (r *AgentServiceRegistration) service(prefix string) (*catalogv1.Service, error) {
	kind, ok := kindFromString(r.Kind)
	if !ok {
		return nil, fmt.Errorf("Invalid service kind %q in field %sKind", r.Kind, prefix)
	}
	if r.Port < 0 || r.Port > 65535 {
		return nil, fmt.Errorf("Invalid service port %d in field %sPort", r.Port, prefix)
	}
	out := &catalogv1.Service{
		Id:                r.ID,
		Service:           r.Name,
		Tags:              slices.Clone(r.Tags),
		Address:           r.Address,
		Meta:              r.Meta,
		Port:              int32(r.Port),
		EnableTagOverride: r.EnableTagOverride,
		Kind:              kind,
	}
	if w := r.Weights; w != nil && (w.Passing != 0 || w.Warning != 0) {
		if w.Passing < 1 || w.Warning < 0 || w.Passing > 1<<16 || w.Warning > 1<<16 {
			return nil, fmt.Errorf("Invalid Weights: Passing must be greater than 0, got {Passing:%d Warning:%d}", w.Passing, w.Warning)
		}
		out.Weights = &catalogv1.Weights{Passing: int32(w.Passing), Warning: int32(w.Warning)}
	}
	if len(r.TaggedAddresses) > 0 {
		out.TaggedAddresses = make(map[string]*catalogv1.ServiceAddress, len(r.TaggedAddresses))
		for k, v := range r.TaggedAddresses {
			out.TaggedAddresses[k] = &catalogv1.ServiceAddress{Address: v.Address, Port: int32(v.Port)}
		}
	}
	if r.Proxy != nil {
		p, err := r.Proxy.proto()
		if err != nil {
			return nil, err
		}
		out.Proxy = p
	}
	if r.Connect != nil && r.Connect.Native {
		out.Connect = &catalogv1.ServiceConnect{Native: true}
	}
	return out, nil
}

// serviceChecks converts a registration's Check and Checks, in that order.
// An empty Check ({} or null) is no check, as in Consul.
func serviceChecks(one *AgentCheckDefinition, many []*AgentCheckDefinition, where string) ([]*agentv1.CheckRegistration, error) {
	all := many
	if one != nil && !one.empty() {
		all = append([]*AgentCheckDefinition{one}, many...)
	}
	var out []*agentv1.CheckRegistration
	for _, c := range all {
		if c == nil {
			continue
		}
		if _, err := StatusFromString(c.Status); err != nil {
			return nil, errServiceCheckStatus
		}
		pc, err := c.proto()
		if err != nil {
			return nil, fmt.Errorf("Invalid check %s%w", where, err)
		}
		// A check given with a service belongs to it, whatever it says.
		pc.ServiceId = ""
		out = append(out, pc)
	}
	return out, nil
}

// Proto validates a check given to PUT /v1/agent/check/register and
// converts it.
func (c *AgentCheckDefinition) Proto() (*agentv1.RegisterCheckRequest, error) {
	if c.Name == "" {
		return nil, errMissingCheckName
	}
	if _, err := StatusFromString(c.Status); err != nil {
		return nil, errBadCheckStatus
	}
	pc, err := c.proto()
	if err != nil {
		return nil, fmt.Errorf("Invalid check: %w", err)
	}
	return &agentv1.RegisterCheckRequest{Check: pc}, nil
}

func (c *AgentCheckDefinition) empty() bool {
	return c.ID == "" && c.CheckID == "" && c.Name == "" && c.kind() == "" && c.Interval == 0 && c.TTL == 0
}

// kind names the kind of check c is, in the order Consul's agent tries
// them when a definition sets several; "" when it sets none.
func (c *AgentCheckDefinition) kind() string {
	switch {
	case c.TTL != 0:
		return "TTL"
	case c.HTTP != "":
		return "HTTP"
	case c.H2PING != "":
		return "H2PING"
	case c.TCP != "":
		return "TCP"
	case c.UDP != "":
		return "UDP"
	case c.GRPC != "":
		return "GRPC"
	case c.DockerContainerID != "":
		return "DockerContainerID"
	case len(c.ScriptArgs) > 0:
		return "ScriptArgs"
	case c.AliasNode != "" || c.AliasService != "":
		return "AliasService"
	case c.OSService != "":
		return "OSService"
	}
	return ""
}

// proto converts the check; the agent applies defaults and validates the
// rest (intervals, a missing kind).
func (c *AgentCheckDefinition) proto() (*agentv1.CheckRegistration, error) {
	st, err := StatusFromString(c.Status)
	if err != nil {
		return nil, err
	}
	id := c.CheckID
	if id == "" {
		id = c.ID
	}
	def := &catalogv1.CheckDefinition{
		Interval:                       c.Interval.proto(),
		Timeout:                        c.Timeout.proto(),
		DeregisterCriticalServiceAfter: c.DeregisterCriticalServiceAfter.proto(),
	}
	switch k := c.kind(); k {
	case "TTL":
		def.Kind = &catalogv1.CheckDefinition_Ttl{Ttl: &catalogv1.TTLCheck{Ttl: c.TTL.proto()}}
	case "HTTP":
		h := &catalogv1.HTTPCheck{
			Url: c.HTTP, Method: c.Method, Body: c.Body,
			TlsSkipVerify: c.TLSSkipVerify, TlsServerName: c.TLSServerName,
		}
		if len(c.Header) > 0 {
			h.Header = make(map[string]*catalogv1.HeaderValues, len(c.Header))
			for name, vals := range c.Header {
				h.Header[name] = &catalogv1.HeaderValues{Values: slices.Clone(vals)}
			}
		}
		def.Kind = &catalogv1.CheckDefinition_Http{Http: h}
	case "TCP":
		def.Kind = &catalogv1.CheckDefinition_Tcp{Tcp: &catalogv1.TCPCheck{Address: c.TCP, UseTls: c.TCPUseTLS}}
	case "GRPC":
		def.Kind = &catalogv1.CheckDefinition_Grpc{Grpc: &catalogv1.GRPCCheck{Target: c.GRPC, UseTls: c.GRPCUseTLS}}
	case "ScriptArgs":
		def.Kind = &catalogv1.CheckDefinition_Script{Script: &catalogv1.ScriptCheck{Args: slices.Clone(c.ScriptArgs)}}
	case "AliasService":
		def.Kind = &catalogv1.CheckDefinition_Alias{Alias: &catalogv1.AliasCheck{Node: c.AliasNode, ServiceId: c.AliasService}}
	case "":
		return nil, errors.New("Must provide TTL or Script/DockerContainerID/HTTP/TCP/UDP/H2PING/GRPC/AliasNode/AliasService and Interval")
	default:
		return nil, fmt.Errorf("%s checks are not supported by Beacon", k)
	}
	for _, t := range []struct {
		name string
		n    int
	}{
		{"SuccessBeforePassing", c.SuccessBeforePassing},
		{"FailuresBeforeWarning", c.FailuresBeforeWarning},
		{"FailuresBeforeCritical", c.FailuresBeforeCritical},
	} {
		if t.n < 0 || t.n > 1<<16 {
			return nil, fmt.Errorf("%s must be between 0 and %d, got %d", t.name, 1<<16, t.n)
		}
	}
	return &agentv1.CheckRegistration{
		CheckId:                id,
		Name:                   c.Name,
		Notes:                  c.Notes,
		ServiceId:              c.ServiceID,
		Status:                 st,
		Definition:             def,
		SuccessBeforePassing:   int32(c.SuccessBeforePassing),
		FailuresBeforeWarning:  int32(c.FailuresBeforeWarning),
		FailuresBeforeCritical: int32(c.FailuresBeforeCritical),
	}, nil
}

// UpdateStatus reads the Status of a check update.
func (u *AgentCheckUpdate) UpdateStatus() (catalogv1.HealthStatus, error) {
	st, err := StatusFromString(u.Status)
	if err != nil || st == catalogv1.HealthStatus_HEALTH_STATUS_UNSPECIFIED {
		return 0, fmt.Errorf("Invalid check status: '%s'", u.Status)
	}
	return st, nil
}
