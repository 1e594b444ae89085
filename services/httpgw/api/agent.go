package api

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/beaconmesh/beacon/platform/tagged"
	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/httpgw/consuljson"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Version is the Consul version whose HTTP API the gateway speaks. Clients
// read it from /v1/agent/self to decide which features they may use. It can
// be set at build time with -ldflags "-X ...api.Version=...".
var Version = "1.22.0"

// Revision is the source revision reported in /v1/agent/self; set at build
// time, or read from the binary's build information.
var Revision = ""

// selfLookupTimeout bounds the catalog lookup /v1/agent/self makes for the
// node's ID and address; the answer does not depend on it.
const selfLookupTimeout = 2 * time.Second

// index is GET /: a plain-text answer for load balancers and humans.
func (s *Server) index(w http.ResponseWriter, r *http.Request) (any, error) {
	return rawReply{contentType: "text/plain; charset=utf-8", body: []byte("Consul Agent")}, nil
}

// metricsPage is GET /metrics in Prometheus' text format.
func (s *Server) metricsPage(w http.ResponseWriter, r *http.Request) (any, error) {
	s.prom.ServeHTTP(w, r)
	return handled{}, nil
}

// agentSelf is GET /v1/agent/self: the node agent's own description when
// it answers; otherwise (no agent configured, or it failed) what the
// gateway knows: its datacenter and node name, and the node's ID and
// address when the catalog has them. Version is always the Consul version
// whose API the gateway speaks, since clients gate features on it.
func (s *Server) agentSelf(w http.ResponseWriter, r *http.Request) (any, error) {
	if s.b.Agent != nil {
		ctx, cancel := context.WithTimeout(r.Context(), selfLookupTimeout)
		resp, err := s.b.Agent.Self(ctx, &agentv1.SelfRequest{})
		cancel()
		if err == nil {
			return s.selfFromAgent(r, resp), nil
		}
		s.log.Debug("agent/self: node agent failed; answering from the catalog", "err", err)
	}
	nodeID, addr := s.lookupSelf(r)
	if addr == "" {
		addr = localIP(r)
	}
	return consuljson.AgentSelf{
		Config: consuljson.AgentConfig{
			Datacenter:    s.dc,
			NodeName:      s.node,
			NodeID:        nodeID,
			Revision:      revision(),
			Version:       Version,
			SessionTTLMin: int64(consuljson.SessionTTLMin),
		},
		DebugConfig: map[string]any{},
		Coord:       consuljson.InitialCoordinate(),
		Member: consuljson.NewAgentMember(s.node, addr, 0,
			map[string]string{"dc": s.dc, "role": "node", "id": nodeID, "build": Version}, 1),
		Meta: tagged.NodeMeta(nil),
	}, nil
}

// selfFromAgent is /v1/agent/self from the agent's Self. The member is
// the agent's: in the dev agent, the catalog replica's entry of
// /v1/agent/members.
func (s *Server) selfFromAgent(r *http.Request, resp *agentv1.SelfResponse) consuljson.AgentSelf {
	cfg := resp.GetConfig()
	out := consuljson.AgentSelf{
		Config: consuljson.AgentConfig{
			Datacenter:    cmp.Or(cfg.GetDatacenter(), s.dc),
			NodeName:      cmp.Or(cfg.GetNodeName(), s.node),
			NodeID:        cfg.GetNodeId(),
			Server:        cfg.GetServer(),
			Revision:      cmp.Or(cfg.GetRevision(), revision()),
			Version:       Version,
			SessionTTLMin: int64(consuljson.SessionTTLMin),
		},
		DebugConfig: map[string]any{},
		Coord:       consuljson.InitialCoordinate(),
		Meta:        maps.Clone(resp.GetMeta()),
	}
	if out.Meta == nil {
		out.Meta = map[string]string{}
	}
	if m := resp.GetMember(); m != nil {
		out.Member = consuljson.AgentMemberFromProto(m)
	} else {
		out.Member = consuljson.NewAgentMember(out.Config.NodeName, localIP(r), 0,
			map[string]string{"dc": out.Config.Datacenter, "role": "node", "id": out.Config.NodeID}, 1)
	}
	return out
}

// agentMembers is GET /v1/agent/members. Beacon has no WAN pool, so ?wan
// lists nobody; ?segment (Enterprise) is ignored.
func (s *Server) agentMembers(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	if q.Get("wan") != "" {
		if seg := q.Get("segment"); seg != "" && seg != "_all" {
			return nil, badRequest("Cannot provide a segment with wan=true")
		}
		return []consuljson.AgentMember{}, nil
	}
	resp, err := callAgent(s, r, AgentClient.Members, &agentv1.MembersRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]consuljson.AgentMember, 0, len(resp.GetMembers()))
	for _, m := range resp.GetMembers() {
		out = append(out, consuljson.AgentMemberFromProto(m))
	}
	return out, nil
}

// agentReload is PUT /v1/agent/reload. A refused reload is a 400 carrying
// the agent's reason (the file and line at fault).
func (s *Server) agentReload(w http.ResponseWriter, r *http.Request) (any, error) {
	if _, err := callAgent(s, r, AgentClient.Reload, &agentv1.ReloadRequest{}); err != nil {
		return nil, err
	}
	return emptyOK, nil
}

// agentLeave is PUT /v1/agent/leave: the agent deregisters its services,
// leaves and exits.
func (s *Server) agentLeave(w http.ResponseWriter, r *http.Request) (any, error) {
	if _, err := callAgent(s, r, AgentClient.Leave, &agentv1.LeaveRequest{}); err != nil {
		return nil, err
	}
	return emptyOK, nil
}

// agentForceLeave is PUT /v1/agent/force-leave/:node[?prune]: the member
// is marked left and its node deregistered, or with ?prune forgotten. An
// agent that is in fact alive joins again, as in Consul.
func (s *Server) agentForceLeave(w http.ResponseWriter, r *http.Request) (any, error) {
	node, err := pathName(r, "node")
	if err != nil {
		return nil, err
	}
	if s.b.Members == nil {
		return nil, errNoAgent
	}
	prune, err := boolFlag(r.URL.Query(), "prune")
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, nil)
	defer cancel()
	if _, err := s.b.Members.LeaveMember(ctx, &catalogv1.LeaveMemberRequest{Name: node, Prune: prune}); err != nil {
		if status.Code(err) == codes.NotFound {
			// Consul's words for a name it does not know, as a 404: Consul
			// answers 500, but an unknown name is no server fault.
			return nil, &httpError{status: http.StatusNotFound, msg: fmt.Sprintf("agent: No node found with name '%s'", node)}
		}
		return nil, err
	}
	return emptyOK, nil
}

// agentNodeMaintenance is PUT /v1/agent/maintenance?enable=&reason=.
func (s *Server) agentNodeMaintenance(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.maintenance(r, "")
}

// maintenance puts the node, or the service instance id, in or out of
// maintenance, reading ?enable and ?reason as Consul does.
func (s *Server) maintenance(r *http.Request, id string) (any, error) {
	q := r.URL.Query()
	if _, ok := q["enable"]; !ok {
		return nil, badRequest("Missing value for enable")
	}
	raw := q.Get("enable")
	enable, err := strconv.ParseBool(raw)
	if err != nil {
		return nil, badRequestf("Invalid value for enable: %q", raw)
	}
	req := &agentv1.MaintenanceRequest{ServiceId: id, Enable: enable, Reason: q.Get("reason")}
	if _, err := callAgent(s, r, AgentClient.Maintenance, req); err != nil {
		return nil, err
	}
	return emptyOK, nil
}

// needAgent wraps the handler of a route the node agent serves: without an
// agent, the route answers 503.
func (s *Server) needAgent(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		if s.b.Agent == nil {
			return nil, errNoAgent
		}
		return h(w, r)
	}
}

// emptyOK is the answer of the agent's writes: 200 with no body.
var emptyOK = reply{status: http.StatusOK}

// callAgent makes one node agent call for r, with the request's context
// and token, bounded by rpcTimeout. Its errors are marked as the agent's
// for statusOf; without an agent it answers 503.
func callAgent[Req, Resp any](s *Server, r *http.Request,
	rpc func(AgentClient, context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	var zero Resp
	if s.b.Agent == nil {
		return zero, errNoAgent
	}
	ctx, cancel := context.WithTimeout(r.Context(), rpcTimeout)
	defer cancel()
	resp, err := rpc(s.b.Agent, ctx, req)
	if err != nil {
		return zero, &agentError{err: err}
	}
	return resp, nil
}

// lookupSelf finds the gateway's node in the catalog, from any replica.
// Failing that, it returns nothing: agent/self must answer without a leader.
func (s *Server) lookupSelf(r *http.Request) (id, addr string) {
	ctx, cancel := context.WithTimeout(r.Context(), selfLookupTimeout)
	defer cancel()
	resp, err := s.b.Catalog.NodeServices(ctx, &catalogv1.NodeServicesRequest{
		Options: &queryv1.ReadOptions{Consistency: queryv1.Consistency_CONSISTENCY_STALE},
		Node:    s.node,
	})
	if err != nil {
		s.log.Debug("agent/self: node lookup failed", "node", s.node, "err", err)
		return "", ""
	}
	return resp.GetNode().GetId(), resp.GetNode().GetAddress()
}

// localIP is the address the client reached the gateway on.
func localIP(r *http.Request) string {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if host, _, err := net.SplitHostPort(a.String()); err == nil {
			return host
		}
	}
	return "127.0.0.1"
}

func revision() string {
	if Revision != "" {
		return Revision
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}
