package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"time"

	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/httpgw/consuljson"
)

// Request body limits.
const (
	// maxJSONBody bounds the JSON bodies of catalog and session writes.
	maxJSONBody = 1 << 20
	// maxKVValue is Consul's default kv_max_value_size.
	maxKVValue = 512 << 10
	// maxTxnBody is Consul's default txn_max_req_len.
	maxTxnBody = 512 << 10
)

// maxSizedBody bounds the bodies readBody reads into a buffer sized from
// Content-Length up front; a larger one grows as it arrives, so that a
// client that claims much and sends little costs little.
const maxSizedBody = 64 << 10

// drainLimit is how far past its limit a refused body is still read, so
// that the client gets the 413 (see readBody).
const drainLimit = 4 << 20

// rpcTimeout bounds a catalog call, on top of a blocking query's wait.
const rpcTimeout = 30 * time.Second

// callContext returns the context for a catalog call made for r: the
// request's own (so a client that leaves cancels the call), bounded by the
// blocking wait in opts, if any, plus rpcTimeout.
func callContext(r *http.Request, opts *queryv1.ReadOptions) (context.Context, context.CancelFunc) {
	if known := knownIndex(r); known != 0 && opts != nil {
		opts.KnownIndex = known
	}
	d := rpcTimeout
	if w := opts.GetMaxWait(); w != nil {
		d += w.AsDuration()
	}
	return context.WithTimeout(r.Context(), d)
}

// readBody reads r's body, refusing more than limit bytes with a 413.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		// Read a body that is only somewhat too large before refusing it:
		// answering while the client is still sending makes the server
		// close with unread data, the client sees a reset instead of the
		// 413, and the connection cannot be reused. Bigger ones are cut.
		if r.ContentLength <= limit+drainLimit {
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, r.ContentLength))
		}
		return nil, tooLarge(fmt.Sprintf("Request body(%d bytes) too large, max size: %d bytes", r.ContentLength, limit))
	}
	var b []byte
	var err error
	if n := r.ContentLength; n >= 0 && n <= maxSizedBody {
		// A body of known length is read into a buffer of its size, not
		// grown from io.ReadAll's 512 bytes; net/http ends it there.
		b = make([]byte, n)
		_, err = io.ReadFull(r.Body, b)
		if err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("body shorter than its Content-Length: %w", err)
		}
	} else {
		b, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(fmt.Sprintf("Request body too large, max size: %d bytes", mbe.Limit))
		}
		return nil, badRequestf("Failed to read the request body: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(fmt.Sprintf("Request body too large, max size: %d bytes", limit))
	}
	return b, nil
}

// decodeJSON decodes body into v as Consul does: field names match
// case-insensitively and unknown fields are ignored. Malformed JSON, a
// value of the wrong type or trailing data is a 400 that says where.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return badRequest("Request decode failed: " + describeJSONError(err))
	}
	rest := body[dec.InputOffset():]
	if len(bytes.TrimSpace(rest)) > 0 {
		return badRequestf("Request decode failed: unexpected data after the JSON value at byte %d", dec.InputOffset())
	}
	return nil
}

// decodeConsulKeys decodes body into v like decodeJSON, but first rewrites
// its keys to v's field names, so that the snake_case and lower-case keys
// Consul's agent accepts (consuljson.CanonicalKeys) work too.
func decodeConsulKeys(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return badRequest("Request decode failed: " + describeJSONError(err))
	}
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return badRequestf("Request decode failed: unexpected data after the JSON value at byte %d", dec.InputOffset())
	}
	canon, err := json.Marshal(consuljson.CanonicalKeys(raw, reflect.TypeOf(v)))
	if err != nil {
		return badRequestf("Request decode failed: %v", err)
	}
	return decodeJSON(canon, v)
}

func describeJSONError(err error) string {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of JSON"
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		want := jsonTypeName(typ.Type)
		if typ.Field == "" {
			return fmt.Sprintf("cannot use %s as %s", typ.Value, want)
		}
		return fmt.Sprintf("field %q: cannot use %s as %s", typ.Field, typ.Value, want)
	}
	return err.Error()
}

// jsonTypeName names what a Go type reads from JSON, for error messages.
func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "a duration"
	case t == reflect.TypeFor[[]byte]():
		return "a base64 string"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}
