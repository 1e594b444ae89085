package api

import (
	"net/http"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/httpgw/consuljson"
)

// checksAnswer is what the three check-listing reads return.
type checksAnswer interface {
	GetMeta() *queryv1.ReadMeta
	GetChecks() []*catalogv1.HealthCheck
}

// answerChecks writes a check list's read headers and filters it.
func answerChecks(w http.ResponseWriter, resp checksAnswer, mode string, f *filter[consuljson.HealthCheck]) (any, error) {
	setReadMeta(w, resp.GetMeta(), mode)
	return f.apply(consuljson.HealthChecksFromProto(resp.GetChecks()))
}

// healthNode is GET /v1/health/node/:node.
func (s *Server) healthNode(w http.ResponseWriter, r *http.Request) (any, error) {
	name, err := pathName(r, "node")
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	opts, mode, f, err := filteredRead[consuljson.HealthCheck](q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	resp, err := s.b.Health.NodeChecks(ctx, &catalogv1.NodeChecksRequest{Options: opts, Node: name})
	if err != nil {
		return nil, err
	}
	return answerChecks(w, resp, mode, f)
}

// healthChecks is GET /v1/health/checks/:service.
func (s *Server) healthChecks(w http.ResponseWriter, r *http.Request) (any, error) {
	name, err := pathName(r, "service")
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	opts, mode, f, err := filteredRead[consuljson.HealthCheck](q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	resp, err := s.b.Health.ServiceChecks(ctx, &catalogv1.ServiceChecksRequest{Options: opts, Service: name, NodeMeta: nodeMeta(q)})
	if err != nil {
		return nil, err
	}
	return answerChecks(w, resp, mode, f)
}

// checkStates are the names /v1/health/state/:state accepts.
var checkStates = map[string]catalogv1.HealthStatus{
	"any":                     catalogv1.HealthStatus_HEALTH_STATUS_UNSPECIFIED,
	consuljson.StatusPassing:  catalogv1.HealthStatus_HEALTH_STATUS_PASSING,
	consuljson.StatusWarning:  catalogv1.HealthStatus_HEALTH_STATUS_WARNING,
	consuljson.StatusCritical: catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL,
}

// healthState is GET /v1/health/state/:state.
func (s *Server) healthState(w http.ResponseWriter, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if name == "" {
		return nil, badRequest("Missing check state")
	}
	state, ok := checkStates[name]
	if !ok {
		return nil, badRequestf("Invalid check state %q: want any, passing, warning or critical", name)
	}
	q := r.URL.Query()
	opts, mode, f, err := filteredRead[consuljson.HealthCheck](q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	resp, err := s.b.Health.ChecksInState(ctx, &catalogv1.ChecksInStateRequest{Options: opts, State: state, NodeMeta: nodeMeta(q)})
	if err != nil {
		return nil, err
	}
	return answerChecks(w, resp, mode, f)
}

// healthService is GET /v1/health/service/:service, and with connect
// GET /v1/health/connect/:service.
func (s *Server) healthService(connect bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		name, err := pathName(r, "service")
		if err != nil {
			return nil, err
		}
		q := r.URL.Query()
		opts, mode, err := readOptions(q)
		if err != nil {
			return nil, err
		}
		passing, err := boolFlag(q, "passing")
		if err != nil {
			return nil, err
		}
		f, err := parseFilter[consuljson.ServiceEntry](q)
		if err != nil {
			return nil, err
		}
		ctx, cancel := callContext(r, opts)
		defer cancel()
		resp, err := s.b.Health.ServiceHealth(ctx, &catalogv1.ServiceHealthRequest{
			Options:     opts,
			Service:     name,
			Tags:        tags(q),
			NodeMeta:    nodeMeta(q),
			PassingOnly: passing,
			Connect:     connect,
		})
		if err != nil {
			return nil, err
		}
		setReadMeta(w, resp.GetMeta(), mode)
		entries := make([]consuljson.ServiceEntry, 0, len(resp.GetInstances()))
		for _, in := range resp.GetInstances() {
			entries = append(entries, consuljson.ServiceEntryFromProto(in, s.dc))
		}
		return f.apply(entries)
	}
}
