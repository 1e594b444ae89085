package api

import (
	"errors"
	"fmt"
	"net/http"

	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	"github.com/beaconmesh/beacon/services/httpgw/consuljson"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// sessionCreate is PUT /v1/session/create. An empty body creates a session
// with Consul's defaults on the gateway's node.
func (s *Server) sessionCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	body, err := readBody(r, maxJSONBody)
	if err != nil {
		return nil, err
	}
	var req consuljson.SessionCreateRequest
	if len(body) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			return nil, err
		}
	}
	in, err := req.Proto(s.node)
	if ttlErr := (*consuljson.InvalidTTLError)(nil); errors.As(err, &ttlErr) {
		return nil, serverFault(ttlErr.Error()) // as Consul answers it
	}
	if err != nil {
		return nil, badRequest(err.Error())
	}
	ctx, cancel := callContext(r, nil)
	defer cancel()
	resp, err := s.b.Session.CreateSession(ctx, in)
	if err != nil {
		return nil, err
	}
	return consuljson.SessionCreateResponse{ID: resp.GetId()}, nil
}

// sessionDestroy is PUT /v1/session/destroy/:id; destroying a session that
// is gone succeeds.
func (s *Server) sessionDestroy(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("name")
	if id == "" {
		return nil, badRequest("Missing session")
	}
	ctx, cancel := callContext(r, nil)
	defer cancel()
	if _, err := s.b.Session.DestroySession(ctx, &kvv1.DestroySessionRequest{Id: id}); err != nil && status.Code(err) != codes.NotFound {
		return nil, err
	}
	return true, nil
}

// sessionRenew is PUT /v1/session/renew/:id: the renewed session in a
// list, or 404 when it is gone (clients then create a new one).
func (s *Server) sessionRenew(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("name")
	if id == "" {
		return nil, badRequest("Missing session")
	}
	ctx, cancel := callContext(r, nil)
	defer cancel()
	resp, err := s.b.Session.RenewSession(ctx, &kvv1.RenewSessionRequest{Id: id})
	if status.Code(err) == codes.NotFound || (err == nil && resp.GetSession() == nil) {
		return nil, &httpError{status: http.StatusNotFound, msg: fmt.Sprintf("Session id '%s' not found", id)}
	}
	if err != nil {
		return nil, err
	}
	return []consuljson.Session{consuljson.SessionFromProto(resp.GetSession())}, nil
}

// sessionInfo is GET /v1/session/info/:id: a list of one session, or []
// when it does not exist.
func (s *Server) sessionInfo(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("name")
	if id == "" {
		return nil, badRequest("Missing session")
	}
	q := r.URL.Query()
	opts, mode, err := readOptions(q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	resp, err := s.b.Session.GetSession(ctx, &kvv1.GetSessionRequest{Options: opts, Id: id})
	if err != nil {
		return nil, err
	}
	setReadMeta(w, resp.GetMeta(), mode)
	if resp.GetSession() == nil {
		return []consuljson.Session{}, nil
	}
	return []consuljson.Session{consuljson.SessionFromProto(resp.GetSession())}, nil
}

// sessionNode is GET /v1/session/node/:node.
func (s *Server) sessionNode(w http.ResponseWriter, r *http.Request) (any, error) {
	node := r.PathValue("name")
	if node == "" {
		return nil, badRequest("Missing node name")
	}
	q := r.URL.Query()
	opts, mode, err := readOptions(q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	resp, err := s.b.Session.NodeSessions(ctx, &kvv1.NodeSessionsRequest{Options: opts, Node: node})
	if err != nil {
		return nil, err
	}
	setReadMeta(w, resp.GetMeta(), mode)
	return consuljson.SessionsFromProto(resp.GetSessions()), nil
}

// sessionList is GET /v1/session/list.
func (s *Server) sessionList(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	opts, mode, err := readOptions(q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	resp, err := s.b.Session.ListSessions(ctx, &kvv1.ListSessionsRequest{Options: opts})
	if err != nil {
		return nil, err
	}
	setReadMeta(w, resp.GetMeta(), mode)
	return consuljson.SessionsFromProto(resp.GetSessions()), nil
}
