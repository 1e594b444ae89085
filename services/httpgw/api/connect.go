package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/httpgw/consuljson"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// caRoots is GET /v1/connect/ca/roots (and /v1/agent/connect/ca/roots,
// which Consul's agent answers from its cache of the same): the trusted
// roots, blocking on ?index until a rotation. When pemAllowed (the catalog
// route only, as in Consul), ?pem=true answers the certificates themselves
// as one PEM chain instead of JSON.
func (s *Server) caRoots(pemAllowed bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		q := r.URL.Query()
		asPEM := false
		if v := q.Get("pem"); pemAllowed && v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, badRequestf("Invalid query parameter: \"pem\" - %q is not a boolean", v)
			}
			asPEM = b
		}
		opts, mode, err := readOptions(q)
		if err != nil {
			return nil, err
		}
		ctx, cancel := callContext(r, opts)
		defer cancel()
		resp, err := s.b.CA.Roots(ctx, &connectv1.RootsRequest{Options: opts})
		if err != nil {
			return nil, err
		}
		setReadMeta(w, resp.GetMeta(), mode)
		if asPEM {
			return rawReply{contentType: pemChainType, body: rootsPEM(resp.GetRoots())}, nil
		}
		return consuljson.CARootListFromProto(resp), nil
	}
}

// pemChainType is the media type of a PEM certificate chain (RFC 8555,
// section 9.1), which Consul answers ?pem=true with.
const pemChainType = "application/pem-certificate-chain"

// rootsPEM concatenates every root certificate and its intermediates, in
// the catalog's order (the active root first). Each ends with a newline:
// a root given through the CA configuration is stored trimmed, and two
// certificates on one line would not parse.
func rootsPEM(roots []*connectv1.CARoot) []byte {
	var b bytes.Buffer
	add := func(cert string) {
		if cert = strings.TrimSpace(cert); cert != "" {
			b.WriteString(cert)
			b.WriteByte('\n')
		}
	}
	for _, root := range roots {
		add(root.GetRootCert())
		for _, c := range root.GetIntermediateCerts() {
			add(c)
		}
	}
	return b.Bytes()
}

// caGetConfig is GET /v1/connect/ca/configuration; the private key is
// never returned.
func (s *Server) caGetConfig(w http.ResponseWriter, r *http.Request) (any, error) {
	opts, mode, err := readOptions(r.URL.Query())
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	resp, err := s.b.CA.GetConfig(ctx, &connectv1.GetConfigRequest{Options: opts})
	if err != nil {
		return nil, err
	}
	setReadMeta(w, resp.GetMeta(), mode)
	if resp.GetConfig() == nil {
		return nil, &httpError{status: http.StatusInternalServerError, msg: "the Connect CA is not initialized yet"}
	}
	return consuljson.CAConfigFromProto(resp.GetConfig()), nil
}

// caSetConfig is PUT /v1/connect/ca/configuration. A new PrivateKey and
// RootCert rotate the root; the old one stays trusted.
func (s *Server) caSetConfig(w http.ResponseWriter, r *http.Request) (any, error) {
	body, err := readBody(r, maxJSONBody)
	if err != nil {
		return nil, err
	}
	var in consuljson.CAConfig
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	req, err := in.Proto()
	if err != nil {
		return nil, badRequest("Request decode failed: " + err.Error())
	}
	ctx, cancel := callContext(r, nil)
	defer cancel()
	if _, err := s.b.CA.SetConfig(ctx, req); err != nil {
		return nil, err
	}
	return emptyOK, nil
}

// intentionList is GET /v1/connect/intentions [?filter].
func (s *Server) intentionList(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	opts, mode, f, err := filteredRead[consuljson.Intention](q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	resp, err := s.b.Intentions.ListIntentions(ctx, &connectv1.ListIntentionsRequest{Options: opts})
	if err != nil {
		return nil, err
	}
	setReadMeta(w, resp.GetMeta(), mode)
	return f.apply(consuljson.IntentionsFromProto(resp.GetIntentions()))
}

// intentionCreate is the legacy POST /v1/connect/intentions: it creates
// the intention named by the body's SourceName and DestinationName and
// answers its ID; one for the same pair already existing is a 409.
func (s *Server) intentionCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	in, err := decodeIntention(r, "", "")
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, nil)
	defer cancel()
	_, err = s.b.Intentions.GetIntention(ctx, &connectv1.GetIntentionRequest{SourceName: in.GetSourceName(), DestinationName: in.GetDestinationName()})
	switch status.Code(err) {
	case codes.OK:
		return nil, &httpError{status: http.StatusConflict,
			msg: "duplicate intention found: " + in.GetSourceName() + " => " + in.GetDestinationName()}
	case codes.NotFound:
	default:
		return nil, err
	}
	if _, err := s.b.Intentions.UpsertIntention(ctx, &connectv1.UpsertIntentionRequest{Intention: in}); err != nil {
		return nil, err
	}
	// The catalog assigns the ID; read it back from the leader.
	got, err := s.b.Intentions.GetIntention(ctx, &connectv1.GetIntentionRequest{SourceName: in.GetSourceName(), DestinationName: in.GetDestinationName()})
	if err != nil {
		return nil, err
	}
	return struct{ ID string }{got.GetIntention().GetId()}, nil
}

// decodeIntention reads an intention write's body; source and destination,
// when given, come from the query string and take precedence over the body.
func decodeIntention(r *http.Request, source, destination string) (*connectv1.Intention, error) {
	body, err := readBody(r, maxJSONBody)
	if err != nil {
		return nil, err
	}
	var w consuljson.IntentionWrite
	if err := decodeJSON(body, &w); err != nil {
		return nil, err
	}
	if source == "" {
		source = w.SourceName
	}
	if destination == "" {
		destination = w.DestinationName
	}
	in, err := w.Proto(source, destination)
	if err != nil {
		return nil, badRequest("Request decode failed: " + err.Error())
	}
	return in, nil
}

// exactPair reads the required ?source= and ?destination= of the exact
// and check forms, with Consul's messages. A name may carry the default
// namespace and partition ("default/web", "default/default/web"), as
// consul/api writes them for an intention read back from the server.
func exactPair(q url.Values) (source, destination string, err error) {
	var names [2]string
	for i, field := range []string{"source", "destination"} {
		v := q.Get(field)
		if v == "" {
			return "", "", badRequestf("required query parameter '%s' not set", field)
		}
		parts := strings.Split(v, "/")
		if len(parts) > 3 {
			return "", "", badRequestf("Invalid query parameter: %q - %q: want [[partition/]namespace/]name", field, v)
		}
		for _, p := range parts[:len(parts)-1] {
			if p != "default" {
				return "", "", badRequestf("Invalid query parameter: %q - %q: namespaces and partitions are a Consul Enterprise feature", field, v)
			}
		}
		names[i] = parts[len(parts)-1]
	}
	return names[0], names[1], nil
}

// intentionGetExact is GET /v1/connect/intentions/exact?source=&destination=.
func (s *Server) intentionGetExact(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	src, dst, err := exactPair(q)
	if err != nil {
		return nil, err
	}
	opts, mode, err := readOptions(q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	resp, err := s.b.Intentions.GetIntention(ctx, &connectv1.GetIntentionRequest{Options: opts, SourceName: src, DestinationName: dst})
	if status.Code(err) == codes.NotFound {
		return nil, &httpError{status: http.StatusNotFound, msg: "Intention not found"}
	}
	if err != nil {
		return nil, err
	}
	setReadMeta(w, resp.GetMeta(), mode)
	return consuljson.IntentionFromProto(resp.GetIntention()), nil
}

// intentionPutExact is PUT /v1/connect/intentions/exact?source=&destination=:
// create or replace the pair's intention; answers true.
func (s *Server) intentionPutExact(w http.ResponseWriter, r *http.Request) (any, error) {
	src, dst, err := exactPair(r.URL.Query())
	if err != nil {
		return nil, err
	}
	in, err := decodeIntention(r, src, dst)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, nil)
	defer cancel()
	if _, err := s.b.Intentions.UpsertIntention(ctx, &connectv1.UpsertIntentionRequest{Intention: in}); err != nil {
		return nil, err
	}
	return true, nil
}

// intentionDeleteExact is DELETE /v1/connect/intentions/exact?source=&destination=;
// deleting an intention that does not exist succeeds, as in Consul.
func (s *Server) intentionDeleteExact(w http.ResponseWriter, r *http.Request) (any, error) {
	src, dst, err := exactPair(r.URL.Query())
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, nil)
	defer cancel()
	if _, err := s.b.Intentions.DeleteIntention(ctx, &connectv1.DeleteIntentionRequest{SourceName: src, DestinationName: dst}); err != nil && status.Code(err) != codes.NotFound {
		return nil, err
	}
	return true, nil
}

// intentionCheck is GET /v1/connect/intentions/check?source=&destination=.
func (s *Server) intentionCheck(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	src, dst, err := exactPair(q)
	if err != nil {
		return nil, err
	}
	if t := q.Get("source-type"); t != "" && t != "consul" {
		return nil, badRequestf("Invalid query parameter: \"source-type\" - %q is not supported: only \"consul\"", t)
	}
	opts, mode, err := readOptions(q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	resp, err := s.b.Intentions.CheckIntention(ctx, &connectv1.CheckIntentionRequest{Options: opts, SourceName: src, DestinationName: dst})
	if err != nil {
		return nil, err
	}
	setReadMeta(w, resp.GetMeta(), mode)
	return struct{ Allowed bool }{resp.GetAllowed()}, nil
}

// intentionMatch is GET /v1/connect/intentions/match?by=source|destination&name=
// (repeatable): for each name, the intentions that apply, most precedent first.
func (s *Server) intentionMatch(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	var by connectv1.MatchBy
	switch q.Get("by") {
	case "":
		return nil, badRequest("required query parameter 'by' not set")
	case "source":
		by = connectv1.MatchBy_MATCH_BY_SOURCE
	case "destination":
		by = connectv1.MatchBy_MATCH_BY_DESTINATION
	default:
		return nil, badRequest("'by' parameter must be one of 'source' or 'destination'")
	}
	var names []string
	for _, n := range q["name"] {
		if n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, badRequest("required query parameter 'name' not set")
	}
	opts, mode, err := readOptions(q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	resp, err := s.b.Intentions.MatchIntentions(ctx, &connectv1.MatchIntentionsRequest{Options: opts, By: by, Names: names})
	if err != nil {
		return nil, err
	}
	setReadMeta(w, resp.GetMeta(), mode)
	out := make(map[string][]consuljson.Intention, len(names))
	for _, n := range names {
		out[n] = consuljson.IntentionsFromProto(resp.GetMatches()[n].GetIntentions())
	}
	return out, nil
}

// intentionByID finds the intention named by the request's {id}; an
// unknown one is Consul's 404.
func (s *Server) intentionByID(r *http.Request) (*connectv1.Intention, error) {
	id := r.PathValue("id")
	if id == "" {
		return nil, badRequest("Missing intention ID")
	}
	opts, _, err := readOptions(r.URL.Query())
	if err != nil {
		return nil, err
	}
	opts.MinIndex, opts.MaxWait = 0, nil
	ctx, cancel := callContext(r, opts)
	defer cancel()
	in, err := s.findIntention(ctx, opts, id)
	if err != nil {
		return nil, err
	}
	if in == nil {
		return nil, &httpError{status: http.StatusNotFound, msg: "Intention not found"}
	}
	return in, nil
}

// findIntention returns the intention with ID id, or nil if there is none.
// The catalog keys intentions by their source and destination, so this
// reads the whole list.
func (s *Server) findIntention(ctx context.Context, opts *queryv1.ReadOptions, id string) (*connectv1.Intention, error) {
	resp, err := s.b.Intentions.ListIntentions(ctx, &connectv1.ListIntentionsRequest{Options: opts})
	if err != nil {
		return nil, err
	}
	for _, in := range resp.GetIntentions() {
		if in.GetId() == id {
			return in, nil
		}
	}
	return nil, nil
}

// intentionGetID is GET /v1/connect/intentions/:id.
func (s *Server) intentionGetID(w http.ResponseWriter, r *http.Request) (any, error) {
	in, err := s.intentionByID(r)
	if err != nil {
		return nil, err
	}
	return consuljson.IntentionFromProto(in), nil
}

// intentionDeleteID is DELETE /v1/connect/intentions/:id; answers true.
func (s *Server) intentionDeleteID(w http.ResponseWriter, r *http.Request) (any, error) {
	in, err := s.intentionByID(r)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, nil)
	defer cancel()
	if _, err := s.b.Intentions.DeleteIntention(ctx, &connectv1.DeleteIntentionRequest{
		SourceName: in.GetSourceName(), DestinationName: in.GetDestinationName()}); err != nil {
		return nil, err
	}
	return true, nil
}

// intentionUpdateID is the legacy PUT /v1/connect/intentions/:id
// (consul/api's IntentionUpdate): the body replaces the intention with that
// ID, which is kept, and the answer is {"ID": id} as from the legacy
// create. An unknown ID is the 500 Consul answers, with its message.
//
// Consul (since 1.9) refuses to move an intention to another destination;
// Beacon also refuses to move it to another source, which Consul allows,
// because the catalog keys intentions by their pair and a new pair would
// get a new ID. Deleting the intention and creating one is the way.
func (s *Server) intentionUpdateID(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if id == "" {
		return nil, badRequest("Missing intention ID")
	}
	in, err := decodeIntention(r, "", "")
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, nil)
	defer cancel()
	old, err := s.findIntention(ctx, nil, id)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return nil, serverFault(fmt.Sprintf("Cannot modify non-existent intention: '%s'", id))
	}
	if in.GetDestinationName() != old.GetDestinationName() {
		return nil, badRequestf("DestinationName %q: the destination of intention %s (%q) cannot be changed; delete it and create a new one",
			in.GetDestinationName(), id, old.GetDestinationName())
	}
	if in.GetSourceName() != old.GetSourceName() {
		return nil, badRequestf("SourceName %q: the source of intention %s (%q) cannot be changed in Beacon; delete it and create a new one",
			in.GetSourceName(), id, old.GetSourceName())
	}
	if _, err := s.b.Intentions.UpsertIntention(ctx, &connectv1.UpsertIntentionRequest{Intention: in}); err != nil {
		return nil, err
	}
	return struct{ ID string }{id}, nil
}
