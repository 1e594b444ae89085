package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/rpcclient"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/httpgw/api"
	"github.com/beaconmesh/beacon/services/httpgw/internal/fakecatalog"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// env is a gateway on an httptest server in front of a fake catalog.
type env struct {
	t      *testing.T
	fake   *fakecatalog.Fake
	url    string
	client *http.Client
}

// newServer is a gateway (without its HTTP server) in front of a fake
// catalog on a real socket.
func newServer(tb testing.TB, logger *slog.Logger) (*api.Server, *fakecatalog.Fake) {
	tb.Helper()
	f := fakecatalog.New()
	conn, err := rpcclient.Dial(rpcclient.Config{Addrs: []string{fakecatalog.Start(tb, f)}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	s, err := api.New(api.Options{Backend: api.NewBackend(conn), Datacenter: "dc1", NodeName: "gw-node", Logger: logger})
	if err != nil {
		tb.Fatal(err)
	}
	return s, f
}

func newEnv(t *testing.T) *env {
	t.Helper()
	s, f := newServer(t, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		// Close waits for requests in flight; blocking queries left by a
		// client (consul/api's lock monitor) end when their connection does.
		hs.CloseClientConnections()
		hs.Close()
	})
	return &env{
		t:      t,
		fake:   f,
		url:    hs.URL,
		client: &http.Client{Transport: &http.Transport{DisableCompression: true}},
	}
}

// response is what a request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; hdr holds header name/value pairs.
func (e *env) do(method, path, body string, hdr ...string) response {
	e.t.Helper()
	r, err := e.fetch(context.Background(), method, path, body, hdr...)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// fetch is do for other goroutines: it returns errors instead of failing.
func (e *env) fetch(ctx context.Context, method, path, body string, hdr ...string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, rd)
	if err != nil {
		return response{}, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func (e *env) get(path string) response { return e.do(http.MethodGet, path, "") }

// expect checks the status and, unless want is "", that the body is the
// JSON want (compared as values, so key order and spacing do not matter).
func (r response) expect(t *testing.T, status int, want string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %q", r.status, status, r.body)
	}
	if want == "" {
		return
	}
	assertJSON(t, r.body, want)
}

// expectText checks the status and that the body contains text.
func (r response) expectText(t *testing.T, status int, text string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %q", r.status, status, r.body)
	}
	if !strings.Contains(string(r.body), text) {
		t.Fatalf("body %q does not contain %q", r.body, text)
	}
}

func assertJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("response is not JSON: %v: %q", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	if d := cmp.Diff(w, g); d != "" {
		t.Fatalf("JSON mismatch (-want +got):\n%s\ngot: %s", d, got)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// seed registers two nodes with services and checks, at indexes 2 to 7:
//
//	n1 10.0.0.1 rack=r1: serfHealth passing; web-1 (v1, primary) with a
//	    passing check; db
//	n2 10.0.0.2 rack=r2: serfHealth passing; web-2 (v2) at 10.0.1.2 with a
//	    critical check; web-sidecar-proxy for web
func seed(t *testing.T, f *fakecatalog.Fake) {
	t.Helper()
	ctx := context.Background()
	passing := catalogv1.HealthStatus_HEALTH_STATUS_PASSING
	critical := catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL
	serf := func(node string) *catalogv1.HealthCheck {
		return &catalogv1.HealthCheck{CheckId: "serfHealth", Name: "Serf Health Status", Status: passing, Type: "serf"}
	}
	for _, in := range []*catalogv1.RegisterRequest{
		{Node: &catalogv1.Node{Id: "11111111-1111-1111-1111-111111111111", Node: "n1", Address: "10.0.0.1", Datacenter: "dc1",
			Meta: map[string]string{"rack": "r1"}}, Checks: []*catalogv1.HealthCheck{serf("n1")}},
		{Node: &catalogv1.Node{Node: "n1"}, SkipNodeUpdate: true,
			Service: &catalogv1.Service{Id: "web-1", Service: "web", Tags: []string{"v1", "primary"}, Port: 8080,
				Meta: map[string]string{"version": "1"}, Weights: &catalogv1.Weights{Passing: 1, Warning: 1}},
			Checks: []*catalogv1.HealthCheck{{CheckId: "web-check", Name: "web alive", Status: passing, ServiceId: "web-1",
				Definition: &catalogv1.CheckDefinition{Kind: &catalogv1.CheckDefinition_Http{Http: &catalogv1.HTTPCheck{Url: "http://10.0.0.1:8080/health"}}}}}},
		{Node: &catalogv1.Node{Node: "n2", Address: "10.0.0.2", Meta: map[string]string{"rack": "r2"}},
			Checks: []*catalogv1.HealthCheck{serf("n2")}},
		{Node: &catalogv1.Node{Node: "n2"}, SkipNodeUpdate: true,
			Service: &catalogv1.Service{Id: "web-2", Service: "web", Tags: []string{"v2"}, Port: 8081, Address: "10.0.1.2"},
			Checks:  []*catalogv1.HealthCheck{{CheckId: "web-2-check", Name: "web alive", Status: critical, ServiceId: "web-2", Output: "connection refused"}}},
		{Node: &catalogv1.Node{Node: "n2"}, SkipNodeUpdate: true,
			Service: &catalogv1.Service{Id: "web-sidecar-proxy", Service: "web-sidecar-proxy", Port: 21000,
				Kind:  catalogv1.ServiceKind_SERVICE_KIND_CONNECT_PROXY,
				Proxy: &catalogv1.ConnectProxyConfig{DestinationServiceName: "web", DestinationServiceId: "web-2", LocalServicePort: 8081}}},
		{Node: &catalogv1.Node{Node: "n1"}, SkipNodeUpdate: true, Service: &catalogv1.Service{Service: "db", Port: 5432}},
	} {
		if _, err := f.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
}

func dur(s string) *durationpb.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return durationpb.New(d)
}

func unavailable() error { return status.Error(codes.Unavailable, "no leader elected") }
