package checks

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/health/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func probeOnce(t *testing.T, c config.Check) (catalogv1.HealthStatus, string) {
	t.Helper()
	p, err := newProber(&c)
	if err != nil {
		t.Fatal(err)
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return p.probe(ctx)
}

func TestHTTPProbe(t *testing.T) {
	var code atomic.Int32
	code.Store(200)
	type seen struct {
		method, ua, accept, probe, host, body string
	}
	var mu sync.Mutex
	var last seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		last = seen{r.Method, r.UserAgent(), r.Header.Get("Accept"), r.Header.Get("X-Probe"), r.Host, string(b)}
		mu.Unlock()
		w.WriteHeader(int(code.Load()))
		fmt.Fprint(w, "ok from ", r.URL.Path)
	}))
	defer srv.Close()
	url := srv.URL + "/health"

	tests := []struct {
		code   int
		status catalogv1.HealthStatus
		out    string
	}{
		{200, Passing, "HTTP GET " + url + ": 200 OK Output: ok from /health"},
		{204, Passing, "HTTP GET " + url + ": 204 No Content Output: "},
		{429, Warning, "HTTP GET " + url + ": 429 Too Many Requests Output: ok from /health"},
		{503, Critical, "HTTP GET " + url + ": 503 Service Unavailable Output: ok from /health"},
		{404, Critical, "HTTP GET " + url + ": 404 Not Found Output: ok from /health"},
		{200, Passing, "HTTP GET " + url + ": 200 OK Output: ok from /health"}, // and back
	}
	c := config.Check{ID: "web", HTTP: url, Method: "GET"}
	for _, tt := range tests {
		code.Store(int32(tt.code))
		st, out := probeOnce(t, c)
		if st != tt.status || out != tt.out {
			t.Errorf("code %d: got %s %q, want %s %q", tt.code, StatusName(st), out, StatusName(tt.status), tt.out)
		}
	}
	mu.Lock()
	if last.ua != "Consul Health Check" || last.accept != "text/plain, text/*, */*" {
		t.Errorf("request headers: %+v", last)
	}
	mu.Unlock()

	// Method, headers (Host included) and body are sent.
	code.Store(200)
	st, _ := probeOnce(t, config.Check{ID: "post", HTTP: url, Method: "PUT", Body: `{"a":1}`,
		Header: map[string][]string{"X-Probe": {"yes"}, "Host": {"web.example"}}})
	mu.Lock()
	if st != Passing || last.method != "PUT" || last.probe != "yes" || last.host != "web.example" || last.body != `{"a":1}` {
		t.Errorf("got %s, request %+v", StatusName(st), last)
	}
	mu.Unlock()

	// Nobody listening: critical, with the transport error.
	srv.Close()
	st, out := probeOnce(t, c)
	if st != Critical || !strings.Contains(out, "connection refused") {
		t.Errorf("closed server: %s %q", StatusName(st), out)
	}
}

func TestHTTPProbeKeepsFirst4KiB(t *testing.T) {
	body := strings.Repeat("a", config.OutputMax) + strings.Repeat("b", 10000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
	defer srv.Close()
	_, out := probeOnce(t, config.Check{ID: "big", HTTP: srv.URL, Method: "GET"})
	if !strings.HasSuffix(out, "Output: "+strings.Repeat("a", config.OutputMax)) {
		t.Errorf("output is %d bytes and ends %q", len(out), out[len(out)-20:])
	}
}

func TestHTTPProbeTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	st, out := probeOnce(t, config.Check{ID: "slow", HTTP: srv.URL, Method: "GET", Timeout: 100 * time.Millisecond})
	if st != Critical || !strings.Contains(out, "deadline exceeded") {
		t.Errorf("slow server: %s %q", StatusName(st), out)
	}
}

func TestTCPProbe(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := lis.Addr().String()
	c := config.Check{ID: "tcp", TCP: addr}
	st, out := probeOnce(t, c)
	if st != Passing || out != "TCP connect "+addr+": Success" {
		t.Errorf("open port: %s %q", StatusName(st), out)
	}
	lis.Close()
	st, out = probeOnce(t, c)
	if st != Critical || !strings.Contains(out, "connection refused") {
		t.Errorf("closed port: %s %q", StatusName(st), out)
	}
}

func TestGRPCProbe(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	addr := lis.Addr().String()
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)

	tests := []struct {
		target string
		status catalogv1.HealthStatus
		out    string
	}{
		{addr, Passing, "gRPC check " + addr + ": success"},
		{addr + "/db", Critical, "gRPC check " + addr + "/db: serving status NOT_SERVING"},
		{addr + "/nope", Critical, "gRPC check " + addr + "/nope: rpc error: code = NotFound"},
	}
	for _, tt := range tests {
		st, out := probeOnce(t, config.Check{ID: "g", GRPC: tt.target})
		if st != tt.status || !strings.HasPrefix(out, tt.out) {
			t.Errorf("%s: got %s %q, want %s %q", tt.target, StatusName(st), out, StatusName(tt.status), tt.out)
		}
	}
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_SERVING)
	if st, out := probeOnce(t, config.Check{ID: "g", GRPC: addr + "/db"}); st != Passing {
		t.Errorf("db serving: %s %q", StatusName(st), out)
	}
	srv.Stop()
	if st, _ := probeOnce(t, config.Check{ID: "g", GRPC: addr}); st != Critical {
		t.Errorf("stopped server: %s", StatusName(st))
	}
}

func TestScriptProbe(t *testing.T) {
	tests := []struct {
		script string
		status catalogv1.HealthStatus
		out    string
	}{
		{"echo fine; exit 0", Passing, "fine\n"},
		{"echo degraded >&2; exit 1", Warning, "degraded\n"},
		{"echo broken; exit 2", Critical, "broken\n"},
		{"kill -9 $$", Critical, ""},
	}
	for _, tt := range tests {
		st, out := probeOnce(t, config.Check{ID: "s", Args: []string{"/bin/sh", "-c", tt.script}, Timeout: 10 * time.Second})
		if st != tt.status || out != tt.out {
			t.Errorf("%q: got %s %q, want %s %q", tt.script, StatusName(st), out, StatusName(tt.status), tt.out)
		}
	}
	st, out := probeOnce(t, config.Check{ID: "s", Args: []string{"/nonexistent/check"}})
	if st != Critical || !strings.Contains(out, "no such file") {
		t.Errorf("missing command: %s %q", StatusName(st), out)
	}
	// Long output keeps its tail, marked.
	st, out = probeOnce(t, config.Check{ID: "s", Args: []string{"/bin/sh", "-c", "head -c 10000 /dev/zero | tr '\\0' x; echo END"}})
	if st != Passing || !strings.HasPrefix(out, "Captured 4096 of 10004 bytes\n...\n") || !strings.HasSuffix(out, "xEND\n") {
		t.Errorf("long output: %s %q...", StatusName(st), out[:min(len(out), 60)])
	}
}

func TestScriptTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	// The shell starts a child that would outlive a kill of the shell alone.
	script := "sleep 60 & echo $! > " + pidFile + "; wait"
	start := time.Now()
	st, out := probeOnce(t, config.Check{ID: "hang", Args: []string{"/bin/sh", "-c", script}, Timeout: 300 * time.Millisecond})
	if st != Critical || out != "Timed out (300ms) running check" {
		t.Fatalf("got %s %q", StatusName(st), out)
	}
	if d := time.Since(start); d > waitDelay {
		t.Errorf("the probe took %s", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the script's child %d is still alive", pid)
		}
		time.Sleep(10 * time.Millisecond) // polling the process table
	}
}

func TestTruncateOutput(t *testing.T) {
	if got := TruncateOutput("short"); got != "short" {
		t.Errorf("short: %q", got)
	}
	long := strings.Repeat("é", config.OutputMax) // 2 bytes each
	got := TruncateOutput(long)
	if !strings.HasSuffix(got, fmt.Sprintf(" ... (captured %d of %d bytes)", config.OutputMax, 2*config.OutputMax)) {
		t.Errorf("marker: %q", got[len(got)-50:])
	}
	if got := TruncateOutput("bad \xff byte"); got != "bad \uFFFD byte" {
		t.Errorf("invalid UTF-8: %q", got)
	}
}
