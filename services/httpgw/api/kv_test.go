package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// kvPair decodes the single pair a GET /v1/kv/:key returns.
func kvPair(t *testing.T, r response) map[string]any {
	t.Helper()
	var pairs []map[string]any
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &pairs); err != nil || len(pairs) != 1 {
		t.Fatalf("want one pair, got %s (%v)", r.body, err)
	}
	return pairs[0]
}

func TestKVPutGet(t *testing.T) {
	e := newEnv(t)
	e.do(http.MethodPut, "/v1/kv/app/config/port", "8080").expect(t, 200, `true`)

	want := `[{"LockIndex":0,"Key":"app/config/port","Flags":0,"Value":"ODA4MA==","CreateIndex":2,"ModifyIndex":2}]`
	e.get("/v1/kv/app/config/port").expect(t, 200, want)
	// The node client encodes the slashes.
	e.get("/v1/kv/app%2Fconfig%2Fport").expect(t, 200, want)

	raw := e.get("/v1/kv/app/config/port?raw")
	if raw.status != 200 || string(raw.body) != "8080" {
		t.Fatalf("raw = %d %q", raw.status, raw.body)
	}
	for h, v := range map[string]string{
		"Content-Type":            "text/plain",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "sandbox",
		"X-Consul-Index":          "2",
	} {
		if got := raw.header.Get(h); got != v {
			t.Errorf("raw %s = %q, want %q", h, got, v)
		}
	}

	// An empty value is null, as in Consul.
	e.do(http.MethodPut, "/v1/kv/empty", "").expect(t, 200, `true`)
	if v := kvPair(t, e.get("/v1/kv/empty"))["Value"]; v != nil {
		t.Errorf("empty value = %v, want null", v)
	}

	// Flags.
	e.do(http.MethodPut, "/v1/kv/flagged?flags=42", "x").expect(t, 200, `true`)
	if f := kvPair(t, e.get("/v1/kv/flagged"))["Flags"]; f != float64(42) {
		t.Errorf("Flags = %v", f)
	}
	// The flag value consul/api's Lock puts on its keys is above 2^63.
	e.do(http.MethodPut, "/v1/kv/lockflag?flags=3304740253564472344", "x").expect(t, 200, `true`)
	var pairs []struct{ Flags uint64 }
	if err := json.Unmarshal(e.get("/v1/kv/lockflag").body, &pairs); err != nil || pairs[0].Flags != 3304740253564472344 {
		t.Errorf("lock flag = %+v (%v)", pairs, err)
	}
}

func TestKVMissingKeyCarriesReadHeaders(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/v1/kv/nope", "/v1/kv/nope?recurse", "/v1/kv/nope/?keys", "/v1/kv/nope?raw"} {
		r := e.get(path)
		if r.status != 404 || len(r.body) != 0 {
			t.Errorf("%s: %d %q, want 404 and no body", path, r.status, r.body)
		}
		for _, h := range []string{"X-Consul-Index", "X-Consul-KnownLeader", "X-Consul-LastContact"} {
			if r.header.Get(h) == "" {
				t.Errorf("%s: no %s on the 404", path, h)
			}
		}
		if r.header.Get("X-Consul-Index") == "0" {
			t.Errorf("%s: X-Consul-Index is 0", path)
		}
	}
	// An empty listing of the root is [] rather than 404.
	e.get("/v1/kv/?keys").expect(t, 200, `[]`)
}

func TestKVListings(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"web/bar", "web/foo", "web/subdir/a", "web/subdir/b", "other"} {
		e.do(http.MethodPut, "/v1/kv/"+k, k).expect(t, 200, `true`)
	}
	keys := func(path string) string {
		t.Helper()
		r := e.get(path)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		var ks []string
		if err := json.Unmarshal(r.body, &ks); err != nil {
			ks = nil
			var pairs []struct{ Key string }
			if err := json.Unmarshal(r.body, &pairs); err != nil {
				t.Fatalf("%s: %s", path, r.body)
			}
			for _, p := range pairs {
				ks = append(ks, p.Key)
			}
		}
		return strings.Join(ks, ",")
	}
	tests := []struct{ path, want string }{
		{"/v1/kv/web/?keys", "web/bar,web/foo,web/subdir/a,web/subdir/b"},
		{"/v1/kv/web/?keys&separator=/", "web/bar,web/foo,web/subdir/"},
		{"/v1/kv/?keys&separator=/", "other,web/"},
		{"/v1/kv/web?recurse", "web/bar,web/foo,web/subdir/a,web/subdir/b"},
		{"/v1/kv/web/subdir?recurse=", "web/subdir/a,web/subdir/b"},
		// consul kv get -recurse with no prefix lists from the root.
		{"/v1/kv/?recurse", "other,web/bar,web/foo,web/subdir/a,web/subdir/b"},
		{"/v1/kv/web%2Fsubdir%2F?recurse", "web/subdir/a,web/subdir/b"},
	}
	for _, tt := range tests {
		if got := keys(tt.path); got != tt.want {
			t.Errorf("%s = %s, want %s", tt.path, got, tt.want)
		}
	}
}

func TestKVCAS(t *testing.T) {
	e := newEnv(t)
	e.do(http.MethodPut, "/v1/kv/k?cas=0", "v1").expect(t, 200, `true`)
	e.do(http.MethodPut, "/v1/kv/k?cas=0", "v2").expect(t, 200, `false`)
	idx := kvPair(t, e.get("/v1/kv/k"))["ModifyIndex"].(float64)
	e.do(http.MethodPut, fmt.Sprintf("/v1/kv/k?cas=%d", int(idx)+5), "v2").expect(t, 200, `false`)
	e.do(http.MethodPut, fmt.Sprintf("/v1/kv/k?cas=%d", int(idx)), "v2").expect(t, 200, `true`)
	idx = kvPair(t, e.get("/v1/kv/k"))["ModifyIndex"].(float64)
	e.do(http.MethodDelete, fmt.Sprintf("/v1/kv/k?cas=%d", int(idx)-1), "").expect(t, 200, `false`)
	e.do(http.MethodDelete, fmt.Sprintf("/v1/kv/k?cas=%d", int(idx)), "").expect(t, 200, `true`)
	e.get("/v1/kv/k").expect(t, 404, "")
}

func TestKVDelete(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"a/1", "a/2", "b"} {
		e.do(http.MethodPut, "/v1/kv/"+k, "x").expect(t, 200, `true`)
	}
	e.do(http.MethodDelete, "/v1/kv/missing", "").expect(t, 200, `true`)
	e.do(http.MethodDelete, "/v1/kv/a?recurse", "").expect(t, 200, `true`)
	e.get("/v1/kv/a?recurse").expect(t, 404, "")
	e.get("/v1/kv/b").expect(t, 200, "")
	e.do(http.MethodDelete, "/v1/kv/", "").expectText(t, 400, "Missing key name")
	e.do(http.MethodDelete, "/v1/kv/?recurse", "").expect(t, 200, `true`)
	e.get("/v1/kv/b").expect(t, 404, "")
}

func TestKVLocks(t *testing.T) {
	e := newEnv(t)
	seed(t, e.fake)
	create := func() string {
		r := e.do(http.MethodPut, "/v1/session/create", `{"Node":"n1"}`)
		var out struct{ ID string }
		if r.status != 200 || json.Unmarshal(r.body, &out) != nil || out.ID == "" {
			t.Fatalf("session create: %d %s", r.status, r.body)
		}
		return out.ID
	}
	s1, s2 := create(), create()
	e.do(http.MethodPut, "/v1/kv/lock?acquire="+s1, "me").expect(t, 200, `true`)
	p := kvPair(t, e.get("/v1/kv/lock"))
	if p["Session"] != s1 || p["LockIndex"] != float64(1) {
		t.Fatalf("after acquire: %v", p)
	}
	e.do(http.MethodPut, "/v1/kv/lock?acquire="+s2, "you").expect(t, 200, `false`)
	e.do(http.MethodPut, "/v1/kv/lock?release="+s2, "").expect(t, 200, `false`)
	e.do(http.MethodPut, "/v1/kv/lock?release="+s1, "").expect(t, 200, `true`)
	if p := kvPair(t, e.get("/v1/kv/lock")); p["Session"] != nil {
		t.Fatalf("after release: %v", p)
	}
	e.do(http.MethodPut, "/v1/kv/lock?acquire=", "").expectText(t, 400, "Missing session")
	e.do(http.MethodPut, "/v1/kv/lock?acquire="+s1+"&release="+s1, "").expectText(t, 400, "Cannot specify ?acquire with ?release")
	// An unknown session is Consul's 500, which lock clients (patroni)
	// recognise; releasing with one is a plain refusal.
	e.do(http.MethodPut, "/v1/kv/lock?acquire=nope", "").expectText(t, 500, `invalid session "nope"`)
	e.do(http.MethodPut, "/v1/kv/lock?release=nope", "").expectText(t, 400, "unknown session")
}

func TestKVHostileInput(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, method, path, body string
		status                   int
		text                     string
	}{
		{"NUL in key", "PUT", "/v1/kv/a%00b", "x", 400, "Invalid key"},
		{"NUL in key on GET", "GET", "/v1/kv/a%00b", "", 400, "Invalid key"},
		{"invalid UTF-8", "PUT", "/v1/kv/a%FFb", "x", 400, "Invalid key"},
		{"empty key", "PUT", "/v1/kv/", "x", 400, "Missing key name"},
		{"bad flags", "PUT", "/v1/kv/k?flags=-1", "x", 400, "Invalid flags"},
		{"bad flags text", "PUT", "/v1/kv/k?flags=abc", "x", 400, "Invalid flags"},
		{"bad cas", "PUT", "/v1/kv/k?cas=x", "x", 400, "Invalid cas index"},
		{"bad cas on delete", "DELETE", "/v1/kv/k?cas=-3", "", 400, "Invalid cas index"},
		{"value over 512 KiB", "PUT", "/v1/kv/big", strings.Repeat("x", 512<<10+1), 413, "too large"},
		{"value of 512 KiB", "PUT", "/v1/kv/big", strings.Repeat("x", 512<<10), 200, "true"},
		{"long key", "PUT", "/v1/kv/" + strings.Repeat("k", 100<<10), "x", 200, "true"},
		{"encoded dots stay in the key", "PUT", "/v1/kv/%2E%2E/etc", "x", 200, "true"},
		{"bad index", "GET", "/v1/kv/k?index=-1", "", 400, "Invalid index"},
		{"bad wait", "GET", "/v1/kv/k?index=1&wait=forever", "", 400, "Invalid wait time"},
		{"stale and consistent", "GET", "/v1/kv/k?stale&consistent", "", 400, "Cannot specify ?stale with ?consistent, conflicting semantics."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.do(tt.method, tt.path, tt.body).expectText(t, tt.status, tt.text)
		})
	}
	if r := e.get("/v1/kv/?keys"); !strings.Contains(string(r.body), `"../etc"`) {
		t.Errorf("keys = %s, want the literal key ../etc", r.body)
	}

	// A key too long for the header limit never reaches the gateway.
	r := e.do(http.MethodGet, "/v1/kv/"+strings.Repeat("k", 2<<20), "")
	if r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("2 MiB key: status %d, want 431", r.status)
	}

	// Dot segments are cleaned by the router (a redirect), never passed on
	// as part of a key.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(e.url + "/v1/kv/a/../b")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/v1/kv/b" {
		t.Errorf("a/../b: %d to %q, want a redirect to /v1/kv/b", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The long key went through whole.
	if r := e.get("/v1/kv/" + strings.Repeat("k", 100<<10) + "?raw"); r.status != 200 || string(r.body) != "x" {
		t.Errorf("long key read back: %d", r.status)
	}
}
