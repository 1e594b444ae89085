package api_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// writeRoutes are the HTTP write endpoints whose bodies and query strings
// the gateway decodes itself (the /v1/agent/* ones need a node agent and
// are not here): FuzzWriteEndpoints picks one by number. A path ending in
// "/" gets an ID appended.
var writeRoutes = []struct{ method, path string }{
	{http.MethodPut, "/v1/catalog/register"},
	{http.MethodPut, "/v1/catalog/deregister"},
	{http.MethodPut, "/v1/kv/fuzz/key"},
	{http.MethodPut, "/v1/session/create"},
	{http.MethodPut, "/v1/session/renew/"},
	{http.MethodPut, "/v1/txn"},
	{http.MethodPut, "/v1/session/destroy/"},
	{http.MethodDelete, "/v1/kv/fuzz/key"},
	{http.MethodPost, "/v1/connect/intentions"},
	{http.MethodPut, "/v1/connect/intentions/exact"},
	{http.MethodDelete, "/v1/connect/intentions/exact"},
	{http.MethodPut, "/v1/connect/ca/configuration"},
	{http.MethodDelete, "/v1/operator/raft/peer"},
}

// consulFault reports whether a 5xx is one Consul answers bad input with
// too, and that clients (patroni) recognise by its text.
func consulFault(code int, body string) bool {
	return code == http.StatusInternalServerError &&
		(strings.HasPrefix(body, "Invalid Session TTL '") || strings.HasPrefix(body, "invalid session \""))
}

// FuzzWriteEndpoints sends any body and query string to every write
// endpoint of a real gateway handler (over a fake catalog): it must never
// panic, never answer 5xx for bad input, and always say what it answers
// with a Content-Type.
func FuzzWriteEndpoints(f *testing.F) {
	seeds := []struct {
		route uint8
		query string
		body  string
	}{
		{0, "", `{"Node":"n1","Address":"10.0.0.1","Service":{"Service":"web","Port":80,"Tags":["v1"]},"Check":{"CheckID":"c","Status":"passing"}}`},
		{0, "", `{"Node":"n1","Address":"a","Checks":[null,{"Name":"c","Definition":{"Interval":"10s","HTTP":"http://x"}}]}`},
		{0, "", `{"Node":"n1","Address":"a","Service":{"Service":"s","Proxy":{"Config":{"a":[1,{"b":null}]}}}}`},
		{0, "", strings.Repeat("[", 100000)},
		{0, "", "{\"Node\":\"\xff\xfe\",\"Address\":\"a\"}"},
		{1, "", `{"Node":"n1","ServiceID":"web"}`},
		{1, "", `{"Node":1}`},
		{2, "flags=42&cas=0", "value"},
		{2, "acquire=", ""},
		{2, "cas=-1", "x"},
		{2, "flags=18446744073709551616", "x"},
		{2, "acquire=abc&release=abc", "x"},
		{2, "acquire=gone", "x"},
		{3, "", `{"Name":"s","TTL":"15s","LockDelay":"15s","Behavior":"delete","NodeChecks":[]}`},
		{3, "", `{"TTL":"1ns","LockDelay":-5}`},
		{3, "", `{"TTL":"5s"}`},
		{3, "", `{"LockDelay":"99999h"}`},
		{4, "", ""},
		{5, "", `[{"KV":{"Verb":"set","Key":"a","Value":"dmFs"}},{"KV":{"Verb":"cas","Key":"a","Index":1,"Value":"eA=="}}]`},
		{5, "", `[{"KV":{"Verb":"get-tree","Key":""}},{"Node":{"Verb":"set","Node":{"Node":"n"}}}]`},
		{5, "", `[` + strings.Repeat(`{"KV":{"Verb":"get","Key":"a"}},`, 70) + `{}]`},
		{5, "", `{"KV":null}`},
		{6, "", ""},
		{7, "recurse&cas=1", ""},
		{8, "", `{"SourceName":"web","DestinationName":"db","Action":"allow"}`},
		{8, "", `{"SourceName":"*","DestinationName":"db","Action":"deny","Permissions":[{"Action":"allow","HTTP":{"PathPrefix":"/%2e%2e"}}]}`},
		{9, "source=web&destination=db", `{"Action":"allow"}`},
		{10, "source=&destination=", ""},
		{11, "", `{"Provider":"consul","Config":{"LeafCertTTL":"-1h","RotationPeriod":1e309}}`},
		{12, "address=127.0.0.1:8300", ""},
	}
	for _, s := range seeds {
		f.Add(s.route, s.query, []byte(s.body))
	}
	s, _ := newServer(f, slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, route uint8, query string, body []byte) {
		rt := writeRoutes[int(route)%len(writeRoutes)]
		path := rt.path
		if strings.HasSuffix(path, "/") {
			// Renew and destroy take the session ID from the path.
			path += "0c3b4a2e-0000-0000-0000-000000000000"
		}
		target := path
		if query != "" {
			target += "?" + query
		}
		req, err := http.NewRequest(rt.method, "http://gw"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		// Any raw query, valid or not, reaches the handler as it would off
		// the wire.
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code >= 500 && !consulFault(rec.Code, rec.Body.String()) {
			t.Fatalf("%s %s with %q: %d %s: bad input must not cause a 5xx", rt.method, target, body, rec.Code, rec.Body)
		}
		if rec.Header().Get("Content-Type") == "" && rec.Body.Len() > 0 {
			t.Fatalf("%s %s: %d without a Content-Type", rt.method, target, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); strings.HasPrefix(ct, "application/json") && !utf8.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: JSON answer is not valid UTF-8: %q", rt.method, target, rec.Body)
		}
	})
}
