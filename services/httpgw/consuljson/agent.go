package consuljson

import (
	"encoding/json"
	"maps"
	"strings"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
)

// AgentSelf is /v1/agent/self.
type AgentSelf struct {
	Config      AgentConfig
	DebugConfig map[string]any
	Coord       Coordinate
	Member      AgentMember
	Meta        map[string]string
}

// Coordinate is a Vivaldi network coordinate, as serf reports it.
type Coordinate struct {
	Vec        []float64
	Error      float64
	Adjustment float64
	Height     float64
}

// InitialCoordinate is the coordinate a Consul agent starts with, before
// any round-trip has been measured: the origin of serf's 8 dimensions,
// the maximum error (1.5), no adjustment and the minimum height (1e-5).
// Beacon has no gossip and so measures nothing; clients that read Coord
// (distance sorting, `consul rtt`) then see every node at the same place.
func InitialCoordinate() Coordinate {
	return Coordinate{Vec: make([]float64, 8), Error: 1.5, Adjustment: 0, Height: 1e-5}
}

// AgentConfig is the Config block of /v1/agent/self. SessionTTLMin (in
// nanoseconds) is read by patroni when the server refuses a session TTL.
type AgentConfig struct {
	Datacenter    string
	NodeName      string
	NodeID        string
	Server        bool
	Revision      string
	Version       string
	SessionTTLMin int64
}

// Serf's protocol and delegate versions, which Consul reports for every
// member. Beacon has no gossip; these are the numbers a current Consul
// agent shows, so that clients comparing them are satisfied.
const (
	ProtocolMin = 1
	ProtocolMax = 5
	ProtocolCur = 2
	DelegateMin = 2
	DelegateMax = 5
	DelegateCur = 4
)

// AgentMember is one element of /v1/agent/members and the Member block of
// /v1/agent/self. Status is serf's number: 1 alive, 2 leaving, 3 left,
// 4 failed.
type AgentMember struct {
	Name        string
	Addr        string
	Port        int
	Tags        map[string]string
	Status      int
	ProtocolMin int
	ProtocolMax int
	ProtocolCur int
	DelegateMin int
	DelegateMax int
	DelegateCur int
}

// NewAgentMember returns a member with Consul's protocol numbers.
func NewAgentMember(name, addr string, port int, tags map[string]string, status int) AgentMember {
	if tags == nil {
		tags = map[string]string{}
	}
	return AgentMember{
		Name: name, Addr: addr, Port: port, Tags: tags, Status: status,
		ProtocolMin: ProtocolMin, ProtocolMax: ProtocolMax, ProtocolCur: ProtocolCur,
		DelegateMin: DelegateMin, DelegateMax: DelegateMax, DelegateCur: DelegateCur,
	}
}

// AgentMemberFromProto converts a member.
func AgentMemberFromProto(m *catalogv1.Member) AgentMember {
	return NewAgentMember(m.GetName(), m.GetAddress(), int(m.GetPort()), maps.Clone(m.GetTags()), int(m.GetStatus()))
}

// AgentService is a service instance as the agent shows it:
// /v1/agent/services, /v1/agent/service/:id, and the Service of
// /v1/agent/health/service/*. Proxy is rendered only for connect proxies
// and gateways, Connect only for Connect-native services, as Consul does;
// both are values so that ?filter selectors never meet a nil.
type AgentService struct {
	Kind              string `json:",omitempty"`
	ID                string
	Service           string
	Tags              []string
	Meta              map[string]string
	Port              int
	Address           string
	TaggedAddresses   map[string]ServiceAddress `json:",omitempty"`
	Weights           Weights
	EnableTagOverride bool
	ContentHash       string `json:",omitempty" bexpr:"-"`
	Proxy             ConnectProxyConfig
	Connect           ServiceConnect
	Datacenter        string `json:",omitempty" bexpr:"-"`
}

// MarshalJSON leaves out Proxy and Connect where Consul does.
func (s AgentService) MarshalJSON() ([]byte, error) {
	type plain AgentService // without this method
	out := struct {
		plain
		Proxy   *ConnectProxyConfig `json:",omitempty"`
		Connect *ServiceConnect     `json:",omitempty"`
	}{plain: plain(s)}
	if s.Kind != "" {
		out.Proxy = &s.Proxy
	}
	if s.Connect.Native {
		out.Connect = &s.Connect
	}
	return json.Marshal(out)
}

// AgentServiceFromProto converts an instance the agent owns; dc is the
// agent's datacenter.
func AgentServiceFromProto(s *catalogv1.Service, dc string) AgentService {
	ns := NodeServiceFromProto(s)
	if ns.Weights.Passing < 1 {
		ns.Weights.Passing = 1
	}
	return AgentService{
		Kind:              ns.Kind,
		ID:                ns.ID,
		Service:           ns.Service,
		Tags:              ns.Tags,
		Meta:              ns.Meta,
		Port:              ns.Port,
		Address:           ns.Address,
		TaggedAddresses:   ns.TaggedAddresses,
		Weights:           ns.Weights,
		EnableTagOverride: ns.EnableTagOverride,
		Proxy:             ns.Proxy,
		Connect:           ns.Connect,
		Datacenter:        dc,
	}
}

// AgentCheck is one check of /v1/agent/checks: Consul's HealthCheck with
// the Interval and Timeout its UI shows.
type AgentCheck struct {
	Node        string
	CheckID     string
	Name        string
	Status      string
	Notes       string
	Output      string
	ServiceID   string
	ServiceName string
	ServiceTags []string
	Type        string
	Interval    string
	Timeout     string
	ExposedPort int
	Definition  HealthCheckDefinition `bexpr:"-"`
	CreateIndex uint64                `bexpr:"-"`
	ModifyIndex uint64                `bexpr:"-"`
}

// AgentCheckFromProto converts a check the agent owns; node fills in a
// missing node name.
func AgentCheckFromProto(c *catalogv1.HealthCheck, node string) AgentCheck {
	hc := HealthCheckFromProto(c)
	if hc.Node == "" {
		hc.Node = node
	}
	return AgentCheck{
		Node:        hc.Node,
		CheckID:     hc.CheckID,
		Name:        hc.Name,
		Status:      hc.Status,
		Notes:       hc.Notes,
		Output:      hc.Output,
		ServiceID:   hc.ServiceID,
		ServiceName: hc.ServiceName,
		ServiceTags: hc.ServiceTags,
		Type:        hc.Type,
		Interval:    durationText(hc.Definition.Interval),
		Timeout:     durationText(hc.Definition.Timeout),
		Definition:  hc.Definition,
		CreateIndex: hc.CreateIndex,
		ModifyIndex: hc.ModifyIndex,
	}
}

func durationText(d Duration) string {
	if d == 0 {
		return ""
	}
	return time.Duration(d).String()
}

// AgentServiceChecksInfo is the answer of /v1/agent/health/service/*: an
// instance, the checks that bear on it (its own and the node's), and their
// aggregated status.
type AgentServiceChecksInfo struct {
	AggregatedStatus string
	Service          *AgentService
	Checks           []HealthCheck
}

// The IDs of the checks the agent adds for maintenance mode.
const (
	NodeMaintenanceCheckID      = "_node_maintenance"
	ServiceMaintenanceCheckIDPf = "_service_maintenance:"
)

// StatusMaintenance is the aggregated status of checks of which one is a
// maintenance check.
const StatusMaintenance = "maintenance"

// AggregatedStatus is the worst of the checks' states as Consul's client
// computes it: maintenance, then critical, warning, passing; no checks is
// passing.
func AggregatedStatus(checks []HealthCheck) string {
	var warning, critical bool
	for _, c := range checks {
		if c.CheckID == NodeMaintenanceCheckID || strings.HasPrefix(c.CheckID, ServiceMaintenanceCheckIDPf) {
			return StatusMaintenance
		}
		switch c.Status {
		case StatusWarning:
			warning = true
		case StatusCritical:
			critical = true
		}
	}
	switch {
	case critical:
		return StatusCritical
	case warning:
		return StatusWarning
	}
	return StatusPassing
}
