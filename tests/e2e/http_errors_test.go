package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// TestHTTPStatusCodes sends malformed and hostile requests to the real
// agent and checks the status and body Consul would answer with.
func TestHTTPStatusCodes(t *testing.T) {
	t.Parallel()
	a, _ := startAgent(t)
	base := "http://" + a.HTTPAddr
	long := func(n int) string { return strings.Repeat("k", n) }
	ops := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"KV":{"Verb":"set","Key":"k%d","Value":""}}`, i)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	tests := []struct {
		name, method, path, body string
		status                   int
		bodyHas                  string
		header                   [2]string
	}{
		{"malformed JSON", "PUT", "/v1/catalog/register", `{"Node":"n1",`, 400, "Request decode failed", [2]string{}},
		{"not JSON", "PUT", "/v1/catalog/register", `<xml/>`, 400, "Request decode failed", [2]string{}},
		{"wrong type", "PUT", "/v1/catalog/register", `{"Node":"n1","Address":5}`, 400, "Address", [2]string{}},
		{"wrong nested type", "PUT", "/v1/catalog/register", `{"Node":"n1","Address":"10.0.0.1","Service":{"Service":"web","Port":"80"}}`, 400, "Port", [2]string{}},
		{"trailing data", "PUT", "/v1/catalog/register", `{"Node":"n1","Address":"10.0.0.1"} {}`, 400, "Request decode failed", [2]string{}},
		{"missing node", "PUT", "/v1/catalog/register", `{"Address":"10.0.0.1"}`, 400, "node", [2]string{}},
		{"session bad TTL type", "PUT", "/v1/session/create", `{"TTL":10}`, 400, "TTL", [2]string{}},
		{"txn not a list", "PUT", "/v1/txn", `{"KV":{}}`, 400, "Request decode failed", [2]string{}},
		{"txn too many ops", "PUT", "/v1/txn", ops(129), 413, "too many operations", [2]string{}},
		{"KV value too large", "PUT", "/v1/kv/big", strings.Repeat("x", 512<<10+1), 413, "too large", [2]string{}},
		{"KV value at the limit", "PUT", "/v1/kv/big", strings.Repeat("x", 512<<10), 200, "true", [2]string{}},
		{"invalid filter", "GET", "/v1/catalog/nodes?filter=" + urlEscape(`Node ==`), "", 400, "", [2]string{}},
		{"filter on an unknown field", "GET", "/v1/health/service/web?filter=" + urlEscape(`Nope == "x"`), "", 400, "", [2]string{}},
		{"negative index", "GET", "/v1/kv/k?index=-1", "", 400, "Invalid index", [2]string{}},
		{"index not a number", "GET", "/v1/catalog/services?index=abc", "", 400, "Invalid index", [2]string{}},
		{"bad wait", "GET", "/v1/catalog/services?index=1&wait=forever", "", 400, "Invalid wait time", [2]string{}},
		{"stale and consistent", "GET", "/v1/catalog/nodes?stale&consistent", "", 400, "Cannot specify ?stale with ?consistent", [2]string{}},
		{"NUL in a key (GET)", "GET", "/v1/kv/a%00b", "", 400, "", [2]string{}},
		{"NUL in a key (PUT)", "PUT", "/v1/kv/a%00b", "v", 400, "", [2]string{}},
		{"invalid UTF-8 in a key", "PUT", "/v1/kv/a%ffb", "v", 400, "", [2]string{}},
		{"long key", "PUT", "/v1/kv/" + long(2048), "v", 200, "true", [2]string{}},
		{"too long key", "PUT", "/v1/kv/" + long(10000), "v", 400, "limit", [2]string{}},
		{"bad flags", "PUT", "/v1/kv/k?flags=-1", "v", 400, "", [2]string{}},
		{"bad cas", "PUT", "/v1/kv/k?cas=x", "v", 400, "", [2]string{}},
		{"unknown check state", "GET", "/v1/health/state/sideways", "", 400, "", [2]string{}},
		{"wrong method on KV", "POST", "/v1/kv/k", "v", 405, "", [2]string{"Allow", "DELETE,GET,PUT"}},
		{"wrong method on a read", "DELETE", "/v1/catalog/nodes", "", 405, "", [2]string{"Allow", "GET"}},
		{"wrong method on a write", "GET", "/v1/catalog/register", "", 405, "", [2]string{"Allow", "PUT"}},
		{"unknown datacenter (read)", "GET", "/v1/catalog/nodes?dc=dc9", "", 500, "No path to datacenter", [2]string{}},
		{"unknown datacenter (write)", "PUT", "/v1/kv/k?dc=dc9", "v", 500, "No path to datacenter", [2]string{}},
		{"unknown datacenter (body)", "PUT", "/v1/catalog/register", `{"Datacenter":"dc9","Node":"n1","Address":"10.0.0.1"}`, 500, "No path to datacenter", [2]string{}},
		{"own datacenter", "GET", "/v1/catalog/nodes?dc=dc1", "", 200, "", [2]string{}},
		{"unknown route", "GET", "/v1/nope", "", 404, "", [2]string{}},
	}
	for _, tt := range tests {
		var body io.Reader
		if tt.body != "" {
			body = strings.NewReader(tt.body)
		}
		r := do(t, tt.method, base+tt.path, body)
		if r.status != tt.status || !strings.Contains(r.body, tt.bodyHas) {
			t.Errorf("%s: %s %.80s = %d %.200q; want %d containing %q", tt.name, tt.method, tt.path, r.status, r.body, tt.status, tt.bodyHas)
		}
		if k := tt.header[0]; k != "" && r.header.Get(k) != tt.header[1] {
			t.Errorf("%s: %s: %q, want %q", tt.name, k, r.header.Get(k), tt.header[1])
		}
	}

	// A request line far beyond any sane size is refused by the server,
	// which keeps serving.
	conn, err := net.DialTimeout("tcp", a.HTTPAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	go fmt.Fprintf(conn, "GET /v1/kv/%s HTTP/1.1\r\nHost: x\r\n\r\n", long(2<<20))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("2 MiB request line: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("2 MiB request line: status %d, want 431", resp.StatusCode)
	}
	if r := do(t, http.MethodGet, base+"/v1/status/leader", nil); r.status != http.StatusOK {
		t.Errorf("after the hostile requests: GET /v1/status/leader = %d %s", r.status, r.body)
	}
}

func urlEscape(s string) string {
	r := strings.NewReplacer(" ", "%20", `"`, "%22", "=", "%3D")
	return r.Replace(s)
}

// TestHTTPHugeWaitIsCapped sends ?wait=99999h: it is capped (Consul: 10
// minutes), not refused, and the query still answers when something
// changes.
func TestHTTPHugeWaitIsCapped(t *testing.T) {
	t.Parallel()
	a, c := startAgent(t)
	base := "http://" + a.HTTPAddr
	first := do(t, http.MethodGet, base+"/v1/catalog/nodes", nil)
	idx := first.header.Get("X-Consul-Index")
	got := make(chan httpResult, 1)
	go func() {
		r, err := send(http.MethodGet, base+"/v1/catalog/nodes?index="+idx+"&wait=99999h", nil)
		if err != nil {
			r.body = err.Error()
		}
		got <- r
	}()
	waitBlocked(t, a, "ListNodes", 1)
	register(t, c, &consulapi.CatalogRegistration{Node: "n-wait", Address: "10.0.0.9"})
	select {
	case r := <-got:
		after, _ := strconv.ParseUint(r.header.Get("X-Consul-Index"), 10, 64)
		before, _ := strconv.ParseUint(idx, 10, 64)
		if r.status != http.StatusOK || after <= before || !strings.Contains(r.body, "n-wait") {
			t.Errorf("?wait=99999h after a write = %d, index %d (was %d), %.200s", r.status, after, before, r.body)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a query with ?wait=99999h did not answer within 20s of a write")
	}
}
