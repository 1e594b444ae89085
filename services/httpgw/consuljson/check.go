package consuljson

import (
	"fmt"
	"slices"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
)

// Consul's check states.
const (
	StatusPassing  = "passing"
	StatusWarning  = "warning"
	StatusCritical = "critical"
)

// HealthCheck is Consul's HealthCheck.
type HealthCheck struct {
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
	ExposedPort int                   `bexpr:"-"`
	Definition  HealthCheckDefinition `bexpr:"-"`
	CreateIndex uint64                `bexpr:"-"`
	ModifyIndex uint64                `bexpr:"-"`
}

// HealthCheckDefinition says how an agent runs a check. Consul omits every
// empty field, so a check registered without one renders as {}.
type HealthCheckDefinition struct {
	HTTP                           string              `json:",omitempty"`
	Header                         map[string][]string `json:",omitempty"`
	Method                         string              `json:",omitempty"`
	Body                           string              `json:",omitempty"`
	TLSServerName                  string              `json:",omitempty"`
	TLSSkipVerify                  bool                `json:",omitempty"`
	TCP                            string              `json:",omitempty"`
	TCPUseTLS                      bool                `json:",omitempty"`
	GRPC                           string              `json:",omitempty"`
	GRPCUseTLS                     bool                `json:",omitempty"`
	ScriptArgs                     []string            `json:",omitempty"`
	AliasNode                      string              `json:",omitempty"`
	AliasService                   string              `json:",omitempty"`
	TTL                            Duration            `json:",omitempty"`
	Interval                       Duration            `json:",omitempty"`
	Timeout                        Duration            `json:",omitempty"`
	DeregisterCriticalServiceAfter Duration            `json:",omitempty"`
}

// StatusString is Consul's name for a check state. An unset state is
// critical, as new checks start critical.
func StatusString(s catalogv1.HealthStatus) string {
	switch s {
	case catalogv1.HealthStatus_HEALTH_STATUS_PASSING:
		return StatusPassing
	case catalogv1.HealthStatus_HEALTH_STATUS_WARNING:
		return StatusWarning
	}
	return StatusCritical
}

// StatusFromString reads a check state; "" is unset (the catalog makes it
// critical). Any other name is an error.
func StatusFromString(s string) (catalogv1.HealthStatus, error) {
	switch s {
	case "":
		return catalogv1.HealthStatus_HEALTH_STATUS_UNSPECIFIED, nil
	case StatusPassing:
		return catalogv1.HealthStatus_HEALTH_STATUS_PASSING, nil
	case StatusWarning:
		return catalogv1.HealthStatus_HEALTH_STATUS_WARNING, nil
	case StatusCritical:
		return catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL, nil
	}
	return 0, fmt.Errorf("invalid check status %q: want passing, warning or critical", s)
}

// HealthCheckFromProto converts a check.
func HealthCheckFromProto(c *catalogv1.HealthCheck) HealthCheck {
	def := definitionFromProto(c.GetDefinition())
	typ := c.GetType()
	if typ == "" {
		typ = checkType(c.GetDefinition())
	}
	return HealthCheck{
		Node:        c.GetNode(),
		CheckID:     c.GetCheckId(),
		Name:        c.GetName(),
		Status:      StatusString(c.GetStatus()),
		Notes:       c.GetNotes(),
		Output:      c.GetOutput(),
		ServiceID:   c.GetServiceId(),
		ServiceName: c.GetServiceName(),
		ServiceTags: stringList(c.GetServiceTags()),
		Type:        typ,
		Definition:  def,
		CreateIndex: c.GetCreateIndex(),
		ModifyIndex: c.GetModifyIndex(),
	}
}

// HealthChecksFromProto converts a list of checks; never nil.
func HealthChecksFromProto(cs []*catalogv1.HealthCheck) []HealthCheck {
	out := make([]HealthCheck, 0, len(cs))
	for _, c := range cs {
		out = append(out, HealthCheckFromProto(c))
	}
	return out
}

func checkType(d *catalogv1.CheckDefinition) string {
	switch d.GetKind().(type) {
	case *catalogv1.CheckDefinition_Http:
		return "http"
	case *catalogv1.CheckDefinition_Tcp:
		return "tcp"
	case *catalogv1.CheckDefinition_Grpc:
		return "grpc"
	case *catalogv1.CheckDefinition_Ttl:
		return "ttl"
	case *catalogv1.CheckDefinition_Script:
		return "script"
	case *catalogv1.CheckDefinition_Alias:
		return "alias"
	}
	return ""
}

func definitionFromProto(d *catalogv1.CheckDefinition) HealthCheckDefinition {
	if d == nil {
		return HealthCheckDefinition{}
	}
	out := HealthCheckDefinition{
		Interval:                       durationFromProto(d.GetInterval()),
		Timeout:                        durationFromProto(d.GetTimeout()),
		DeregisterCriticalServiceAfter: durationFromProto(d.GetDeregisterCriticalServiceAfter()),
	}
	switch k := d.GetKind().(type) {
	case *catalogv1.CheckDefinition_Http:
		out.HTTP = k.Http.GetUrl()
		out.Method = k.Http.GetMethod()
		out.Body = k.Http.GetBody()
		out.TLSSkipVerify = k.Http.GetTlsSkipVerify()
		out.TLSServerName = k.Http.GetTlsServerName()
		if h := k.Http.GetHeader(); len(h) > 0 {
			out.Header = make(map[string][]string, len(h))
			for name, vals := range h {
				out.Header[name] = slices.Clone(vals.GetValues())
			}
		}
	case *catalogv1.CheckDefinition_Tcp:
		out.TCP = k.Tcp.GetAddress()
		out.TCPUseTLS = k.Tcp.GetUseTls()
	case *catalogv1.CheckDefinition_Grpc:
		out.GRPC = k.Grpc.GetTarget()
		out.GRPCUseTLS = k.Grpc.GetUseTls()
	case *catalogv1.CheckDefinition_Ttl:
		out.TTL = durationFromProto(k.Ttl.GetTtl())
	case *catalogv1.CheckDefinition_Script:
		out.ScriptArgs = slices.Clone(k.Script.GetArgs())
	case *catalogv1.CheckDefinition_Alias:
		out.AliasNode = k.Alias.GetNode()
		out.AliasService = k.Alias.GetServiceId()
	}
	return out
}

// proto converts a definition given on registration. Only one kind can be
// carried; the first one set wins, in the order Consul's agent checks them.
func (d HealthCheckDefinition) proto() *catalogv1.CheckDefinition {
	out := &catalogv1.CheckDefinition{
		Interval:                       d.Interval.proto(),
		Timeout:                        d.Timeout.proto(),
		DeregisterCriticalServiceAfter: d.DeregisterCriticalServiceAfter.proto(),
	}
	switch {
	case d.HTTP != "":
		h := &catalogv1.HTTPCheck{
			Url: d.HTTP, Method: d.Method, Body: d.Body,
			TlsSkipVerify: d.TLSSkipVerify, TlsServerName: d.TLSServerName,
		}
		if len(d.Header) > 0 {
			h.Header = make(map[string]*catalogv1.HeaderValues, len(d.Header))
			for name, vals := range d.Header {
				h.Header[name] = &catalogv1.HeaderValues{Values: slices.Clone(vals)}
			}
		}
		out.Kind = &catalogv1.CheckDefinition_Http{Http: h}
	case d.TCP != "":
		out.Kind = &catalogv1.CheckDefinition_Tcp{Tcp: &catalogv1.TCPCheck{Address: d.TCP, UseTls: d.TCPUseTLS}}
	case d.GRPC != "":
		out.Kind = &catalogv1.CheckDefinition_Grpc{Grpc: &catalogv1.GRPCCheck{Target: d.GRPC, UseTls: d.GRPCUseTLS}}
	case len(d.ScriptArgs) > 0:
		out.Kind = &catalogv1.CheckDefinition_Script{Script: &catalogv1.ScriptCheck{Args: slices.Clone(d.ScriptArgs)}}
	case d.AliasNode != "" || d.AliasService != "":
		out.Kind = &catalogv1.CheckDefinition_Alias{Alias: &catalogv1.AliasCheck{Node: d.AliasNode, ServiceId: d.AliasService}}
	case d.TTL != 0:
		out.Kind = &catalogv1.CheckDefinition_Ttl{Ttl: &catalogv1.TTLCheck{Ttl: d.TTL.proto()}}
	}
	if out.Kind == nil && out.Interval == nil && out.Timeout == nil && out.DeregisterCriticalServiceAfter == nil {
		return nil
	}
	return out
}
