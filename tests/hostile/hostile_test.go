package hostile

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func request(method, target, body string, headers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n", method, target)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

// TestHostileRequests sends one malformed or abusive request per row and
// checks the status class: input errors are 4xx, never a 5xx, and every
// error says what it is with a Content-Type.
func TestHostileRequests(t *testing.T) {
	nested := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	nestedObj := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	tests := []struct {
		name string
		req  string
		want int // exact status; 0 = any 4xx; anyNon5xx
	}{
		{"nested arrays register", request("PUT", "/v1/catalog/register", nested), 400},
		{"nested objects register", request("PUT", "/v1/catalog/register", `{"Node":"n","Address":"a","NodeMeta":`+nestedObj+`}`), 400},
		{"nested txn", request("PUT", "/v1/txn", nested), 400},
		{"nested session", request("PUT", "/v1/session/create", nestedObj), 400},
		// encoding/json (Consul's decoder too) turns invalid UTF-8 in a
		// string into U+FFFD: stored as valid UTF-8, so a 200 is fine.
		{"invalid UTF-8 in JSON", request("PUT", "/v1/catalog/register", "{\"Node\":\"\xff\xfe\xfd\",\"Address\":\"a\"}"), anyNon5xx},
		{"invalid UTF-8 in key", request("PUT", "/v1/kv/a%ff%fe", "v"), 0},
		{"NUL in key", request("GET", "/v1/kv/a%00b", ""), 0},
		// The ServeMux cleans the path and redirects (307) out of /v1/kv.
		{"dot-dot key", request("GET", "/v1/kv/../../etc/passwd", ""), http.StatusTemporaryRedirect},
		{"encoded dot-dot key", request("GET", "/v1/kv/%2e%2e/%2e%2e/x", ""), 404},
		{"wrong JSON types", request("PUT", "/v1/catalog/register", `{"Node":1,"Address":[true]}`), 400},
		{"truncated JSON", request("PUT", "/v1/txn", `[{"KV":{"Verb":"set"`), 400},
		{"65 txn ops", request("PUT", "/v1/txn", "["+strings.TrimSuffix(strings.Repeat(`{"KV":{"Verb":"get","Key":"a"}},`, 65), ",")+"]"), 0},
		{"KV value over 512 KiB", request("PUT", "/v1/kv/big", strings.Repeat("x", 512<<10+1)), 413},
		{"register body over 1 MiB", request("PUT", "/v1/catalog/register", `{"Node":"`+strings.Repeat("x", 1<<20)+`"}`), 413},
		{"negative index", request("GET", "/v1/kv/a?index=-1", ""), 400},
		{"index over uint64", request("GET", "/v1/kv/a?index=99999999999999999999999", ""), 400},
		{"wait not a duration", request("GET", "/v1/kv/a?index=1&wait=forever", ""), 400},
		{"stale and consistent", request("GET", "/v1/kv/a?stale&consistent", ""), 400},
		{"bad filter", request("GET", "/v1/catalog/nodes?filter=Node%20%3D%3D", ""), 400},
		{"absurd cas", request("PUT", "/v1/kv/a?cas=-5", "v"), 400},
		{"absurd flags", request("PUT", "/v1/kv/a?flags=1e99", "v"), 400},
		{"header over 1 MiB", request("GET", "/v1/kv/a", "", "X-Junk: "+strings.Repeat("j", 2<<20)), 431},
		{"CR in header value", "GET /v1/kv/a HTTP/1.1\r\nHost: gw\r\nX-A: b\rc\r\n\r\n", 400},
		{"no Host", "GET /v1/kv/a HTTP/1.1\r\n\r\n", 400},
		{"script in name", request("GET", "/v1/catalog/service/%3Cscript%3Ealert(1)%3C%2Fscript%3E", ""), anyNon5xx},
		{"script in session", request("GET", "/v1/session/info/%3Cscript%3E", ""), anyNon5xx},
		{"script in force-leave", request("PUT", "/v1/agent/force-leave/%3Cscript%3E", ""), 404},
		{"cached with a negative index", request("GET", "/v1/health/service/web?cached&index=-1", ""), 400},
		{"cached with an absurd wait", request("GET", "/v1/health/service/web?cached&index=1&wait=forever", ""), 400},
		{"cached and consistent", request("GET", "/v1/catalog/services?cached&consistent", ""), 400},
		{"cached with a bad max-age", request("GET", "/v1/catalog/services?cached", "", "Cache-Control: max-age=forever"), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, err := raw(t, tt.req, 20*time.Second)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			switch {
			case tt.want == anyNon5xx && resp.StatusCode < 500:
			case resp.StatusCode >= 500:
				t.Errorf("status %d %q: bad input must not cause a 5xx", resp.StatusCode, trim(body))
			case tt.want != 0 && resp.StatusCode != tt.want:
				t.Errorf("status %d %q, want %d", resp.StatusCode, trim(body), tt.want)
			case tt.want == 0 && resp.StatusCode < 400:
				t.Errorf("status %d %q, want a 4xx", resp.StatusCode, trim(body))
			}
			if ct := resp.Header.Get("Content-Type"); len(body) > 0 && ct == "" {
				t.Errorf("status %d without a Content-Type", resp.StatusCode)
			} else if strings.Contains(string(body), "<script>") && !strings.HasPrefix(ct, "text/plain") && !strings.HasPrefix(ct, "application/json") {
				t.Errorf("input reflected as %q (CVE-2024-10086 class): %q", ct, trim(body))
			}
		})
	}
	gw.alive(t)
}

// anyNon5xx accepts any answer below 500.
const anyNon5xx = -1

// TestUnknownDatacenter pins the one 5xx a request can cause: Consul answers
// an unknown ?dc with 500 "No path to datacenter", and clients
// (consul-template, the CLI) expect exactly that, so Beacon does the same —
// as plain text, never reflecting the input as HTML.
func TestUnknownDatacenter(t *testing.T) {
	resp, body, err := raw(t, request("GET", "/v1/catalog/nodes?dc=%3Cscript%3E", ""), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 500 || !strings.Contains(string(body), "No path to datacenter") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("unknown dc: %d %q %q, want Consul's 500 \"No path to datacenter\" as text/plain", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	gw.alive(t)
}

func trim(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// TestChunkedBodyIsBoundedByBytesRead streams a 100 MiB chunked KV value
// without a Content-Length (CVE-2025-11374's shape): the gateway must stop
// reading at its limit, answer 413 and not grow by the body's size.
func TestChunkedBodyIsBoundedByBytesRead(t *testing.T) {
	before, err := gw.rssKiB()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	var sent atomic.Int64
	go func() {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for sent.Load() < 100<<20 {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
			sent.Add(int64(len(chunk)))
		}
		pw.Close()
	}()
	req, err := http.NewRequest(http.MethodPut, gw.url("/v1/kv/huge"), pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked
	resp, err := http.DefaultClient.Do(req)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", resp.StatusCode)
	}
	after, err := gw.rssKiB()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d MiB before the answer; gateway RSS %d → %d KiB", sent.Load()>>20, before, after)
	if after-before > 32<<10 {
		t.Errorf("gateway RSS grew by %d KiB reading a body it should have cut at 512 KiB", after-before)
	}
	gw.alive(t)
}

// TestAbsurdBlockingParameters: ?wait far beyond Consul's 10 minute cap is
// accepted (and capped), a huge ?index returns at once on the leader (it
// is ahead of the state, so a restore must have happened), and neither is
// an error.
func TestAbsurdBlockingParameters(t *testing.T) {
	ctx := context.Background()
	if status, err := do(ctx, "GET", "/v1/kv/absurd?index=18446744073709551615&wait=1s", ""); err != nil || status >= 500 {
		t.Errorf("index=2^64-1: %d %v", status, err)
	}
	ctx2, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	status, err := do(ctx2, "GET", "/v1/kv/absurd?index=1&wait=1000000h", "")
	if err == nil && status >= 400 {
		t.Errorf("wait=1000000h: %d, want it accepted and capped", status)
	}
	// Blocking for a while is the correct outcome; an immediate 5xx is not.
	gw.alive(t)
}

// TestSlowloris opens connections that send a request line and then one
// header byte at a time, slower than ReadHeaderTimeout allows: the gateway
// must close them, and keep answering ordinary requests meanwhile.
func TestSlowloris(t *testing.T) {
	const conns = 200
	var wg sync.WaitGroup
	var closed atomic.Int64
	start := time.Now()
	for range conns {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", gw.addr, 2*time.Second)
			if err != nil {
				return
			}
			defer c.Close()
			if _, err := c.Write([]byte("GET /v1/kv/a HTTP/1.1\r\nHost: gw\r\nX-Slow: ")); err != nil {
				return
			}
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				if _, err := c.Write([]byte("a")); err != nil {
					closed.Add(1)
					return
				}
				_ = c.SetReadDeadline(time.Now().Add(time.Second))
				if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
					closed.Add(1)
					return
				}
			}
		})
	}
	// Ordinary requests keep working while the slow connections are open.
	for range 5 {
		time.Sleep(time.Second)
		if status, err := do(context.Background(), "GET", "/v1/status/leader", ""); err != nil || status != 200 {
			t.Errorf("ordinary request during slowloris: %d %v", status, err)
		}
	}
	wg.Wait()
	t.Logf("%d of %d slow connections closed by the gateway within %s", closed.Load(), conns, time.Since(start).Round(time.Millisecond))
	if closed.Load() != conns {
		t.Errorf("only %d of %d slowloris connections were closed within 30s (ReadHeaderTimeout)", closed.Load(), conns)
	}
	gw.alive(t)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestManyConcurrentConnections runs against gwPlain (no -race). It holds as many connections open at once as
// the file limit allows (up to the 10,000), sends a request on
// every one, and checks that each gets an answer, none a 5xx, and that the
// gateway's memory stays bounded.
func TestManyConcurrentConnections(t *testing.T) {
	want := 10000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	// Both ends live on this machine: this process holds one descriptor
	// per connection and the gateway (same limit) another; keep headroom.
	if limit := int(lim.Cur) - 500; limit < want {
		t.Logf("RLIMIT_NOFILE is %d: testing %d connections instead of %d", lim.Cur, limit, want)
		want = limit
	}
	before, err := gwPlain.rssKiB()
	if err != nil {
		t.Fatal(err)
	}
	// Each connection sends its first request as soon as it is open (an
	// idle new connection is closed after ReadHeaderTimeout, as it should
	// be), so all of them are open at once, idling in keep-alive, by the
	// time the last one is dialled. Then a second request goes on every
	// one of them concurrently.
	const req = "GET /v1/status/leader HTTP/1.1\r\nHost: gw\r\n\r\n"
	conns := make([]net.Conn, 0, want)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	start := time.Now()
	for len(conns) < want {
		c, err := net.DialTimeout("tcp", gwPlain.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", len(conns), err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatalf("connection %d: %v", len(conns), err)
		}
	}
	opened, err := gwPlain.rssKiB()
	if err != nil {
		t.Fatal(err)
	}
	var ok, fivexx, failed atomic.Int64
	var (
		errMu    sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		failed.Add(1)
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	readAnswer := func(c net.Conn) bool {
		_ = c.SetDeadline(time.Now().Add(60 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(io.LimitReader(c, 4096)), nil)
		if err != nil {
			fail(err)
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 500:
			fivexx.Add(1)
			return false
		case resp.StatusCode >= 300:
			fail(fmt.Errorf("status %d", resp.StatusCode))
			return false
		}
		return true
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 512) // bound this process' goroutines, not the connections
	for _, c := range conns {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if !readAnswer(c) {
				return
			}
			if _, err := io.WriteString(c, req); err != nil {
				fail(err)
				return
			}
			if readAnswer(c) {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	after, err := gwPlain.rssKiB()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d concurrent connections: %d answered 2xx twice, %d 5xx, %d failed in %s; gateway RSS %d KiB idle, %d KiB with the connections open, %d KiB after a request on each",
		want, ok.Load(), fivexx.Load(), failed.Load(), time.Since(start).Round(time.Millisecond), before, opened, after)
	if ok.Load() != int64(want) {
		t.Errorf("%d of %d connections got no 2xx (5xx %d, failed %d, first error %v)", int64(want)-ok.Load(), want, fivexx.Load(), failed.Load(), firstErr)
	}
	// A goroutine, its stack and a read and a write buffer per
	// connection: tens of KiB each. 64 KiB each on average would mean
	// something unbounded.
	if per := (after - before) / int64(want); per > 64 {
		t.Errorf("gateway RSS grew by %d MiB for %d connections (%d KiB each)", (after-before)>>10, want, per)
	}
	gwPlain.alive(t)
}
