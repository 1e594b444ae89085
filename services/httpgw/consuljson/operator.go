package consuljson

import (
	operatorv1 "github.com/beaconmesh/beacon/proto/beacon/operator/v1"
)

// RaftConfiguration is /v1/operator/raft/configuration.
type RaftConfiguration struct {
	Servers []RaftServer
	Index   uint64
}

// RaftServer is one server of the Raft configuration.
type RaftServer struct {
	ID              string
	Node            string
	Address         string
	Leader          bool
	ProtocolVersion string
	Voter           bool
}

// RaftConfigurationFromProto converts the Raft configuration.
func RaftConfigurationFromProto(r *operatorv1.RaftConfigurationResponse) RaftConfiguration {
	out := RaftConfiguration{Servers: make([]RaftServer, 0, len(r.GetServers())), Index: r.GetIndex()}
	for _, s := range r.GetServers() {
		out.Servers = append(out.Servers, RaftServer{
			ID:              s.GetId(),
			Node:            s.GetNode(),
			Address:         s.GetAddress(),
			Leader:          s.GetLeader(),
			ProtocolVersion: s.GetProtocolVersion(),
			Voter:           s.GetVoter(),
		})
	}
	return out
}

// AgentSelf is /v1/agent/self, filled with what an HTTP gateway knows.
type AgentSelf struct {
	Config      AgentConfig
	DebugConfig map[string]any
	Member      AgentMember
	Meta        map[string]string
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

// AgentMember is the Member block of /v1/agent/self. Status 1 is serf's
// "alive".
type AgentMember struct {
	Name   string
	Addr   string
	Port   int
	Tags   map[string]string
	Status int
}
