package api

import (
	"context"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/httpgw/consuljson"
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

// agentSelf is GET /v1/agent/self, with what the gateway knows: its
// datacenter and node name, and the node's ID and address when the catalog
// has them. The rest of /v1/agent/* belongs to the node agent.
func (s *Server) agentSelf(w http.ResponseWriter, r *http.Request) (any, error) {
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
		Member: consuljson.AgentMember{
			Name:   s.node,
			Addr:   addr,
			Tags:   map[string]string{"dc": s.dc, "role": "node", "id": nodeID, "build": Version},
			Status: 1,
		},
		Meta: map[string]string{},
	}, nil
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
