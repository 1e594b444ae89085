package api_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// discard is a ResponseWriter that keeps only the status.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(code int)        { d.code = code }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkHealthServiceRead is the gateway's own cost of the benchmark
// harness's hot read, GET /v1/health/service/web?passing with 10 instances,
// from many clients at once: routing, the shared checks, batching, the
// catalog call (to a fake over loopback gRPC), JSON, and the reply headers;
// net/http's reading and writing are left out.
func BenchmarkHealthServiceRead(b *testing.B) {
	s, _ := newServer(b, slog.New(slog.DiscardHandler))
	for i := range 10 {
		body := fmt.Sprintf(`{"Node":"node-%d","Address":"10.0.0.%d","Service":{"ID":"web-%d","Service":"web","Port":8080,"Tags":["v1"]},
			"Check":{"CheckID":"web-%d","Name":"web","Status":"passing","ServiceID":"web-%d"}}`, i, i+1, i, i, i)
		w := &discard{h: http.Header{}}
		s.ServeHTTP(w, httptest.NewRequest(http.MethodPut, "/v1/catalog/register", strings.NewReader(body)))
		if w.code != http.StatusOK {
			b.Fatalf("register: status %d", w.code)
		}
	}
	b.ReportAllocs()
	b.SetParallelism(32) // like the harness's 64 connections on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest(http.MethodGet, "/v1/health/service/web?passing", nil)
		for pb.Next() {
			w := &discard{h: http.Header{}}
			s.ServeHTTP(w, r)
			if w.code != http.StatusOK {
				b.Errorf("status %d", w.code)
				return
			}
		}
	})
}
