package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
)

// waiter is one blocking query on its own connection, read without
// net/http's client. The fan-out's ten thousand waiters stand for clients on
// ten thousand machines; here they share two cores with the gateway they
// measure, so each costs the least a client can: one goroutine, one read
// into memory touched before the change (a first touch is a page fault,
// which this machine's hypervisor makes dear), and for gzip a decompressor
// from a pool. Go's http.Transport spends a read goroutine, a buffer touched
// for the first time and a new 32 KiB decompressor on each answer, and took
// half the CPU of the wake-up it was timing.
type waiter struct {
	conn net.Conn
	buf  []byte // the answer, headers and body; resident before the change
}

// waiterBuf is what a waiter holds for its answer: a health answer of ten
// instances and its headers, with room to spare. A longer answer grows it.
const waiterBuf = 16 << 10

// dialWaiter connects a waiter to addr.
func dialWaiter(ctx context.Context, d *net.Dialer, addr string) (*waiter, error) {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, waiterBuf)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1 // make the page resident now, not when the answer lands
	}
	return &waiter{conn: c, buf: buf}, nil
}

// answer is a waiter's reply: its status and its body, gzipped when zipped.
type answer struct {
	status int
	zipped bool
	body   []byte
}

// errNoAnswer marks a reply that is not a well-formed HTTP/1.1 answer.
var errNoAnswer = errors.New("malformed answer")

// read reads one answer to the request the waiter wrote on its connection;
// the answer must carry a Content-Length. Its body stays valid until the
// next read.
func (w *waiter) read() (answer, error) {
	n, end := 0, -1
	for end < 0 {
		if n == len(w.buf) {
			return answer{}, fmt.Errorf("%w: headers longer than %d bytes", errNoAnswer, len(w.buf))
		}
		m, err := w.conn.Read(w.buf[n:])
		n += m
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return answer{}, fmt.Errorf("read the answer: %w", err)
		}
		end = bytes.Index(w.buf[:n], []byte("\r\n\r\n"))
	}
	a, length, err := parseHead(w.buf[:end])
	if err != nil {
		return answer{}, err
	}
	total := end + 4 + length
	if n > total {
		// One request, one answer: bytes past it are the server's error.
		return answer{}, fmt.Errorf("%w: %d bytes after the answer", errNoAnswer, n-total)
	}
	if total > len(w.buf) {
		w.buf = append(w.buf[:n], make([]byte, total-n)...)
	}
	if _, err := io.ReadFull(w.conn, w.buf[n:total]); err != nil {
		return answer{}, fmt.Errorf("read the body: %w", err)
	}
	a.body = w.buf[end+4 : total]
	return a, nil
}

// parseHead reads the status line and the headers a waiter needs.
func parseHead(head []byte) (a answer, length int, err error) {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	proto, code, _ := bytes.Cut(line, []byte(" "))
	if !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(code) < 3 {
		return answer{}, 0, fmt.Errorf("%w: status line %q", errNoAnswer, line)
	}
	if a.status, err = strconv.Atoi(string(code[:3])); err != nil {
		return answer{}, 0, fmt.Errorf("%w: status line %q", errNoAnswer, line)
	}
	length = -1
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return answer{}, 0, fmt.Errorf("%w: header line %q", errNoAnswer, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return answer{}, 0, fmt.Errorf("%w: Content-Length %q", errNoAnswer, value)
			}
		case bytes.EqualFold(name, []byte("Content-Encoding")):
			if !bytes.EqualFold(value, []byte("gzip")) {
				return answer{}, 0, fmt.Errorf("%w: Content-Encoding %q", errNoAnswer, value)
			}
			a.zipped = true
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return answer{}, 0, fmt.Errorf("%w: Transfer-Encoding %q (a waiter reads Content-Length answers only)", errNoAnswer, value)
		}
	}
	if length < 0 {
		return answer{}, 0, fmt.Errorf("%w: no Content-Length", errNoAnswer)
	}
	return a, length, nil
}

// gunzipper decompresses answers with pooled readers and buffers.
type gunzipper struct {
	readers sync.Pool // *gzip.Reader
	bufs    sync.Pool // *bytes.Buffer
}

// unzip decompresses zipped into a pooled buffer, to be handed back with put.
func (g *gunzipper) unzip(zipped []byte) (*bytes.Buffer, error) {
	src := bytes.NewReader(zipped)
	zr, _ := g.readers.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(src)
	} else {
		err = zr.Reset(src)
	}
	if err != nil {
		return nil, fmt.Errorf("gzip answer: %w", err)
	}
	out, _ := g.bufs.Get().(*bytes.Buffer)
	if out == nil {
		out = new(bytes.Buffer)
	}
	out.Reset()
	if _, err := io.Copy(out, zr); err != nil {
		return nil, fmt.Errorf("gzip answer: %w", err)
	}
	g.readers.Put(zr)
	return out, nil
}

// put hands a buffer unzip returned back to the pool.
func (g *gunzipper) put(b *bytes.Buffer) { g.bufs.Put(b) }
