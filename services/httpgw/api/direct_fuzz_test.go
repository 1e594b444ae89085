package api

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fuzzHandler answers like echoHandler without saying who served it, so
// that Direct's and net/http's replies can be compared byte for byte
// (but for Date). A path holding "close" asks to close the connection; one
// holding "unread" leaves the body unread; one holding "big" gets 128 KiB.
func fuzzHandler(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, "close") {
		w.Header().Set("Connection", "close")
	}
	if strings.Contains(r.URL.Path, "big") {
		_, _ = w.Write(bytes.Repeat([]byte("0123456789abcdef"), 8<<10))
		return
	}
	if strings.Contains(r.URL.Path, "unread") {
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("X-Consul-Index", "1")
	fmt.Fprintf(w, "%s %s %q %s", r.Method, r.URL.RequestURI(), r.Host, body)
}

// exchange sends in on a new connection to addr, half-closes it, and
// returns every reply the server wrote, parsed and without Date.
func exchange(t *testing.T, addr string, in []byte) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(in); err != nil {
		return "write: " + err.Error()
	}
	_ = c.(*net.TCPConn).CloseWrite()
	br := bufio.NewReader(c)
	var out bytes.Buffer
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if rest, _ := io.ReadAll(br); len(rest) > 0 {
				fmt.Fprintf(&out, "unparsed: %q\n", rest)
			}
			return out.String()
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		// net/http frames a long body the handler gave no length as
		// chunked, Direct with its length: the same body either way.
		resp.Header.Del("Date")
		resp.Header.Del("Content-Length")
		fmt.Fprintf(&out, "%s close=%v\n", resp.Status, resp.Close)
		_ = resp.Header.Write(&out)
		fmt.Fprintf(&out, "%d bytes %x %.80q %v\n", len(body), sha256.Sum256(body), body, err)
	}
}

// FuzzDirectMatchesNetHTTP sends the same bytes to a server behind Direct
// and to a plain net/http server with the same handler: the replies must
// be the same, whoever answered each request.
func FuzzDirectMatchesNetHTTP(f *testing.F) {
	seeds := []string{
		request("PUT", "/v1/kv/a", "value"),
		request("GET", "/v1/kv/a?recurse", ""),
		request("DELETE", "/v1/kv/a", ""),
		request("GET", "/v1/health/service/web?passing", "") + request("GET", "/v1/catalog/nodes", ""),
		request("GET", "/v1/health/service/web?index=3&wait=1s", ""),
		request("PUT", "/v1/catalog/register", `{"Node":"n"}`) + request("GET", "/v1/catalog/big", ""),
		request("GET", "/v1/kv/big", "") + request("GET", "/v1/kv/a", ""),
		request("PUT", "/v1/kv/a", "1") + request("PUT", "/v1/kv/b", "2") + request("GET", "/v1/kv/c?index=4", "") + request("PUT", "/v1/kv/d", "3"),
		request("PUT", "/v1/kv/close", "v") + request("PUT", "/v1/kv/after", "w"),
		request("PUT", "/v1/kv/a", "v", "Connection: close") + request("PUT", "/v1/kv/after", "w"),
		request("PUT", "/v1/kv/unread", "some body") + request("PUT", "/v1/kv/b", "2"),
		request("PUT", "/v1/kv/unread", strings.Repeat("u", maxUnread+10)) + request("PUT", "/v1/kv/b", "2"),
		"PUT /v1/kv/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\nabc",
		"PUT /v1/kv/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n\r\nabcdef",
		"PUT /v1/kv/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"PUT /v1/kv/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"PUT /v1/kv/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		"PUT /v1/kv/a HTTP/1.1\r\nHost: gw\r\nContent-Length: +3\r\n\r\nabc",
		"GET /v1/kv/a HTTP/1.1\nHost: gw\n\n",
		"GET /v1/kv/a HTTP/1.1\r\nHost: gw\nX-A: b\r\n\r\n",
		"GET /v1/kv/a HTTP/1.1\r\nHost: gw\r\nX-A: 1\r\n 2\r\n\r\n",
		"GET /v1/kv/a HTTP/1.1\r\nHost: gw\r\nBad Name: 1\r\n\r\n",
		"GET /v1/kv/a HTTP/1.1\r\nHost: gw\r\nX-A: \x01\r\n\r\n",
		"GET /v1/kv/a HTTP/1.1\r\nHost: g\x00w\r\n\r\n",
		"GET /v1/kv/a HTTP/1.1\r\nHost: gw\r\nHost: gw\r\n\r\n",
		"GET /v1/kv/a HTTP/1.1\r\nhost: gw\r\n\r\n",
		"GET /v1/kv/a HTTP/1.1\r\n\r\n",
		"GET /v1/kv/a HTTP/1.0\r\n\r\n",
		"GET /v1/kv/a?x=%zz HTTP/1.1\r\nHost: gw\r\n\r\n",
		"GET /v1/kv/../agent/self HTTP/1.1\r\nHost: gw\r\n\r\n",
		"GET  /v1/kv/a HTTP/1.1\r\nHost: gw\r\n\r\n",
		"G\x00T /v1/kv/a HTTP/1.1\r\nHost: gw\r\n\r\n",
		"GET /v1/kv/a HTTP/1.1\r\nHost: gw\r\n",
		"GET /v1/kv/a HTT",
		"\r\n" + request("GET", "/v1/kv/a", ""),
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	h := http.HandlerFunc(fuzzHandler)
	quiet := log.New(io.Discard, "", 0)
	direct := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, ErrorLog: quiet}
	plain := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, ErrorLog: quiet}
	lnD, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	lnP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	d := directFor(lnD, direct)
	go func() { _ = direct.Serve(d) }()
	go func() { _ = plain.Serve(lnP) }()
	f.Cleanup(func() { direct.Close(); plain.Close() })

	f.Fuzz(func(t *testing.T, in []byte) {
		got, want := exchange(t, d.Addr().String(), in), exchange(t, lnP.Addr().String(), in)
		if got != want {
			t.Fatalf("for %q\nDirect:\n%s\nnet/http:\n%s", in, got, want)
		}
	})
}
