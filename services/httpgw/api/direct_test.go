package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoHandler answers every request with who served it (X-Via: direct or
// net/http) and "METHOD PATH BODY". /v1/kv/panic panics, /v1/kv/unread
// leaves its body unread, and a body over the KV limit gets a 413 unread,
// as the KV handler does.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	via := "net/http"
	if _, ok := w.(*directWriter); ok {
		via = "direct"
	}
	w.Header().Set("X-Via", via)
	switch {
	case r.URL.Path == "/v1/kv/panic":
		panic("boom")
	case r.URL.Path == "/v1/kv/unread":
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
		return
	case r.ContentLength > maxKVValue:
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RequestURI(), body)
}

// syncBuffer is a log sink tests may read while the server writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startDirect serves h through a Direct on 127.0.0.1 with short
// timeouts; tune may change the server before it starts.
func startDirect(t *testing.T, h http.Handler, tune func(*http.Server)) (*Direct, *syncBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 2 * time.Second,
		ReadTimeout:       2 * time.Second,
		WriteTimeout:      2 * time.Second,
		IdleTimeout:       5 * time.Second,
		ErrorLog:          log.New(logs, "", 0),
	}
	if tune != nil {
		tune(srv)
	}
	d := directFor(ln, srv)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(d) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := d.Wait(ctx); err != nil {
			t.Errorf("direct connections still open after shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return d, logs
}

// rawConn is a client connection that writes bytes as given and reads
// replies with net/http's parser.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, d *Direct) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", d.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}

// answer is one reply as a test compares it.
type answer struct {
	status int
	via    string
	body   string
	close  bool
}

// read reads the next final reply (skipping 100 Continue) to a request
// that was not HEAD.
func (rc *rawConn) read() (answer, error) { return rc.readTo(http.MethodGet) }

func (rc *rawConn) readTo(method string) (answer, error) {
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	for err == nil && resp.StatusCode == http.StatusContinue {
		resp, err = http.ReadResponse(rc.br, &http.Request{Method: method})
	}
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, via: resp.Header.Get("X-Via"), body: string(b), close: resp.Close}, nil
}

func (rc *rawConn) mustRead() answer {
	rc.t.Helper()
	r, err := rc.read()
	if err != nil {
		rc.t.Fatalf("read reply: %v", err)
	}
	return r
}

// get is a request with a Host field and the given extra head lines.
func request(method, target, body string, fields ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: gw\r\n", method, target)
	for _, f := range fields {
		b.WriteString(f + "\r\n")
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	return b.String() + "\r\n" + body
}

func TestDirectChoosesWhoAnswers(t *testing.T) {
	d, _ := startDirect(t, http.HandlerFunc(echoHandler), nil)
	long := "X-Long: " + strings.Repeat("a", directBuf)
	tests := []struct {
		name string
		req  string
		want answer
	}{
		{"put", request("PUT", "/v1/kv/a?flags=3", "value"), answer{200, "direct", "PUT /v1/kv/a?flags=3 value", false}},
		{"get", request("GET", "/v1/kv/a", ""), answer{200, "direct", "GET /v1/kv/a ", false}},
		{"delete", request("DELETE", "/v1/kv/a?recurse", ""), answer{200, "direct", "DELETE /v1/kv/a?recurse ", false}},
		{"blocking get", request("GET", "/v1/kv/a?index=5", ""), answer{200, "net/http", "GET /v1/kv/a?index=5 ", false}},
		{"escaped query", request("GET", "/v1/kv/a?ind%65x=5", ""), answer{200, "net/http", "GET /v1/kv/a?ind%65x=5 ", false}},
		{"other path", request("GET", "/v1/agent/self", ""), answer{200, "net/http", "GET /v1/agent/self ", false}},
		{"escaped prefix", request("GET", "/v1/kv%2Fa", ""), answer{200, "net/http", "GET /v1/kv%2Fa ", false}},
		{"chunked", "PUT /v1/kv/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
			answer{200, "net/http", "PUT /v1/kv/a abc", false}},
		{"expect", request("PUT", "/v1/kv/a", "v", "Expect: 100-continue"), answer{200, "net/http", "PUT /v1/kv/a v", false}},
		{"upgrade", request("GET", "/v1/kv/a", "", "Connection: Upgrade", "Upgrade: websocket"), answer{200, "net/http", "GET /v1/kv/a ", false}},
		{"long head", request("GET", "/v1/kv/a", "", long), answer{200, "direct", "GET /v1/kv/a ", false}},
		{"too large", fmt.Sprintf("PUT /v1/kv/a HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n", maxKVValue+1),
			answer{413, "net/http", "", true}},
		{"two hosts", "GET /v1/kv/a HTTP/1.1\r\nHost: gw\r\nHost: other\r\n\r\n", answer{400, "", "400 Bad Request", true}},
		{"no host", "GET /v1/kv/a HTTP/1.1\r\n\r\n", answer{400, "", "400 Bad Request: missing required Host header", true}},
		{"bad host", "GET /v1/kv/a HTTP/1.1\r\nHost: g w\r\n\r\n", answer{400, "", "400 Bad Request: malformed Host header", true}},
		{"folded field", "GET /v1/kv/a HTTP/1.1\r\nHost: gw\r\nX-A: 1\r\n 2\r\n\r\n", answer{200, "direct", "GET /v1/kv/a ", false}},
		{"bad request line", "GET /v1/kv/a HTTP/9.9\r\nHost: gw\r\n\r\n", answer{505, "", "505 HTTP Version Not Supported", true}},
		{"two lengths", "PUT /v1/kv/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
			answer{400, "", "400 Bad Request", true}},
		{"http/1.0", "GET /v1/kv/a HTTP/1.0\r\nHost: gw\r\n\r\n", answer{200, "net/http", "GET /v1/kv/a ", true}},
		{"absolute form", request("GET", "http://gw/v1/kv/a", ""), answer{200, "net/http", "GET /v1/kv/a ", false}},
		{"close", request("PUT", "/v1/kv/a", "v", "Connection: close"), answer{200, "net/http", "PUT /v1/kv/a v", true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, d)
			rc.send(tt.req)
			got := rc.mustRead()
			if tt.want.status == 400 || tt.want.status == 505 {
				// net/http's own refusals: their text may grow a reason.
				if got.status != tt.want.status || !strings.HasPrefix(got.body, strings.SplitN(tt.want.body, ":", 2)[0]) {
					t.Fatalf("got %+v, want %+v", got, tt.want)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if got.close {
				if _, err := rc.br.ReadByte(); err != io.EOF {
					t.Fatalf("connection still open after Connection: close (read: %v)", err)
				}
			}
		})
	}
}

func TestDirectLeavesHeadToNetHTTP(t *testing.T) {
	d, _ := startDirect(t, http.HandlerFunc(echoHandler), nil)
	rc := dialRaw(t, d)
	rc.send(request("HEAD", "/v1/kv/a", "") + request("PUT", "/v1/kv/a", "v"))
	got, err := rc.readTo(http.MethodHead)
	if err != nil || got.status != 200 || got.via != "net/http" || got.body != "" {
		t.Fatalf("HEAD: %+v %v", got, err)
	}
	if got := rc.mustRead(); got.via != "direct" || got.body != "PUT /v1/kv/a v" {
		t.Fatalf("after HEAD: %+v", got)
	}
}

// A connection goes to net/http at the first request Direct does not
// answer, and back at the next one it does, pipelined requests included.
func TestDirectHandsOffMidConnection(t *testing.T) {
	d, _ := startDirect(t, http.HandlerFunc(echoHandler), nil)
	rc := dialRaw(t, d)
	rc.send(request("PUT", "/v1/kv/a", "1"))
	if got := rc.mustRead(); got.via != "direct" || got.body != "PUT /v1/kv/a 1" {
		t.Fatalf("first: %+v", got)
	}
	// Four pipelined in one write: direct, then net/http for the blocking
	// read (from what Direct had already read) and the HEAD, then direct.
	rc.send(request("PUT", "/v1/kv/b", "2") + request("GET", "/v1/kv/b?index=1", "") +
		request("GET", "/v1/agent/self", "") + request("PUT", "/v1/kv/c", "3"))
	want := []answer{
		{200, "direct", "PUT /v1/kv/b 2", false},
		{200, "net/http", "GET /v1/kv/b?index=1 ", false},
		{200, "net/http", "GET /v1/agent/self ", false},
		{200, "direct", "PUT /v1/kv/c 3", false},
	}
	for i, w := range want {
		if got := rc.mustRead(); got != w {
			t.Fatalf("reply %d: got %+v, want %+v", i, got, w)
		}
	}
	rc.send(request("GET", "/v1/kv/c?index=9", "") + request("DELETE", "/v1/kv/d", ""))
	if got := rc.mustRead(); got.via != "net/http" {
		t.Fatalf("blocking read after coming back: %+v", got)
	}
	if got := rc.mustRead(); got.via != "direct" || got.body != "DELETE /v1/kv/d " {
		t.Fatalf("after the second hand-off: %+v", got)
	}
}

func TestDirectBodies(t *testing.T) {
	d, _ := startDirect(t, http.HandlerFunc(echoHandler), nil)
	t.Run("slow body", func(t *testing.T) {
		rc := dialRaw(t, d)
		body := strings.Repeat("x", 3*directBuf) // longer than the buffer
		head, rest := request("PUT", "/v1/kv/slow", body)[:60], request("PUT", "/v1/kv/slow", body)[60:]
		rc.send(head)
		time.Sleep(50 * time.Millisecond)
		rc.send(rest[:100])
		time.Sleep(50 * time.Millisecond)
		rc.send(rest[100:])
		if got := rc.mustRead(); got.via != "direct" || got.body != "PUT /v1/kv/slow "+body {
			t.Fatalf("got %s %.40q… (%d bytes)", got.via, got.body, len(got.body))
		}
	})
	t.Run("unread body", func(t *testing.T) {
		rc := dialRaw(t, d)
		rc.send(request("PUT", "/v1/kv/unread", strings.Repeat("y", 2*directBuf)) + request("PUT", "/v1/kv/next", "z"))
		if got := rc.mustRead(); got.body != "PUT /v1/kv/unread" {
			t.Fatalf("first: %+v", got)
		}
		if got := rc.mustRead(); got.via != "direct" || got.body != "PUT /v1/kv/next z" {
			t.Fatalf("the request after an unread body: %+v", got)
		}
	})
	t.Run("short body", func(t *testing.T) {
		rc := dialRaw(t, d)
		rc.send("PUT /v1/kv/short HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\nabc")
		_ = rc.c.(*net.TCPConn).CloseWrite()
		got, err := rc.read()
		if err == nil && got.status != http.StatusBadRequest {
			t.Fatalf("a body cut short: %+v", got)
		}
	})
}

func TestDirectTimeouts(t *testing.T) {
	d, _ := startDirect(t, http.HandlerFunc(echoHandler), func(s *http.Server) {
		s.ReadHeaderTimeout = 200 * time.Millisecond
		s.ReadTimeout = 200 * time.Millisecond
		s.IdleTimeout = 300 * time.Millisecond
	})
	tests := []struct {
		name string
		send string
	}{
		{"idle", ""},
		{"partial head", "PUT /v1/kv/a HTTP/1.1\r\nHost: gw\r\n"},
		{"partial body", "PUT /v1/kv/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\nabc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, d)
			if tt.send != "" {
				rc.send(tt.send)
			}
			start := time.Now()
			_, _ = io.Copy(io.Discard, rc.br) // until the server closes
			if took := time.Since(start); took > 3*time.Second {
				t.Fatalf("a stalled client held the connection %s", took)
			}
		})
	}
}

func TestDirectHandlerPanic(t *testing.T) {
	d, logs := startDirect(t, http.HandlerFunc(echoHandler), nil)
	rc := dialRaw(t, d)
	rc.send(request("PUT", "/v1/kv/panic", "v"))
	if got, err := rc.read(); err == nil {
		t.Fatalf("a panicking handler's connection answered %+v", got)
	}
	if !strings.Contains(logs.String(), "panic serving") || !strings.Contains(logs.String(), "boom") {
		t.Fatalf("panic not logged: %q", logs.String())
	}
	// The server goes on.
	rc = dialRaw(t, d)
	rc.send(request("PUT", "/v1/kv/a", "v"))
	if got := rc.mustRead(); got.status != 200 {
		t.Fatalf("after a panic: %+v", got)
	}
}

// Close ends idle direct connections at once and Wait sees them gone.
func TestDirectClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(echoHandler), IdleTimeout: time.Minute}
	d := directFor(ln, srv)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(d) }()
	rc := dialRaw(t, d)
	rc.send(request("PUT", "/v1/kv/a", "v"))
	if got := rc.mustRead(); got.via != "direct" {
		t.Fatalf("%+v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(ctx); err != nil {
		t.Fatalf("an idle direct connection outlived Close: %v", err)
	}
	if _, err := rc.br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection not closed: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("serve: %v", err)
	}
	if _, err := d.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}

// The reply Direct writes is the one net/http writes, but for Date.
func TestDirectReplyMatchesNetHTTP(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Consul-Index", "7")
		w.Header().Add("Vary", "Accept-Encoding")
		switch r.URL.Query().Get("case") {
		case "sniff":
			_, _ = io.WriteString(w, "<html>")
		case "empty":
		case "status":
			w.WriteHeader(http.StatusNotFound)
		case "twice":
			w.WriteHeader(http.StatusConflict)
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "x")
		case "close":
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "bye")
		}
	})
	d, _ := startDirect(t, h, nil)
	plain := func() string { // a net/http server for the same handler
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { srv.Close() })
		return ln.Addr().String()
	}()
	raw := func(addr, req string) string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		resp.Header.Del("Date")
		var b bytes.Buffer
		fmt.Fprintf(&b, "%s close=%v\n", resp.Status, resp.Close)
		_ = resp.Header.Write(&b)
		b.Write(body)
		return b.String()
	}
	for _, c := range []string{"sniff", "empty", "status", "twice", "close"} {
		req := request("GET", "/v1/kv/x?case="+c, "")
		got, want := raw(d.Addr().String(), req), raw(plain, req)
		if got != want {
			t.Errorf("case %s:\ndirect:\n%s\nnet/http:\n%s", c, got, want)
		}
	}
}

// What Direct read and left goes to net/http first, in any read sizes,
// and its buffer back to the pool.
func TestGatherConnPending(t *testing.T) {
	tests := []struct {
		name string
		read func(c *gatherConn) (string, error)
	}{
		{"small reads", func(c *gatherConn) (string, error) {
			var out []byte
			for len(out) < 9 {
				var p [2]byte
				n, err := c.Read(p[:])
				if err != nil {
					return string(out), err
				}
				out = append(out, p[:n]...)
			}
			return string(out), nil
		}},
		{"WriteTo", func(c *gatherConn) (string, error) {
			var b bytes.Buffer
			_, err := c.WriteTo(&b)
			return b.String(), err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := tcpPair(t)
			buf := directBufs.Get().(*[]byte)
			*buf = append((*buf)[:0], "abcde"...)
			c := &gatherConn{TCPConn: server, pending: buf}
			_, _ = io.WriteString(client, "1234")
			_ = client.(*net.TCPConn).CloseWrite()
			got, err := tt.read(c)
			if err != nil || got != "abcde1234" {
				t.Fatalf("read %q, %v; want abcde1234", got, err)
			}
			if c.pending != nil || len(*buf) != directBuf {
				t.Fatalf("pending not returned whole: %v, len %d", c.pending != nil, len(*buf))
			}
		})
	}
}

// directFor wraps ln for srv as Server.Listen does: srv's handler offers
// each request to the Direct first.
func directFor(ln net.Listener, srv *http.Server) *Direct {
	h := srv.Handler
	d := NewDirect(ln, srv, h)
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.Take(w, r) {
			h.ServeHTTP(w, r)
		}
	})
	return d
}

func TestPlainHead(t *testing.T) {
	tests := []struct {
		head string
		want bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nX: 1\r\nhOsT: a\r\nY: 2\r\n\r\n", true},
		{"GET / HTTP/1.1\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false},
		{"GET / HTTP/1.1\nHost: a\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\n X\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\n\tX\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHostile: a\r\n\r\n", false},
	}
	for _, tt := range tests {
		if got := plainHead([]byte(tt.head)); got != tt.want {
			t.Errorf("plainHead(%q) = %v, want %v", tt.head, got, tt.want)
		}
	}
}
