package api

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
)

// One write per reply. net/http gathers a reply in a 4 KiB buffer, so a
// reply with a body of more than about 3.5 KiB (ten instances of a
// service) reaches the socket in two or three writes, and over loopback
// or a LAN each write is a packet sent and a reader woken. The gateway's
// connections gather the writes of such a reply and hand them to the
// kernel as one: one system call, one transmission. (Corking the socket
// with TCP_CORK gave the same single transmission for two more system
// calls a reply; measured with wrk on the hot health read, gathering
// served about 1.1× the requests corking did.)

// gatherMin is the smallest body worth gathering for: below it, the
// headers and body fit net/http's buffer and go out in one write anyway.
const gatherMin = 3 << 10

// maxGather bounds what one reply gathers before it writes: a reply
// larger than that goes out in writes of about this size.
const maxGather = 256 << 10

// gatherPool holds the buffers of replies being gathered. A connection
// holds one only while it writes a reply, so thousands of idle keep-alive
// connections (or blocked watchers) cost none.
var gatherPool = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// gatherConn is a server connection that, between gather and release,
// collects what is written instead of sending it. net/http writes a
// connection from one goroutine at a time (the handler's, then the
// connection's own once the handler returned), so it needs no lock.
type gatherConn struct {
	*net.TCPConn
	buf *[]byte // non-nil while gathering
	// pending is what Direct read but left to net/http, read first: a
	// read buffer of Direct's pool, which it goes back to once read.
	pending *[]byte
}

func (c *gatherConn) Read(p []byte) (int, error) {
	if c.pending == nil {
		return c.TCPConn.Read(p)
	}
	return c.readPending(p), nil
}

// readPending reads from pending, returning its buffer once it is empty.
func (c *gatherConn) readPending(p []byte) int {
	b := *c.pending
	n := copy(p, b)
	if n == len(b) {
		c.dropPending()
	} else {
		*c.pending = b[:copy(b, b[n:])]
	}
	return n
}

// dropPending returns pending's buffer, whole, to Direct's pool.
func (c *gatherConn) dropPending() {
	*c.pending = (*c.pending)[:cap(*c.pending)]
	directBufs.Put(c.pending)
	c.pending = nil
}

// WriteTo hides TCPConn's, which would read past pending.
func (c *gatherConn) WriteTo(w io.Writer) (int64, error) {
	var n int64
	if c.pending != nil {
		m, err := w.Write(*c.pending)
		n = int64(m)
		c.dropPending()
		if err != nil {
			return n, err
		}
	}
	m, err := c.TCPConn.WriteTo(w)
	return n + m, err
}

func (c *gatherConn) Write(p []byte) (int, error) {
	if c.buf == nil {
		return c.TCPConn.Write(p)
	}
	if len(*c.buf)+len(p) > maxGather {
		if err := c.send(); err != nil {
			return 0, err
		}
		if len(p) > maxGather {
			return c.TCPConn.Write(p)
		}
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// gather starts collecting writes.
func (c *gatherConn) gather() {
	c.buf = gatherPool.Get().(*[]byte)
}

// release writes what was gathered and stops gathering.
func (c *gatherConn) release() error {
	err := c.send()
	if cap(*c.buf) <= maxGather {
		gatherPool.Put(c.buf)
	}
	c.buf = nil
	return err
}

// send writes what was gathered so far.
func (c *gatherConn) send() error {
	if len(*c.buf) == 0 {
		return nil
	}
	_, err := c.TCPConn.Write(*c.buf)
	*c.buf = (*c.buf)[:0]
	return err
}

// connKey carries a request's connection in its context.
type connKey struct{}

// connState is what the context of a request on a gathering connection
// holds.
type connState struct {
	conn *gatherConn
}

// connContext is the http.Server ConnContext hook that lets replies
// gather their writes on a connection accepted by a Direct. It is called
// once per connection.
func connContext(ctx context.Context, c net.Conn) context.Context {
	gc, ok := c.(*gatherConn)
	if !ok {
		return ctx
	}
	return context.WithValue(ctx, connKey{}, &connState{conn: gc})
}

// sendBody writes body, the whole rest of the reply, after w's status and
// headers (which name its length), in one write when it is large and r
// came over a connection accepted by a Direct.
func sendBody(w http.ResponseWriter, r *http.Request, body []byte) {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs == nil || len(body) < gatherMin {
		_, _ = w.Write(body)
		return
	}
	cs.conn.gather()
	defer func() { _ = cs.conn.release() }()
	if _, err := w.Write(body); err != nil {
		return
	}
	// Hand what net/http still buffers to the connection before release.
	_ = http.NewResponseController(w).Flush()
}
