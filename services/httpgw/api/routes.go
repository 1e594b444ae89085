package api

import (
	"net/http"

	"google.golang.org/grpc/codes"
)

// route is one row of the route table.
type route struct {
	method  string
	path    string // a Go 1.22 ServeMux pattern, without the method
	handler handlerFunc
	codes   codeOverrides // per-route status of some gRPC codes; usually nil
}

// routes is the whole HTTP surface in one table. Paths that name something
// end in {name...} so that an empty name reaches the handler, which answers
// Consul's 400, rather than the ServeMux's 404. /v1/agent/* beyond self is
// the node agent's and is deliberately not routed here.
func (s *Server) routes() []route {
	const (
		GET    = http.MethodGet
		PUT    = http.MethodPut
		DELETE = http.MethodDelete
	)
	return []route{
		{GET, "/{$}", s.index, nil},
		{GET, "/metrics", s.metricsPage, nil},

		{PUT, "/v1/catalog/register", s.catalogRegister, nil},
		{PUT, "/v1/catalog/deregister", s.catalogDeregister, nil},
		{GET, "/v1/catalog/datacenters", s.catalogDatacenters, nil},
		{GET, "/v1/catalog/nodes", s.catalogNodes, nil},
		{GET, "/v1/catalog/services", s.catalogServices, nil},
		{GET, "/v1/catalog/service/{name...}", s.catalogServiceNodes(false), nil},
		{GET, "/v1/catalog/connect/{name...}", s.catalogServiceNodes(true), nil},
		{GET, "/v1/catalog/node/{name...}", s.catalogNode, nil},
		{GET, "/v1/catalog/node-services/{name...}", s.catalogNodeServices, nil},

		{GET, "/v1/health/node/{name...}", s.healthNode, nil},
		{GET, "/v1/health/checks/{name...}", s.healthChecks, nil},
		{GET, "/v1/health/service/{name...}", s.healthService(false), nil},
		{GET, "/v1/health/connect/{name...}", s.healthService(true), nil},
		{GET, "/v1/health/state/{name...}", s.healthState, nil},

		{GET, "/v1/kv/{key...}", s.kvGet, nil},
		{PUT, "/v1/kv/{key...}", s.kvPut, nil},
		{DELETE, "/v1/kv/{key...}", s.kvDelete, nil},

		{PUT, "/v1/session/create", s.sessionCreate, nil},
		{PUT, "/v1/session/destroy/{name...}", s.sessionDestroy, nil},
		{GET, "/v1/session/info/{name...}", s.sessionInfo, nil},
		{GET, "/v1/session/node/{name...}", s.sessionNode, nil},
		{GET, "/v1/session/list", s.sessionList, nil},
		{PUT, "/v1/session/renew/{name...}", s.sessionRenew, nil},

		// A transaction whose condition fails is rolled back: Consul's 409.
		{PUT, "/v1/txn", s.txn, codeOverrides{codes.FailedPrecondition: http.StatusConflict}},

		{GET, "/v1/status/leader", s.statusLeader, nil},
		{GET, "/v1/status/peers", s.statusPeers, nil},
		{GET, "/v1/operator/raft/configuration", s.raftConfiguration, nil},
		{DELETE, "/v1/operator/raft/peer", s.raftRemovePeer, nil},
		{GET, "/v1/snapshot", s.snapshotSave, nil},
		{PUT, "/v1/snapshot", s.snapshotRestore, nil},

		{GET, "/v1/agent/self", s.agentSelf, nil},
	}
}
