package consuljson

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"

	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
)

// MaxTxnOps is how many operations one transaction may hold, as in Consul.
const MaxTxnOps = 128

// TxnOp is one element of the body of PUT /v1/txn. Beacon's transactions
// carry KV operations only; the other kinds are kept raw so that their
// presence can be reported.
type TxnOp struct {
	KV      *TxnKVOp
	Node    json.RawMessage
	Service json.RawMessage
	Check   json.RawMessage
	Session json.RawMessage
}

// TxnKVOp is a KV operation of a transaction. Value is base64 in JSON.
type TxnKVOp struct {
	Verb    string
	Key     string
	Value   Bytes
	Flags   uint64
	Index   uint64
	Session string
}

// TxnResult is the result of one operation that returns something.
type TxnResult struct {
	KV *KVPair `json:",omitempty"`
}

// TxnError says why one operation made the transaction roll back.
type TxnError struct {
	OpIndex int
	What    string
}

// TxnResponse is the answer of PUT /v1/txn: Results on success (200),
// Errors when rolled back (409); the other one is null.
type TxnResponse struct {
	Results []TxnResult
	Errors  []TxnError
}

var kvVerbs = map[string]kvv1.KVVerb{
	"set":              kvv1.KVVerb_KV_VERB_SET,
	"cas":              kvv1.KVVerb_KV_VERB_CAS,
	"lock":             kvv1.KVVerb_KV_VERB_LOCK,
	"unlock":           kvv1.KVVerb_KV_VERB_UNLOCK,
	"get":              kvv1.KVVerb_KV_VERB_GET,
	"get-tree":         kvv1.KVVerb_KV_VERB_GET_TREE,
	"check-index":      kvv1.KVVerb_KV_VERB_CHECK_INDEX,
	"check-session":    kvv1.KVVerb_KV_VERB_CHECK_SESSION,
	"check-not-exists": kvv1.KVVerb_KV_VERB_CHECK_NOT_EXISTS,
	"delete":           kvv1.KVVerb_KV_VERB_DELETE,
	"delete-tree":      kvv1.KVVerb_KV_VERB_DELETE_TREE,
	"delete-cas":       kvv1.KVVerb_KV_VERB_DELETE_CAS,
	"get-or-empty":     kvv1.KVVerb_KV_VERB_GET_OR_EMPTY,
}

// readOnlyVerbs change nothing; a transaction of only these is a read.
var readOnlyVerbs = map[kvv1.KVVerb]bool{
	kvv1.KVVerb_KV_VERB_GET:              true,
	kvv1.KVVerb_KV_VERB_GET_TREE:         true,
	kvv1.KVVerb_KV_VERB_GET_OR_EMPTY:     true,
	kvv1.KVVerb_KV_VERB_CHECK_INDEX:      true,
	kvv1.KVVerb_KV_VERB_CHECK_SESSION:    true,
	kvv1.KVVerb_KV_VERB_CHECK_NOT_EXISTS: true,
}

// TxnOpsProto converts a transaction. Operations Beacon cannot carry (an
// unknown verb, a Node/Service/Check/Session operation) are reported as
// TxnErrors, as Consul reports them, so that the caller can answer 409
// without applying anything. readOnly is true when no operation writes.
func TxnOpsProto(ops []TxnOp) (out []*kvv1.TxnOp, readOnly bool, errs []TxnError) {
	readOnly = true
	for i, op := range ops {
		switch {
		case op.KV != nil:
			verb, ok := kvVerbs[op.KV.Verb]
			if !ok {
				errs = append(errs, TxnError{OpIndex: i, What: fmt.Sprintf("unknown KV verb %q", op.KV.Verb)})
				continue
			}
			if !readOnlyVerbs[verb] {
				readOnly = false
			}
			out = append(out, &kvv1.TxnOp{Op: &kvv1.TxnOp_Kv{Kv: &kvv1.KVOp{
				Verb:    verb,
				Key:     op.KV.Key,
				Value:   op.KV.Value,
				Flags:   op.KV.Flags,
				Index:   op.KV.Index,
				Session: op.KV.Session,
			}}})
		case present(op.Node):
			errs = append(errs, TxnError{OpIndex: i, What: "Node operations are not supported in transactions"})
		case present(op.Service):
			errs = append(errs, TxnError{OpIndex: i, What: "Service operations are not supported in transactions"})
		case present(op.Check):
			errs = append(errs, TxnError{OpIndex: i, What: "Check operations are not supported in transactions"})
		case present(op.Session):
			errs = append(errs, TxnError{OpIndex: i, What: "Session operations are not supported in transactions"})
		default:
			errs = append(errs, TxnError{OpIndex: i, What: "operation has no KV, Node, Service or Check"})
		}
	}
	return out, readOnly, errs
}

func present(m json.RawMessage) bool {
	return len(m) > 0 && string(m) != "null"
}

// TxnResponseFromProto converts a transaction's outcome.
func TxnResponseFromProto(r *kvv1.TxnResponse) TxnResponse {
	if len(r.GetErrors()) > 0 {
		out := TxnResponse{Errors: make([]TxnError, 0, len(r.GetErrors()))}
		for _, e := range r.GetErrors() {
			out.Errors = append(out.Errors, TxnError{OpIndex: int(e.GetOpIndex()), What: e.GetWhat()})
		}
		return out
	}
	out := TxnResponse{Results: make([]TxnResult, 0, len(r.GetResults()))}
	for _, res := range r.GetResults() {
		if kv := res.GetKv(); kv != nil {
			p := KVPairFromProto(kv)
			out.Results = append(out.Results, TxnResult{KV: &p})
		}
	}
	return out
}

// Bytes is a []byte read from base64 in JSON, whose decoding errors name
// the field they occur in.
type Bytes []byte

// UnmarshalJSON implements json.Unmarshaler.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*b = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return &json.UnmarshalTypeError{Value: "non-string", Type: bytesType}
	}
	v, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: "string that is not base64", Type: bytesType}
	}
	*b = v
	return nil
}

var bytesType = reflect.TypeFor[[]byte]()
