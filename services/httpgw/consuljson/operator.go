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
