package api

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// gatherConns records the gathering connections a Direct accepts.
type gatherConns struct {
	net.Listener
	mu    sync.Mutex
	conns []*gatherConn
}

func (l *gatherConns) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if gc, ok := c.(*gatherConn); ok {
		l.mu.Lock()
		l.conns = append(l.conns, gc)
		l.mu.Unlock()
	}
	return c, err
}

func (l *gatherConns) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// TestSendBodyGathered sends replies big enough to be gathered (one of
// them larger than maxGather), plain and gzipped, GET and HEAD, over one
// keep-alive connection, and checks each arrives whole.
func TestSendBodyGathered(t *testing.T) {
	big := bytes.Repeat([]byte(`{"Node":"node-1","Address":"10.0.0.1"},`), 2000)   // 78 KB
	huge := bytes.Repeat([]byte(`{"Node":"node-2","Address":"10.0.0.2"},`), 20000) // 780 KB
	small := []byte(`{"ok":true}`)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := big
		switch r.URL.Path {
		case "/small":
			body = small
		case "/huge":
			body = huge
		}
		writeBody(w, r, http.StatusOK, "application/json", body)
	}))
	ln := &gatherConns{Listener: directFor(srv.Listener, srv.Config)}
	srv.Listener = ln
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
		{http.MethodGet, "/huge", "", huge},
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
	}
	if n := ln.count(); n != 1 {
		t.Errorf("the replies took %d gathering connections, want 1 kept alive", n)
	}
}

// TestGatherConnHoldsUntilRelease checks that what is written while
// gathering reaches the peer only on release (or once maxGather is
// exceeded), all of it and in order.
func TestGatherConnHoldsUntilRelease(t *testing.T) {
	client, server := tcpPair(t)
	gc := &gatherConn{TCPConn: server}

	pending := func() bool {
		t.Helper()
		_ = client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var b [1]byte
		n, err := client.Read(b[:])
		if n > 0 {
			t.Fatalf("the peer got %q before release", b[:n])
		}
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}
	readAll := func(n int) []byte {
		t.Helper()
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, n)
		if _, err := io.ReadFull(client, got); err != nil {
			t.Fatalf("read %d bytes: %v", n, err)
		}
		return got
	}

	gc.gather()
	for _, p := range []string{"HTTP/1.1 200 OK\r\n", "Content-Length: 5\r\n\r\n", "hello"} {
		if _, err := gc.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if !pending() {
		t.Fatal("the peer's read did not time out while gathering")
	}
	if err := gc.release(); err != nil {
		t.Fatal(err)
	}
	if got, want := string(readAll(43)), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"; got != want {
		t.Fatalf("after release the peer got %q, want %q", got, want)
	}

	// More than maxGather goes out as it comes, in order, before release.
	// The writes run beside the reads: socket buffers need not hold them.
	first := bytes.Repeat([]byte("a"), maxGather-10)
	second := bytes.Repeat([]byte("b"), maxGather+10)
	read := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		gc.gather()
		for _, p := range [][]byte{first, second, []byte("tail")} {
			if _, err := gc.Write(p); err != nil {
				errc <- err
				return
			}
		}
		<-read
		errc <- gc.release()
	}()
	got := readAll(len(first) + len(second))
	close(read)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	got = append(got, readAll(4)...)
	want := append(append(append([]byte{}, first...), second...), "tail"...)
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes of a reply over maxGather arrived changed or out of order")
	}

	// Not gathering, a write goes straight out.
	if _, err := gc.Write([]byte("now")); err != nil {
		t.Fatal(err)
	}
	if got := string(readAll(3)); got != "now" {
		t.Fatalf("got %q, want %q", got, "now")
	}
}

// tcpPair is both ends of a loopback TCP connection, closed when t ends.
func tcpPair(t *testing.T) (client net.Conn, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	raw, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return client, raw.(*net.TCPConn)
}
