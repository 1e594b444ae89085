package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/beaconmesh/beacon/platform/reason"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	"github.com/beaconmesh/beacon/services/httpgw/consuljson"
)

// kvKey returns the key of a /v1/kv/ request. Keys may arrive
// percent-encoded (a%2Fb is a/b); the ServeMux has decoded them. A key must
// be UTF-8 without NUL bytes.
func kvKey(r *http.Request) (string, error) {
	key := r.PathValue("key")
	if !utf8.ValidString(key) || strings.ContainsRune(key, 0) {
		return "", badRequest("Invalid key: keys must be UTF-8 without NUL bytes")
	}
	return key, nil
}

// kvGet is GET /v1/kv/:key, with ?recurse, ?keys[&separator=] and ?raw. A
// missing key (or an empty listing under a prefix) is a 404 with an empty
// body that still carries the read headers, so clients can block on it.
func (s *Server) kvGet(w http.ResponseWriter, r *http.Request) (any, error) {
	key, err := kvKey(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	opts, mode, err := readOptions(q)
	if err != nil {
		return nil, err
	}
	ctx, cancel := callContext(r, opts)
	defer cancel()
	notFound := reply{status: http.StatusNotFound}

	switch {
	case has(q, "keys"):
		resp, err := s.b.KV.Keys(ctx, &kvv1.KeysRequest{Options: opts, Prefix: key, Separator: q.Get("separator")})
		if err != nil {
			return nil, err
		}
		setReadMeta(w, resp.GetMeta(), mode)
		// Like Consul, an empty listing of the root is [] rather than 404.
		if len(resp.GetKeys()) == 0 && key != "" {
			return notFound, nil
		}
		return append([]string{}, resp.GetKeys()...), nil

	case has(q, "recurse"):
		resp, err := s.b.KV.List(ctx, &kvv1.ListRequest{Options: opts, Prefix: key})
		if err != nil {
			return nil, err
		}
		setReadMeta(w, resp.GetMeta(), mode)
		if len(resp.GetPairs()) == 0 {
			return notFound, nil
		}
		return consuljson.KVPairsFromProto(resp.GetPairs()), nil
	}

	resp, err := s.b.KV.Get(ctx, &kvv1.GetRequest{Options: opts, Key: key})
	if err != nil {
		return nil, err
	}
	setReadMeta(w, resp.GetMeta(), mode)
	if resp.GetPair() == nil {
		return notFound, nil
	}
	if has(q, "raw") {
		// The value is the caller's bytes: never let a browser run them.
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "sandbox")
		return rawReply{contentType: "text/plain", body: resp.GetPair().GetValue()}, nil
	}
	return []consuljson.KVPair{consuljson.KVPairFromProto(resp.GetPair())}, nil
}

// kvPut is PUT /v1/kv/:key: the raw body is the value (at most 512 KiB),
// with ?flags, ?cas, ?acquire and ?release. It answers true or false.
func (s *Server) kvPut(w http.ResponseWriter, r *http.Request) (any, error) {
	key, err := kvKey(r)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, badRequest("Missing key name")
	}
	q := r.URL.Query()
	in := &kvv1.PutRequest{Key: key}
	if has(q, "flags") {
		if in.Flags, err = strconv.ParseUint(q.Get("flags"), 10, 64); err != nil {
			return nil, badRequest("Invalid flags")
		}
	}
	if has(q, "cas") {
		cas, err := strconv.ParseUint(q.Get("cas"), 10, 64)
		if err != nil {
			return nil, badRequest("Invalid cas index")
		}
		in.Cas = &cas
	}
	if has(q, "acquire") {
		if in.Acquire = q.Get("acquire"); in.Acquire == "" {
			return nil, badRequest("Missing session for ?acquire")
		}
	}
	if has(q, "release") {
		if in.Release = q.Get("release"); in.Release == "" {
			return nil, badRequest("Missing session for ?release")
		}
	}
	if in.Acquire != "" && in.Release != "" {
		return nil, badRequest("Cannot specify ?acquire with ?release")
	}
	if in.Value, err = readBody(r, maxKVValue); err != nil {
		return nil, err
	}
	// The batcher bounds its calls by rpcTimeout itself.
	resp, err := s.puts.Put(r.Context(), in)
	if err != nil {
		if in.Acquire != "" && reason.Has(err, reason.UnknownSession) {
			// Consul's answer, which lock clients (patroni) recognise.
			return nil, serverFault(fmt.Sprintf("invalid session %q", in.Acquire))
		}
		return nil, err
	}
	return resp.GetOk(), nil
}

// kvDelete is DELETE /v1/kv/:key with ?recurse or ?cas. As in Consul, ?cas
// deletes the one key even with ?recurse.
func (s *Server) kvDelete(w http.ResponseWriter, r *http.Request) (any, error) {
	key, err := kvKey(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	in := &kvv1.DeleteRequest{Key: key, Recurse: has(q, "recurse")}
	if has(q, "cas") {
		cas, err := strconv.ParseUint(q.Get("cas"), 10, 64)
		if err != nil {
			return nil, badRequest("Invalid cas index")
		}
		in.Cas, in.Recurse = &cas, false
	}
	if key == "" && !in.Recurse {
		return nil, badRequest("Missing key name")
	}
	ctx, cancel := callContext(r, nil)
	defer cancel()
	resp, err := s.b.KV.Delete(ctx, in)
	if err != nil {
		return nil, err
	}
	return resp.GetOk(), nil
}
