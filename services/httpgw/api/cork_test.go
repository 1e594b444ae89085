package api

import (
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"syscall"
	"testing"
)

// corkListener hands out the server side of each connection it accepts.
type corkListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*net.TCPConn
}

func (l *corkListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		l.mu.Lock()
		l.conns = append(l.conns, tc)
		l.mu.Unlock()
	}
	return c, err
}

// corked reports TCP_CORK on the server side of the only connection.
func (l *corkListener) corked(t *testing.T) bool {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) != 1 {
		t.Fatalf("server accepted %d connections, want 1", len(l.conns))
	}
	raw, err := l.conns[0].SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK)
	}); err != nil || gerr != nil {
		t.Fatalf("getsockopt TCP_CORK: %v %v", err, gerr)
	}
	return v != 0
}

// TestSendBodyCorked sends replies big enough to be corked, plain and
// gzipped, GET and HEAD, over one keep-alive connection, and checks each
// arrives whole and leaves the socket uncorked for the next.
func TestSendBodyCorked(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("TCP_CORK is Linux's")
	}
	big := bytes.Repeat([]byte(`{"Node":"node-1","Address":"10.0.0.1"},`), 2000) // 78 KB
	small := []byte(`{"ok":true}`)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := big
		if r.URL.Path == "/small" {
			body = small
		}
		writeBody(w, r, http.StatusOK, "application/json", body)
	}))
	ln := &corkListener{Listener: srv.Listener}
	srv.Listener = ln
	srv.Config.ConnContext = ConnContext
	srv.Start()
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).DisableCompression = true

	tests := []struct {
		method, path, encoding string
		want                   []byte
	}{
		{http.MethodGet, "/big", "", big},
		{http.MethodGet, "/small", "", small},
		{http.MethodGet, "/big", "gzip", big},
		{http.MethodHead, "/big", "", nil},
		{http.MethodGet, "/big", "", big},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		if tt.encoding != "" {
			req.Header.Set("Accept-Encoding", tt.encoding)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		var r io.Reader = resp.Body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatalf("%s %s gzip: %v", tt.method, tt.path, err)
			}
			r = zr
		}
		got, err := io.ReadAll(r)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s %s: read: %v", tt.method, tt.path, err)
		}
		if !bytes.Equal(got, tt.want) {
			t.Errorf("%s %s (%q): got %d bytes, want %d", tt.method, tt.path, tt.encoding, len(got), len(tt.want))
		}
		if ln.corked(t) {
			t.Errorf("%s %s (%q): the socket is still corked after the reply", tt.method, tt.path, tt.encoding)
		}
	}
}
