package api

import (
	"fmt"
	"net/http"

	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/httpgw/consuljson"
)

// txn is PUT /v1/txn: at most 128 KV operations applied all-or-nothing.
// It answers 200 {Results, Errors:null}, or 409 {Results:null, Errors} when
// rolled back. A read-only transaction honours ?stale and ?consistent and
// carries the read headers; it never blocks.
func (s *Server) txn(w http.ResponseWriter, r *http.Request) (any, error) {
	body, err := readBody(r, maxTxnBody)
	if err != nil {
		return nil, err
	}
	var ops []consuljson.TxnOp
	if err := decodeJSON(body, &ops); err != nil {
		return nil, err
	}
	if len(ops) > consuljson.MaxTxnOps {
		return nil, tooLarge(fmt.Sprintf("Transaction contains too many operations (%d > %d)", len(ops), consuljson.MaxTxnOps))
	}
	in, readOnly, opErrs := consuljson.TxnOpsProto(ops)
	if len(opErrs) > 0 {
		return reply{status: http.StatusConflict, body: consuljson.TxnResponse{Errors: opErrs}}, nil
	}
	req := &kvv1.TxnRequest{Ops: in}
	mode := ""
	if readOnly {
		opts, m, err := readOptions(r.URL.Query())
		if err != nil {
			return nil, err
		}
		req.Options = &queryv1.ReadOptions{Consistency: opts.GetConsistency()}
		mode = m
	}
	if len(in) == 0 {
		return consuljson.TxnResponse{Results: []consuljson.TxnResult{}}, nil
	}
	ctx, cancel := callContext(r, nil)
	defer cancel()
	resp, err := s.b.Txn.Txn(ctx, req)
	if err != nil {
		return nil, err
	}
	if readOnly {
		setReadMeta(w, resp.GetReadMeta(), mode)
	}
	out := consuljson.TxnResponseFromProto(resp)
	if len(out.Errors) > 0 {
		return reply{status: http.StatusConflict, body: out}, nil
	}
	return out, nil
}
