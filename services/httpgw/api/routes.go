package api

import (
	"net/http"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
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
// Consul's 400, rather than the ServeMux's 404. /v1/agent/* is served from
// the node agent's gRPC API, but for the CA's roots, which come from the
// catalog as they do from Consul's agent cache.
func (s *Server) routes() []route {
	const (
		GET    = http.MethodGet
		PUT    = http.MethodPut
		DELETE = http.MethodDelete
		POST   = http.MethodPost
	)
	noSidecarPort := codeOverrides{codes.ResourceExhausted: http.StatusInternalServerError}
	noLeaf := codeOverrides{codes.Unavailable: http.StatusInternalServerError}
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
		{GET, "/v1/agent/metrics", s.agentMetrics, nil},
		{GET, "/v1/agent/members", s.needAgent(s.agentMembers), nil},
		{PUT, "/v1/agent/reload", s.needAgent(s.agentReload), nil},
		{PUT, "/v1/agent/leave", s.needAgent(s.agentLeave), nil},
		{GET, "/v1/agent/monitor", s.needAgent(s.agentMonitor), nil},
		{PUT, "/v1/agent/force-leave/{name...}", s.agentForceLeave, nil},
		{PUT, "/v1/agent/maintenance", s.needAgent(s.agentNodeMaintenance), nil},
		{GET, "/v1/agent/services", s.needAgent(s.agentServices), nil},
		{GET, "/v1/agent/service/{id...}", s.needAgent(s.agentService), nil},
		// Out of sidecar ports: a plain error, so a 500, in Consul.
		{PUT, "/v1/agent/service/register", s.needAgent(s.agentServiceRegister), noSidecarPort},
		{PUT, "/v1/agent/service/deregister/{id...}", s.needAgent(s.agentServiceDeregister), nil},
		{PUT, "/v1/agent/service/maintenance/{id...}", s.needAgent(s.agentServiceMaintenance), nil},
		{GET, "/v1/agent/health/service/id/{id...}", s.needAgent(s.agentHealthByID), nil},
		{GET, "/v1/agent/health/service/name/{name...}", s.needAgent(s.agentHealthByName), nil},
		{GET, "/v1/agent/checks", s.needAgent(s.agentChecks), nil},
		{PUT, "/v1/agent/check/register", s.needAgent(s.agentCheckRegister), nil},
		{PUT, "/v1/agent/check/deregister/{id...}", s.needAgent(s.agentCheckDeregister), nil},
		{PUT, "/v1/agent/check/pass/{id...}", s.needAgent(s.agentCheckTTL(catalogv1.HealthStatus_HEALTH_STATUS_PASSING)), nil},
		{PUT, "/v1/agent/check/warn/{id...}", s.needAgent(s.agentCheckTTL(catalogv1.HealthStatus_HEALTH_STATUS_WARNING)), nil},
		{PUT, "/v1/agent/check/fail/{id...}", s.needAgent(s.agentCheckTTL(catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL)), nil},
		{PUT, "/v1/agent/check/update/{id...}", s.needAgent(s.agentCheckUpdate), nil},
		{GET, "/v1/agent/connect/ca/roots", s.caRoots(false), nil},
		// No leaf yet (the CA cannot sign): a 500, as Consul's agent answers.
		{GET, "/v1/agent/connect/ca/leaf/{name...}", s.needAgent(s.agentConnectLeaf), noLeaf},
		{POST, "/v1/agent/connect/authorize", s.needAgent(s.agentConnectAuthorize), nil},

		{GET, "/v1/connect/ca/roots", s.caRoots(true), nil},
		{GET, "/v1/connect/ca/configuration", s.caGetConfig, nil},
		{PUT, "/v1/connect/ca/configuration", s.caSetConfig, nil},
		{GET, "/v1/connect/intentions", s.intentionList, nil},
		{POST, "/v1/connect/intentions", s.intentionCreate, nil},
		{GET, "/v1/connect/intentions/exact", s.intentionGetExact, nil},
		{PUT, "/v1/connect/intentions/exact", s.intentionPutExact, nil},
		{DELETE, "/v1/connect/intentions/exact", s.intentionDeleteExact, nil},
		{GET, "/v1/connect/intentions/check", s.intentionCheck, nil},
		{GET, "/v1/connect/intentions/match", s.intentionMatch, nil},
		{GET, "/v1/connect/intentions/{id...}", s.intentionGetID, nil},
		{PUT, "/v1/connect/intentions/{id...}", s.intentionUpdateID, nil},
		{DELETE, "/v1/connect/intentions/{id...}", s.intentionDeleteID, nil},
	}
}
