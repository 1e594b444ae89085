package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func testHandler(t testing.TB) *handler {
	dir := t.TempDir()
	body := filepath.Join(dir, "body")
	hdrs := filepath.Join(dir, "headers")
	_ = os.WriteFile(body, []byte(`[{"Node":{"Node":"n1"}}]`), 0o644)
	_ = os.WriteFile(hdrs, []byte("Content-Type: application/json\nX-Consul-Index: 42\n"), 0o644)
	h, err := load(body, hdrs)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestServe(t *testing.T) {
	rec := httptest.NewRecorder()
	testHandler(t).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/health/service/web?passing", nil))
	if rec.Body.String() != `[{"Node":{"Node":"n1"}}]` || rec.Header().Get("X-Consul-Index") != "42" || rec.Header().Get("Content-Length") != "24" {
		t.Fatalf("got %q %v", rec.Body.String(), rec.Header())
	}
}

// BenchmarkServe is the floor's handler cost without sockets.
func BenchmarkServe(b *testing.B) {
	h := testHandler(b)
	req := httptest.NewRequest(http.MethodGet, "/v1/health/service/web?passing", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
