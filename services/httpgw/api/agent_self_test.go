package api_test

import (
	"context"
	"encoding/json"
	"testing"

	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/httpgw/api"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
)

// selfAgent answers Self; any other call panics through the nil embedded
// interface.
type selfAgent struct {
	api.AgentClient
	self *agentv1.SelfResponse
}

func (a *selfAgent) Self(context.Context, *agentv1.SelfRequest, ...grpc.CallOption) (*agentv1.SelfResponse, error) {
	return a.self, nil
}

// wantCoord is Consul's initial coordinate (serf's defaults: 8 zero
// dimensions, error 1.5, height 1e-5).
var wantCoord = map[string]any{
	"Vec":   []any{0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
	"Error": 1.5, "Adjustment": 0.0, "Height": 1e-5,
}

// TestAgentSelfFromAServerAgent: the agent's view passes through whole —
// Server, its node ID, its member entry (the server's, as /agent/members
// shows it) and meta — with the neutral coordinate Consul starts with.
func TestAgentSelfFromAServerAgent(t *testing.T) {
	const id = "6f1c2b1e-6a3d-4c39-9d43-0c2f5b8e7a10"
	agent := &selfAgent{self: &agentv1.SelfResponse{
		Config: &agentv1.AgentConfig{Datacenter: "dc1", NodeName: "dev", NodeId: id, Server: true},
		Member: &catalogv1.Member{Name: "dev", Address: "127.0.0.1", Port: 8300, Status: catalogv1.MemberStatus_MEMBER_STATUS_ALIVE,
			Tags: map[string]string{"role": "consul", "id": id, "dc": "dc1"}},
		Meta: map[string]string{"consul-network-segment": ""},
	}}
	e := newAgentEnv(t, agent)
	self, err := newConsulClient(t, e).Agent().Self()
	if err != nil {
		t.Fatal(err)
	}
	if self["Config"]["Server"] != true || self["Config"]["NodeID"] != id {
		t.Errorf("Config = %v", self["Config"])
	}
	if m := self["Member"]; m["Port"] != float64(8300) || m["Tags"].(map[string]any)["role"] != "consul" ||
		m["Tags"].(map[string]any)["id"] != id || m["Status"] != float64(1) {
		t.Errorf("Member = %v", m)
	}
	if diff := cmp.Diff(map[string]any{"consul-network-segment": ""}, self["Meta"]); diff != "" {
		t.Errorf("Meta (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantCoord, self["Coord"]); diff != "" {
		t.Errorf("Coord (-want +got):\n%s", diff)
	}
}

// TestAgentSelfWithoutAgentHasCoord: the gateway's own answer carries the
// coordinate and segment meta too.
func TestAgentSelfWithoutAgentHasCoord(t *testing.T) {
	e := newEnv(t)
	var self map[string]any
	if err := json.Unmarshal(e.get("/v1/agent/self").body, &self); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantCoord, self["Coord"]); diff != "" {
		t.Errorf("Coord (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"consul-network-segment": ""}, self["Meta"]); diff != "" {
		t.Errorf("Meta (-want +got):\n%s", diff)
	}
}
