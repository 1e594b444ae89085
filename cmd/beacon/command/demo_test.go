package command

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// startEcho serves the demo echo service on a loopback port until the
// test ends and returns its address.
func startEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveEcho(ctx, ln, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serveEcho: %v", err)
		}
	})
	return ln.Addr().String()
}

func TestEchoRoundTrip(t *testing.T) {
	addr := startEcho(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, line := range []string{"ping", "hello from web", strings.Repeat("x", 70000)} {
		got, err := echoRoundTrip(ctx, addr, line)
		if err != nil || got != line {
			t.Fatalf("echoRoundTrip(%.20q) = %.20q, %v", line, got, err)
		}
	}
}

func TestWebHandler(t *testing.T) {
	echo := startEcho(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	tests := []struct {
		name, upstream, path string
		status               int
		body                 string
	}{
		{"round trip through echo", echo, "/", http.StatusOK, "web -> echo (upstream " + echo + "): hello from web at "},
		{"upstream down", deadAddr, "/", http.StatusBadGateway, "echo upstream " + deadAddr + ": dial"},
		{"health does not call the upstream", deadAddr, "/health", http.StatusOK, "ok\n"},
		{"unknown path", echo, "/nope", http.StatusNotFound, "404 page not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(webHandler(tt.upstream, slog.New(slog.DiscardHandler)))
			defer srv.Close()
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.HasPrefix(string(body), tt.body) {
				t.Fatalf("GET %s: %d %q; want %d, prefix %q", tt.path, resp.StatusCode, body, tt.status, tt.body)
			}
		})
	}
}
