package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseHead(t *testing.T) {
	tests := []struct {
		name   string
		head   string
		status int
		length int
		zipped bool
		err    string
	}{
		{name: "plain", head: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12", status: 200, length: 12},
		{name: "gzip, any case", head: "HTTP/1.1 200 OK\r\ncontent-length: 3\r\nCONTENT-ENCODING:  gzip ", status: 200, length: 3, zipped: true},
		{name: "empty body", head: "HTTP/1.1 404 Not Found\r\nContent-Length: 0", status: 404, length: 0},
		{name: "no length", head: "HTTP/1.1 200 OK\r\nX-Consul-Index: 7", err: "no Content-Length"},
		{name: "chunked", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", err: "Transfer-Encoding"},
		{name: "other coding", head: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Encoding: br", err: "Content-Encoding"},
		{name: "bad length", head: "HTTP/1.1 200 OK\r\nContent-Length: -1", err: "Content-Length"},
		{name: "not http", head: "SSH-2.0-OpenSSH", err: "status line"},
		{name: "bad code", head: "HTTP/1.1 2x0 OK\r\nContent-Length: 1", err: "status line"},
		{name: "bad header", head: "HTTP/1.1 200 OK\r\nno colon here", err: "header line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, length, err := parseHead([]byte(tt.head))
			if tt.err != "" {
				if err == nil || !errors.Is(err, errNoAnswer) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want errNoAnswer naming %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.status != tt.status || length != tt.length || a.zipped != tt.zipped {
				t.Fatalf("got status %d length %d zipped %v, want %d %d %v", a.status, length, a.zipped, tt.status, tt.length, tt.zipped)
			}
		})
	}
}

// TestWaiterReadsAnswers drives a waiter against a real net/http server:
// answers in pieces, one longer than the waiter's buffer, gzipped ones, and
// several in turn on one keep-alive connection.
func TestWaiterReadsAnswers(t *testing.T) {
	long := strings.Repeat("x", 3*waiterBuf)
	mux := http.NewServeMux()
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		_, _ = w.Write([]byte("he"))
		w.(http.Flusher).Flush() // the body arrives in two pieces
		time.Sleep(10 * time.Millisecond)
		_, _ = w.Write([]byte("llo"))
	})
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(long)))
		_, _ = w.Write([]byte(long))
	})
	mux.HandleFunc("/zipped", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" {
			http.Error(w, "ask for gzip", http.StatusBadRequest)
			return
		}
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(`[{"Service":{"ID":"web-fanout"}}]`))
		_ = zw.Close()
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", fmt.Sprint(b.Len()))
		_, _ = w.Write(b.Bytes())
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	w, err := dialWaiter(context.Background(), &net.Dialer{}, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer w.conn.Close()
	var gz gunzipper
	get := func(path string, zip bool) answer {
		t.Helper()
		req := "GET " + path + " HTTP/1.1\r\nHost: x\r\n"
		if zip {
			req += "Accept-Encoding: gzip\r\n"
		}
		a, err := roundTrip(w, req+"\r\n")
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return a
	}
	if a := get("/short", false); a.status != 200 || string(a.body) != "hello" || a.zipped {
		t.Fatalf("/short: %d %q zipped %v", a.status, a.body, a.zipped)
	}
	if a := get("/long", false); a.status != 200 || string(a.body) != long {
		t.Fatalf("/long: status %d, %d body bytes, want %d", a.status, len(a.body), len(long))
	}
	for range 3 {
		a := get("/zipped", true)
		if a.status != 200 || !a.zipped {
			t.Fatalf("/zipped: status %d zipped %v", a.status, a.zipped)
		}
		out, err := gz.unzip(a.body)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out.Bytes(), []byte(`"ID":"web-fanout"`)) {
			t.Fatalf("/zipped: unzipped %q", out.Bytes())
		}
		gz.put(out)
	}
	if a := get("/nothing", false); a.status != http.StatusNotFound {
		t.Fatalf("/nothing: status %d", a.status)
	}
	if _, err := gz.unzip([]byte("not gzip")); err == nil {
		t.Fatal("unzip of garbage: no error")
	}
}

// TestWaiterBadAnswers: a connection closed mid-answer is an error, not a
// short answer; more than the answer's Content-Length is an error, not a
// panic.
func TestWaiterBadAnswers(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		want  error // nil: any error
	}{
		{"closed mid-answer", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", nil},
		{"bytes after the answer", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n", errNoAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				_, _ = bufio.NewReader(c).ReadString('\n')
				_, _ = c.Write([]byte(tt.reply))
				if tt.want != nil {
					time.Sleep(time.Second) // open until the waiter has read
				}
			}()
			w, err := dialWaiter(context.Background(), &net.Dialer{}, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer w.conn.Close()
			a, err := roundTrip(w, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %d %q, %v; want an error (%v)", a.status, a.body, err, tt.want)
			}
		})
	}
}

// roundTrip writes req on w's connection and reads the answer, as a fan-out
// waiter does.
func roundTrip(w *waiter, req string) (answer, error) {
	if _, err := w.conn.Write([]byte(req)); err != nil {
		return answer{}, err
	}
	return w.read()
}
