package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The hot paths, served without net/http's per-request machinery.
//
// A request through net/http costs, besides reading it and writing the
// reply, a goroutine that reads ahead on the connection to notice a
// hang-up, and its abort, plus four deadline changes. On a machine where
// every system call and wake-up is dear that was a fifth of the gateway's
// CPU for a KV put. Direct answers the simple requests of directPrefixes
// without it. net/http reads every connection's first request; when it is
// one Direct takes (Take), Direct takes the connection (a hijack) and
// answers it and the ones after it on its own goroutine, with net/http's
// parser (http.ReadRequest) and the same handler, until one it does not
// take: anything that may block (?index), a body over the KV limit or
// chunked, Expect, Upgrade, HTTP/1.0, a head larger than a read buffer or
// one net/http would read differently (bare LFs, folded or repeated Host
// fields), malformed requests. It then gives the connection back to
// net/http (through Accept) with what it had read. Its replies are
// net/http's but for one thing: a body always goes with its
// Content-Length, never chunked (the gateway's handlers give the length
// anyway). FuzzDirectMatchesNetHTTP holds the two to the same answers.

// directPrefixes are the paths whose requests Direct answers itself: the
// KV store (reads and writes) and the catalog and health reads, which
// answer at once unless they block.
var directPrefixes = []struct {
	path   string
	writes bool // PUT and DELETE too, not only GET
}{{"/v1/kv/", true}, {"/v1/health/", false}, {"/v1/catalog/", false}}

// directBuf is the size of a connection's read buffer, as net/http's.
const directBuf = 4 << 10

var (
	directBufs    = sync.Pool{New: func() any { b := make([]byte, directBuf); return &b }}
	directReplies = sync.Pool{New: func() any { b := make([]byte, 0, 1<<10); return &b }}
	directParsers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, directBuf) }}
	directConns   = sync.Pool{New: func() any { return new(directConn) }}
)

// maxUnread is the most of a body a handler left unread that is read
// and dropped to keep the connection (net/http's maxPostHandlerReadBytes).
const maxUnread = 256 << 10

// errHandoff ends a direct connection's loop: net/http serves it on.
var errHandoff = errors.New("handed to net/http")

// Direct is a listener for an http.Server that takes a connection from
// the server to answer simple requests of the hot paths itself (Take) and
// gives it back, through Accept, at the first request it does not answer.
// Only TCP connections are taken.
type Direct struct {
	ln      net.Listener
	srv     *http.Server
	h       http.Handler // answers the requests Direct takes
	base    context.Context
	conns   chan net.Conn
	errs    chan error
	done    chan struct{}
	closing sync.Once
	wg      sync.WaitGroup

	mu   sync.Mutex
	live map[*gatherConn]struct{}
}

// NewDirect wraps ln for srv, whose timeouts, BaseContext and ErrorLog
// it uses for the requests it answers with h. srv's handler must offer
// each request to Take first. Serve srv on the result.
func NewDirect(ln net.Listener, srv *http.Server, h http.Handler) *Direct {
	d := &Direct{
		ln:    ln,
		srv:   srv,
		h:     h,
		conns: make(chan net.Conn),
		errs:  make(chan error),
		done:  make(chan struct{}),
		live:  make(map[*gatherConn]struct{}),
	}
	d.base = context.Background()
	if srv.BaseContext != nil {
		d.base = srv.BaseContext(d)
	}
	d.base = context.WithValue(d.base, http.ServerContextKey, srv)
	// A request's context names its connection (connContext), which is
	// how Take finds it.
	if prev := srv.ConnContext; prev != nil {
		srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			return connContext(prev(ctx, c), c)
		}
	} else {
		srv.ConnContext = connContext
	}
	go d.acceptLoop()
	return d
}

// Accept returns the next connection for net/http to serve.
func (d *Direct) Accept() (net.Conn, error) {
	select {
	case c := <-d.conns:
		return c, nil
	case err := <-d.errs:
		return nil, err
	case <-d.done:
		return nil, net.ErrClosed
	}
}

// Addr is the address listened on.
func (d *Direct) Addr() net.Addr { return d.ln.Addr() }

// Close stops accepting and ends the connections Direct holds that wait
// for a request; one with a request in hand ends once it has answered.
func (d *Direct) Close() error {
	err := net.ErrClosed
	d.closing.Do(func() {
		close(d.done)
		err = d.ln.Close()
		d.mu.Lock()
		for c := range d.live {
			_ = c.SetReadDeadline(aLongTimeAgo)
		}
		d.mu.Unlock()
	})
	return err
}

// Wait returns once every connection Direct took has ended (after Close).
// When ctx ends first, it closes those left and returns ctx's error.
func (d *Direct) Wait(ctx context.Context) error {
	ended := make(chan struct{})
	go func() { d.wg.Wait(); close(ended) }()
	select {
	case <-ended:
		return nil
	case <-ctx.Done():
		d.mu.Lock()
		for c := range d.live {
			_ = c.Close()
		}
		d.mu.Unlock()
		return ctx.Err()
	}
}

// aLongTimeAgo is a deadline that has passed: it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

func (d *Direct) acceptLoop() {
	for {
		c, err := d.ln.Accept()
		if err != nil {
			// net/http retries after a temporary error and closes the
			// listener after any other.
			select {
			case d.errs <- err:
			case <-d.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok {
			c = &gatherConn{TCPConn: tc}
		}
		d.handoff(c)
	}
}

// handoff gives c to net/http.
func (d *Direct) handoff(c net.Conn) {
	select {
	case d.conns <- c:
	case <-d.done:
		_ = c.Close()
	}
}

// directConn is the state of a connection Direct serves.
type directConn struct {
	d      *Direct
	c      *gatherConn
	ctx    context.Context // the base, with the local address; nil until needed
	remote string          // the peer's address, with ctx
	served int             // requests answered
	buf    *[]byte         // read buffer while bytes are unconsumed, else nil
	r, w   int             // unconsumed bytes are (*buf)[r:w]
	body   directBody      // the body of the request in hand
	// readBy and writeBy are the deadlines set last. They are pushed out
	// only when less than half their timeout is left, so a busy connection
	// changes them rarely; each still bounds a stalled peer.
	readBy, writeBy time.Time
}

// Take answers r if Direct may, on a connection that stays open, and
// reports whether it did: it then takes the connection from net/http and
// answers the requests after r too, until one it may not, when it gives
// the connection back (through Accept). So net/http reads every
// connection's first request, and connections that never send one Direct
// answers (the blocking queries of watchers) cost nothing more.
func (d *Direct) Take(w http.ResponseWriter, r *http.Request) bool {
	if _, mine := w.(*directWriter); mine || r.Close || !direct(r) {
		return false
	}
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs == nil {
		return false
	}
	return d.take(w, r, cs.conn)
}

// take answers r and the requests after it on c, or reports false if
// Direct is closing or net/http keeps the connection.
func (d *Direct) take(w http.ResponseWriter, r *http.Request, c *gatherConn) bool {
	// Counted while net/http still counts the connection as active, so
	// that Wait, called once Shutdown saw none, cannot miss it.
	d.mu.Lock()
	select {
	case <-d.done:
		d.mu.Unlock()
		return false
	default:
	}
	d.wg.Add(1)
	d.mu.Unlock()
	defer d.wg.Done()
	_, brw, err := http.NewResponseController(w).Hijack() // the connection is c
	if err != nil {
		return false
	}
	d.mu.Lock()
	d.live[c] = struct{}{}
	d.mu.Unlock()
	// The state is pooled, the read buffer too; what net/http read past
	// the head (the body, maybe more requests) moves into it.
	dc := directConns.Get().(*directConn)
	*dc = directConn{d: d, c: c, buf: directBufs.Get().(*[]byte)}
	defer func() { *dc = directConn{}; directConns.Put(dc) }()
	n := brw.Reader.Buffered()
	if c.pending != nil { // left by an earlier hand-off, after those
		n += len(*c.pending)
	}
	if n > len(*dc.buf) {
		*dc.buf = make([]byte, n)
	}
	dc.w, _ = io.ReadFull(brw.Reader, (*dc.buf)[:brw.Reader.Buffered()])
	if c.pending != nil {
		dc.w += c.readPending((*dc.buf)[dc.w:])
	}
	if err = c.SetDeadline(time.Time{}); err == nil { // net/http's
		var keep bool
		if keep, err = dc.answer(r, 0); err == nil {
			err = io.EOF
			if keep {
				dc.served++
				err = dc.loop()
			}
		}
	}
	d.mu.Lock()
	delete(d.live, c)
	d.mu.Unlock()
	if err != errHandoff {
		dc.release()
		_ = c.Close()
		return true
	}
	if dc.r < dc.w { // net/http reads these first, then the buffer goes back
		n := copy(*dc.buf, (*dc.buf)[dc.r:dc.w])
		*dc.buf = (*dc.buf)[:n]
		c.pending, dc.buf = dc.buf, nil
	}
	dc.release()
	// net/http sets its own deadlines; none of ours may linger.
	_ = c.SetDeadline(time.Time{})
	d.handoff(c)
	return true
}

// release returns the read buffer.
func (dc *directConn) release() {
	if dc.buf != nil {
		directBufs.Put(dc.buf)
		dc.buf, dc.r, dc.w = nil, 0, 0
	}
}

// loop answers requests until the connection ends (an error) or must go
// to net/http (errHandoff).
func (dc *directConn) loop() error {
	for {
		select {
		case <-dc.d.done:
			return net.ErrClosed
		default:
		}
		if dc.r == dc.w {
			dc.release()
			if err := dc.refresh(&dc.readBy, dc.d.srv.IdleTimeout, dc.c.SetReadDeadline); err != nil {
				return err
			}
			if err := dc.await(); err != nil {
				return err
			}
		}
		req, head, err := dc.readHead()
		if err != nil {
			return err
		}
		if req == nil {
			return errHandoff
		}
		keep, err := dc.answer(req, head)
		if err != nil {
			return err
		}
		dc.served++
		if !keep {
			return io.EOF
		}
	}
}

// refresh sets a deadline timeout from now through set, unless the one
// set last is still more than half its timeout away.
func (dc *directConn) refresh(by *time.Time, timeout time.Duration, set func(time.Time) error) error {
	if timeout <= 0 {
		return nil
	}
	now := time.Now()
	if by.Sub(now) > timeout/2 {
		return nil
	}
	return dc.setDeadline(by, now.Add(timeout), set)
}

// setDeadline sets deadline t through set and notes it in by. It fails once
// Direct is closing: Close sets every live connection's read deadline in
// the past after closing done, so seen open here, that comes after this.
func (dc *directConn) setDeadline(by *time.Time, t time.Time, set func(time.Time) error) error {
	*by = t
	if err := set(t); err != nil {
		return err
	}
	select {
	case <-dc.d.done:
		return net.ErrClosed
	default:
		return nil
	}
}

// await reads what the peer sends next into a read buffer from the pool.
func (dc *directConn) await() error {
	dc.buf = directBufs.Get().(*[]byte)
	n, err := dc.c.TCPConn.Read(*dc.buf)
	dc.r, dc.w = 0, n
	if n > 0 {
		return nil
	}
	return err
}

// readHead reads until the buffer holds a whole request head and parses
// it. req is nil, with no error, when net/http must answer the request.
// With an error, the connection ends.
func (dc *directConn) readHead() (req *http.Request, head int, err error) {
	b := *dc.buf
	headerBy := false
	for {
		if i := bytes.Index(b[dc.r:dc.w], []byte("\r\n\r\n")); i >= 0 {
			head = i + 4
			break
		}
		if bytes.Contains(b[dc.r:dc.w], []byte("\n\n")) || bytes.Contains(b[dc.r:dc.w], []byte("\n\r\n")) {
			return nil, 0, dc.leave() // a head ended by bare LFs: net/http's to read
		}
		if dc.w == len(b) {
			if dc.r == 0 {
				return nil, 0, dc.leave() // a head larger than the buffer
			}
			dc.w = copy(b, b[dc.r:dc.w])
			dc.r = 0
		}
		if t := dc.d.srv.ReadHeaderTimeout; !headerBy && t > 0 {
			headerBy = true // the rest of the head has this long
			if err := dc.setDeadline(&dc.readBy, time.Now().Add(t), dc.c.SetReadDeadline); err != nil {
				return nil, 0, err
			}
		}
		n, err := dc.c.TCPConn.Read(b[dc.w:])
		dc.w += n
		if err == io.EOF {
			return nil, 0, dc.leave() // net/http answers a cut head
		}
		if err != nil {
			return nil, 0, err
		}
	}
	raw := b[dc.r : dc.r+head]
	if !plainHead(raw) {
		return nil, 0, dc.leave()
	}
	p := directParsers.Get().(*bufio.Reader)
	p.Reset(bytes.NewReader(raw))
	req, err = http.ReadRequest(p)
	p.Reset(nil)
	directParsers.Put(p)
	if err != nil || !direct(req) {
		return nil, 0, dc.leave() // net/http answers it, malformed or not ours
	}
	return req, head, nil
}

// leave readies the connection for net/http, which reads a request after
// the first only once 4 bytes of it have come: with fewer before the peer
// stops sending, the connection just ends.
func (dc *directConn) leave() error {
	for dc.served > 0 && dc.w-dc.r < 4 {
		b := *dc.buf
		if dc.w == len(b) {
			dc.w = copy(b, b[dc.r:dc.w])
			dc.r = 0
		}
		n, err := dc.c.TCPConn.Read(b[dc.w:])
		dc.w += n
		if err != nil {
			return err
		}
	}
	return nil
}

// directPath reports whether a method on path is one Direct may answer.
func directPath(path, method string) bool {
	for _, p := range directPrefixes {
		if strings.HasPrefix(path, p.path) {
			return method == http.MethodGet || p.writes && (method == http.MethodPut || method == http.MethodDelete)
		}
	}
	return false
}

// plainHead reports whether a request head has one Host field, no folded
// lines and every line ended by CRLF: anything else is left to net/http.
func plainHead(head []byte) bool {
	hosts := 0
	for n := 0; len(head) > 0; n++ {
		i := bytes.IndexByte(head, '\n')
		if i < 1 || head[i-1] != '\r' {
			return false // a bare LF
		}
		line := head[:i-1]
		head = head[i+1:]
		switch {
		case n == 0 || len(line) == 0: // the request line, or the end
		case line[0] == ' ' || line[0] == '\t':
			return false
		case len(line) >= 5 && bytes.EqualFold(line[:5], []byte("host:")):
			hosts++
		}
	}
	return hosts == 1
}

// direct reports whether Direct answers req itself: an HTTP/1.1 request
// to one of directPrefixes that cannot block, with a body of declared
// length within the KV limit, and nothing net/http would refuse.
func direct(req *http.Request) bool {
	if req.ProtoMajor != 1 || req.ProtoMinor != 1 || !directPath(req.RequestURI, req.Method) ||
		!directPath(req.URL.Path, req.Method) {
		return false
	}
	if req.Method == http.MethodGet && (strings.Contains(req.URL.RawQuery, "index") || strings.Contains(req.URL.RawQuery, "%")) {
		return false // maybe a blocking query (an escaped name too): net/http notices a hang-up
	}
	if len(req.TransferEncoding) > 0 || req.ContentLength < 0 || req.ContentLength > maxKVValue ||
		len(req.Trailer) > 0 || !httpguts.ValidHostHeader(req.Host) {
		return false
	}
	if _, ok := req.Header["Expect"]; ok {
		return false
	}
	if _, ok := req.Header["Upgrade"]; ok {
		return false
	}
	if len(req.Header["Content-Length"]) > 1 {
		return false
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	return true
}

// answer runs the handler on req, whose head is the first head bytes
// unconsumed, and writes its reply. keep is false when the connection must
// end after it.
func (dc *directConn) answer(req *http.Request, head int) (keep bool, err error) {
	dc.r += head
	dc.body = directBody{dc: dc, left: req.ContentLength}
	body := &dc.body
	if req.ContentLength == 0 {
		req.Body = http.NoBody
	} else {
		req.Body = body
		if dc.w-dc.r < int(req.ContentLength) {
			// The body is still coming: give it the read timeout.
			if t := dc.d.srv.ReadTimeout; t > 0 {
				if err := dc.setDeadline(&dc.readBy, time.Now().Add(t), dc.c.SetReadDeadline); err != nil {
					return false, err
				}
			}
		}
	}
	if dc.ctx == nil { // made for the first request answered here
		dc.ctx = context.WithValue(dc.d.base, http.LocalAddrContextKey, dc.c.LocalAddr())
		dc.remote = dc.c.RemoteAddr().String()
	}
	req.RemoteAddr = dc.remote
	ctx, cancel := context.WithCancel(dc.ctx)
	w := &directWriter{h: make(http.Header, 4), reply: directReplies.Get().(*[]byte)}
	defer putReply(w.reply)
	panicked := dc.run(w, req.WithContext(ctx))
	cancel()
	if panicked {
		return false, errors.New("handler panicked")
	}
	// The connection ends after the reply when either side asked, or when
	// the handler left more of the body than net/http would read and drop
	// (maxUnread), or dropping it failed; the reply then says so.
	closing := req.Close || w.closing()
	if !closing && body.left >= maxUnread {
		closing = true
	} else if !closing && body.left > 0 {
		_, err := io.Copy(io.Discard, body)
		closing = err != nil
	}
	if err := dc.refresh(&dc.writeBy, dc.d.srv.WriteTimeout, dc.c.SetWriteDeadline); err != nil {
		return false, err
	}
	out := directReplies.Get().(*[]byte)
	defer putReply(out)
	*out = w.head((*out)[:0], closing)
	if reply := *w.reply; len(reply) <= directBuf {
		*out = append(*out, reply...)
		_, err = dc.c.TCPConn.Write(*out)
	} else { // one system call still, without copying the body
		bufs := net.Buffers{*out, reply}
		_, err = bufs.WriteTo(dc.c.TCPConn)
	}
	if err != nil {
		return false, err
	}
	return !closing, nil
}

// putReply returns a reply buffer, unless it grew large.
func putReply(b *[]byte) {
	if cap(*b) <= 64<<10 {
		*b = (*b)[:0]
		directReplies.Put(b)
	}
}

// run calls the handler as net/http's connection would: a panic ends the
// connection and is logged, unless it is http.ErrAbortHandler.
func (dc *directConn) run(w *directWriter, req *http.Request) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			panicked = true
			if v != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				dc.logf("http: panic serving %v: %v\n%s", dc.remote, v, buf)
			}
		}
	}()
	dc.d.h.ServeHTTP(w, req)
	return false
}

func (dc *directConn) logf(format string, args ...any) {
	if l := dc.d.srv.ErrorLog; l != nil {
		l.Printf(format, args...)
	}
}

// directBody is a request body: the buffered bytes first, then reads
// from the connection, ending at the declared length.
type directBody struct {
	dc   *directConn
	left int64
}

func (b *directBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	dc := b.dc
	var n int
	if dc.r < dc.w {
		n = copy(p, (*dc.buf)[dc.r:dc.w])
		dc.r += n
	} else {
		var err error
		n, err = dc.c.TCPConn.Read(p)
		if err == io.EOF {
			b.left = 0 // as net/http's body, it has seen the end
			return n, io.ErrUnexpectedEOF
		}
		if err != nil {
			b.left -= int64(n)
			return n, err
		}
	}
	b.left -= int64(n)
	if b.left == 0 {
		return n, io.EOF
	}
	return n, nil
}

func (b *directBody) Close() error { return nil }

// directWriter is the http.ResponseWriter of a direct request: the reply
// is gathered and written in one system call once the handler returns.
type directWriter struct {
	h      http.Header
	status int
	reply  *[]byte
}

func (w *directWriter) Header() http.Header { return w.h }

func (w *directWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if w.status != 0 || code < 200 {
		return // a second status, or an informational one, is dropped
	}
	w.status = code
}

func (w *directWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	*w.reply = append(*w.reply, p...)
	return len(p), nil
}

// bodyAllowed reports whether a reply with status may have a body.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// closing reports whether the handler asked to close the connection.
func (w *directWriter) closing() bool {
	return httpguts.HeaderValuesContainsToken(w.h["Connection"], "close")
}

// head appends the reply's head to out, as net/http would write it: the
// status line, the handler's fields in order, Date, Content-Length, a
// sniffed Content-Type when the handler set none, and Connection: close
// when closing. The body follows it.
func (w *directWriter) head(out []byte, closing bool) []byte {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	body := *w.reply
	h := w.h
	if bodyAllowed(w.status) {
		if _, ok := h["Content-Type"]; !ok && len(body) > 0 && h.Get("Content-Encoding") == "" {
			h.Set("Content-Type", http.DetectContentType(body))
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
	} else {
		h.Del("Content-Length")
		h.Del("Transfer-Encoding")
		if w.status == http.StatusNotModified {
			h.Del("Content-Type")
		}
	}
	if _, ok := h["Date"]; !ok {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	if closing {
		h.Set("Connection", "close")
	}
	out = append(out, "HTTP/1.1 "...)
	out = strconv.AppendInt(out, int64(w.status), 10)
	out = append(out, ' ')
	if text := http.StatusText(w.status); text != "" {
		out = append(out, text...)
	} else {
		out = append(out, "status code "...)
		out = strconv.AppendInt(out, int64(w.status), 10)
	}
	out = append(out, "\r\n"...)
	buf := bytes.NewBuffer(out)
	_ = h.Write(buf)
	buf.WriteString("\r\n")
	return buf.Bytes()
}
