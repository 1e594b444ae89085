package api

import (
	"net/http"
	"strconv"

	agentv1 "github.com/beaconmesh/beacon/proto/beacon/agent/v1"
	"github.com/beaconmesh/beacon/services/httpgw/consuljson"
)

// agentConnectLeaf is GET /v1/agent/connect/ca/leaf/:service: the
// service's leaf certificate and private key from the node agent, which
// made the key and caches the leaf. With ?index it blocks until a newer
// leaf is issued (a renewal or a root rotation) or ?wait passes.
func (s *Server) agentConnectLeaf(w http.ResponseWriter, r *http.Request) (any, error) {
	service := r.PathValue("name")
	if service == "" {
		return nil, badRequest("Missing service name")
	}
	opts, mode, err := readOptions(r.URL.Query())
	if err != nil {
		return nil, err
	}
	// Not callAgent: the call may block for the whole wait.
	ctx, cancel := callContext(r, opts)
	defer cancel()
	resp, err := s.b.Agent.ConnectLeaf(ctx, &agentv1.ConnectLeafRequest{Service: service, Options: opts})
	if err != nil {
		return nil, &agentError{err: err}
	}
	setReadMeta(w, resp.GetMeta(), mode)
	w.Header().Set("X-Consul-Index", strconv.FormatUint(max(resp.GetModifyIndex(), 1), 10))
	return consuljson.LeafCertFromProto(resp), nil
}

// agentConnectAuthorize is POST /v1/agent/connect/authorize.
func (s *Server) agentConnectAuthorize(w http.ResponseWriter, r *http.Request) (any, error) {
	body, err := readBody(r, maxJSONBody)
	if err != nil {
		return nil, err
	}
	var in consuljson.AuthorizeRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	if in.Target == "" {
		return nil, badRequest("Target service must be specified")
	}
	if in.ClientCertURI == "" {
		return nil, badRequest("ClientCertURI not a valid Connect identifier")
	}
	resp, err := callAgent(s, r, AgentClient.ConnectAuthorize, &agentv1.ConnectAuthorizeRequest{
		Target: in.Target, ClientCertUri: in.ClientCertURI, ClientCertSerial: in.ClientCertSerial,
	})
	if err != nil {
		return nil, err
	}
	return consuljson.AuthorizeResponse{Authorized: resp.GetAuthorized(), Reason: resp.GetReason()}, nil
}
