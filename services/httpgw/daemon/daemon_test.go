package daemon

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/services/httpgw/internal/fakecatalog"
)

func TestValidate(t *testing.T) {
	ok := DefaultConfig()
	tests := []struct {
		name string
		mod  func(c *Config)
		err  string
	}{
		{"defaults", func(c *Config) {}, ""},
		{"bad address", func(c *Config) { c.Addr = "8500" }, "http address"},
		{"listener replaces address", func(c *Config) {
			c.Addr = ""
			c.Listener = &net.TCPListener{}
		}, ""},
		{"no catalog", func(c *Config) { c.CatalogAddrs = nil }, "no catalog address"},
		{"bad catalog address", func(c *Config) { c.CatalogAddrs = []string{"catalog"} }, "catalog address"},
		{"empty datacenter", func(c *Config) { c.Datacenter = "" }, "datacenter"},
		{"bad datacenter", func(c *Config) { c.Datacenter = "dc 1" }, "datacenter"},
		{"empty node", func(c *Config) { c.NodeName = " " }, "node name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			c.CatalogAddrs = append([]string(nil), ok.CatalogAddrs...)
			tt.mod(&c)
			err := c.Validate()
			if tt.err == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want one about %q", err, tt.err)
			}
		})
	}
	if c := DefaultConfig(); c.Addr != "127.0.0.1:8500" || c.CatalogAddrs[0] != "127.0.0.1:8502" || c.Datacenter != "dc1" || c.NodeName == "" {
		t.Errorf("DefaultConfig = %+v", c)
	}
}

// TestRun serves the API on a pre-opened listener, then shuts down within
// the 5 seconds promised, ending a blocking query in flight.
func TestRun(t *testing.T) {
	fake := fakecatalog.New()
	catalog := fakecatalog.Start(t, fake)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()

	cfg := DefaultConfig()
	cfg.Listener = ln
	cfg.CatalogAddrs = []string{catalog}
	cfg.NodeName = "gw"
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()

	get := func(path string) (int, string, error) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	code, body, err := get("/v1/status/leader")
	if err != nil || code != 200 || body != `"127.0.0.1:8300"` {
		t.Fatalf("leader: %d %q %v", code, body, err)
	}
	if code, body, _ := get("/metrics"); code != 200 || !strings.Contains(body, "beacon_httpgw_requests_total") {
		t.Errorf("metrics: %d", code)
	}

	type result struct {
		code int
		err  error
	}
	blocked := make(chan result, 1)
	go func() {
		code, _, err := get("/v1/catalog/nodes?index=" + strconv.FormatUint(fake.Index(), 10) + "&wait=10m")
		blocked <- result{code, err}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for fake.Waiters() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the blocking query never reached the catalog")
		}
		time.Sleep(time.Millisecond)
	}

	// A keep-alive connection the direct path took (a plain catalog read),
	// idle at shutdown, must be closed too.
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := io.WriteString(idle, "GET /v1/catalog/nodes HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	idleR := bufio.NewReader(idle)
	resp, err := http.ReadResponse(idleR, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("plain read on a kept connection: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("Run did not return within 5 seconds of its context ending")
	}
	took := time.Since(start)
	t.Logf("shut down in %v", took)
	if took > 2*time.Second {
		t.Errorf("shutdown took %v: it waited out an idle connection", took)
	}
	r := <-blocked
	t.Logf("blocking query in flight: %d %v", r.code, r.err)
	if r.err != nil || r.code != http.StatusServiceUnavailable {
		t.Errorf("blocking query in flight got %d (%v), want 503", r.code, r.err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("the listener is still open after Run returned")
	}
	_ = idle.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := idleR.ReadByte(); err != io.EOF {
		t.Errorf("an idle kept connection is still open after Run returned (read: %v)", err)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Listener = ln
	cfg.CatalogAddrs = nil
	if err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "catalog") {
		t.Fatalf("Run = %v, want a config error", err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Error("the listener was left open")
	}

	// An address already in use is an error, not a hang.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg = DefaultConfig()
	cfg.Addr = busy.Addr().String()
	if err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Run on a busy address = %v", err)
	}
}
