package api

import (
	"net/http"

	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/httpgw/consuljson"
)

// agentChecks is GET /v1/agent/checks: the agent's checks by ID.
func (s *Server) agentChecks(w http.ResponseWriter, r *http.Request) (any, error) {
	f, err := parseFilter[consuljson.AgentCheck](r.URL.Query())
	if err != nil {
		return nil, err
	}
	resp, err := callAgent(s, r, AgentClient.ListChecks, &agentv1.ListChecksRequest{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]consuljson.AgentCheck, len(resp.GetChecks()))
	for _, c := range resp.GetChecks() {
		ac := consuljson.AgentCheckFromProto(c, s.node)
		ok, err := f.match(ac)
		if err != nil {
			return nil, err
		}
		if ok {
			out[ac.CheckID] = ac
		}
	}
	return out, nil
}

// agentCheckRegister is PUT /v1/agent/check/register.
func (s *Server) agentCheckRegister(w http.ResponseWriter, r *http.Request) (any, error) {
	body, err := readBody(r, maxJSONBody)
	if err != nil {
		return nil, err
	}
	var def consuljson.AgentCheckDefinition
	if err := decodeConsulKeys(body, &def); err != nil {
		return nil, err
	}
	req, err := def.Proto()
	if err != nil {
		return nil, badRequest(err.Error())
	}
	if _, err := callAgent(s, r, AgentClient.RegisterCheck, req); err != nil {
		return nil, err
	}
	return emptyOK, nil
}

// agentCheckDeregister is PUT /v1/agent/check/deregister/:id. The agent
// takes removing an unknown check as done; Consul answers 404, and so does
// the gateway, after looking.
func (s *Server) agentCheckDeregister(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	list, err := callAgent(s, r, AgentClient.ListChecks, &agentv1.ListChecksRequest{})
	if err != nil {
		return nil, err
	}
	known := false
	for _, c := range list.GetChecks() {
		known = known || c.GetCheckId() == id
	}
	if !known {
		return nil, &httpError{status: http.StatusNotFound,
			msg: `Unknown check ID "` + id + `". Ensure that the check ID is passed, not the check name.`}
	}
	if _, err := callAgent(s, r, AgentClient.DeregisterCheck, &agentv1.DeregisterCheckRequest{CheckId: id}); err != nil {
		return nil, err
	}
	return emptyOK, nil
}

// agentCheckTTL returns the handler of PUT /v1/agent/check/{pass,warn,fail}/:id
// [?note=], which reports a TTL check's status with the note as its output.
func (s *Server) agentCheckTTL(st catalogv1.HealthStatus) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		return s.updateCheck(r, r.PathValue("id"), st, r.URL.Query().Get("note"))
	}
}

// agentCheckUpdate is PUT /v1/agent/check/update/:id with {Status, Output}.
func (s *Server) agentCheckUpdate(w http.ResponseWriter, r *http.Request) (any, error) {
	body, err := readBody(r, maxJSONBody)
	if err != nil {
		return nil, err
	}
	var u consuljson.AgentCheckUpdate
	if err := decodeConsulKeys(body, &u); err != nil {
		return nil, err
	}
	st, err := u.UpdateStatus()
	if err != nil {
		return nil, badRequest(err.Error())
	}
	return s.updateCheck(r, r.PathValue("id"), st, u.Output)
}

// updateCheck sets a TTL check's status and output and restarts its timer.
func (s *Server) updateCheck(r *http.Request, id string, st catalogv1.HealthStatus, output string) (any, error) {
	req := &agentv1.UpdateCheckRequest{CheckId: id, Status: st, Output: output}
	if _, err := callAgent(s, r, AgentClient.UpdateCheck, req); err != nil {
		return nil, err
	}
	return emptyOK, nil
}
