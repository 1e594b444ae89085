// Package listener holds the proxy's one listener type, used for both
// directions: it accepts connections, prepares each (the public side does
// the mutual TLS handshake and the authorization, an upstream nothing),
// dials the other side (the local app in plain TCP, or an upstream
// instance in mutual TLS) and copies bytes both ways until both have
// finished. Stop drains: the listener closes at once, live connections get
// a grace period before they are cut.
package listener

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Prepare readies an accepted connection before the other side is dialed;
// it returns the connection to copy from (possibly a wrapper of raw) or an
// error that rejects it. Reject is a rejection the listener counts apart.
type Prepare func(ctx context.Context, raw net.Conn) (net.Conn, error)

// Dial opens the other side of a connection.
type Dial func(ctx context.Context) (net.Conn, error)

// Config configures a Listener.
type Config struct {
	// Name labels logs and metrics: "public" or "upstream:<service>".
	Name string
	// Listener accepts the connections; Serve closes it.
	Listener net.Listener
	// Prepare is optional; nil passes connections through.
	Prepare Prepare
	// Dial is required.
	Dial Dial
	// PrepareTimeout bounds Prepare (default 10s, Consul's
	// handshake_timeout_ms).
	PrepareTimeout time.Duration
	// DrainTimeout is how long live connections may go on after the stop
	// (default 5s).
	DrainTimeout time.Duration
	Logger       *slog.Logger
	// Metrics may be nil.
	Metrics *Metrics
}

// Rejected wraps the errors of Prepare that are decisions (an intention
// denied the caller) rather than failures, so they are counted as denials.
type Rejected struct{ Reason string }

func (r *Rejected) Error() string { return "connection denied: " + r.Reason }

// Listener proxies the connections of one net.Listener.
type Listener struct {
	cfg    Config
	logger *slog.Logger

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// New returns a Listener for cfg.
func New(cfg Config) (*Listener, error) {
	if cfg.Listener == nil {
		return nil, errors.New("listener: no net.Listener")
	}
	if cfg.Dial == nil {
		return nil, fmt.Errorf("listener %s: no dial function", cfg.Name)
	}
	if cfg.PrepareTimeout <= 0 {
		cfg.PrepareTimeout = 10 * time.Second
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 5 * time.Second
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Listener{cfg: cfg, logger: logger.With("listener", cfg.Name), conns: map[net.Conn]struct{}{}}, nil
}

// Addr is the address the listener accepts on.
func (l *Listener) Addr() net.Addr { return l.cfg.Listener.Addr() }

// Serve accepts connections until ctx ends, then closes the listener,
// lets live connections finish for the drain timeout, cuts the rest and
// returns once every connection goroutine has ended.
func (l *Listener) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { l.cfg.Listener.Close() })
	defer stop()
	// Connections get their own context so that the stop of the accept
	// loop does not cut them; drain decides when they end.
	connCtx, cancelConns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelConns()
	var err error
	backoff := 5 * time.Millisecond
	for {
		raw, aerr := l.cfg.Listener.Accept()
		if aerr != nil {
			if ctx.Err() != nil {
				break
			}
			if ne, ok := aerr.(net.Error); ok && ne.Timeout() {
				// Out of file descriptors and the like: wait, as net/http does.
				l.logger.Warn("accept failed; retrying", "error", aerr, "retry_in", backoff)
				t := time.NewTimer(backoff)
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				t.Stop()
				backoff = min(2*backoff, time.Second)
				continue
			}
			err = fmt.Errorf("listener %s: accept: %w", l.cfg.Name, aerr)
			break
		}
		backoff = 5 * time.Millisecond
		l.track(raw, true)
		l.wg.Go(func() {
			defer l.track(raw, false)
			l.handle(connCtx, raw)
		})
	}
	l.cfg.Listener.Close()
	l.drain(cancelConns)
	return err
}

func (l *Listener) drain(cancel context.CancelFunc) {
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	t := time.NewTimer(l.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	l.mu.Lock()
	n := len(l.conns)
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.logger.Info("drain timeout: closing live connections", "count", n)
	cancel()
	<-done
}

func (l *Listener) track(c net.Conn, add bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if add {
		l.conns[c] = struct{}{}
	} else {
		delete(l.conns, c)
	}
}

// Active returns the number of connections being handled.
func (l *Listener) Active() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func (l *Listener) handle(ctx context.Context, raw net.Conn) {
	m := l.cfg.Metrics
	m.accepted(l.cfg.Name)
	defer m.closed(l.cfg.Name)
	defer raw.Close()
	src := raw
	if l.cfg.Prepare != nil {
		pctx, cancel := context.WithTimeout(ctx, l.cfg.PrepareTimeout)
		c, err := l.cfg.Prepare(pctx, raw)
		cancel()
		if err != nil {
			var rej *Rejected
			switch {
			case errors.As(err, &rej):
				m.denied(l.cfg.Name)
				l.logger.Info("connection denied", "remote", raw.RemoteAddr(), "reason", rej.Reason)
			case errors.Is(err, io.EOF):
				// Closed before a byte was sent: a TCP health check or a
				// port probe, not a failed handshake.
				l.logger.Debug("connection closed before the handshake", "remote", raw.RemoteAddr())
			default:
				m.handshakeFailed(l.cfg.Name)
				l.logger.Warn("connection rejected", "remote", raw.RemoteAddr(), "error", err)
			}
			return
		}
		src = c
		defer src.Close()
	}
	dst, err := l.cfg.Dial(ctx)
	if err != nil {
		m.dialFailed(l.cfg.Name)
		l.logger.Warn("dial failed", "remote", raw.RemoteAddr(), "error", err)
		return
	}
	l.track(dst, true)
	defer l.track(dst, false)
	defer dst.Close()
	in, out := Pipe(src, dst)
	m.bytes(l.cfg.Name, in, out)
	l.logger.Debug("connection closed", "remote", raw.RemoteAddr(), "bytes_in", in, "bytes_out", out)
}

// bufPool holds the copy buffers: two per live connection, reused; a
// copy that fills its buffer (a bulk transfer) moves up to a large one
// from bigPool, so that idle and chatty connections stay small.
var (
	bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
	bigPool = sync.Pool{New: func() any { b := make([]byte, batchBufSize); return &b }}
)

// copyBatched copies src to dst like io.CopyBuffer. When src is TLS over
// a batchConn, it gathers every record already received into one write
// to dst; when dst is, the records made of one chunk go out in one write.
func copyBatched(dst, src net.Conn) (written int64, err error) {
	bp, pool := bufPool.Get().(*[]byte), &bufPool
	defer func() { pool.Put(bp) }()
	rb, wb := batchOf(src), batchOf(dst)
	for {
		buf := *bp
		nr, rerr := src.Read(buf)
		if rerr == nil && rb != nil && nr > 0 {
			nr, rerr = readMore(src, rb, buf, nr)
		}
		if nr > 0 {
			if wb != nil {
				wb.cork()
			}
			nw, werr := dst.Write(buf[:nr])
			if wb != nil {
				if ferr := wb.flush(); werr == nil {
					werr = ferr
				}
			}
			written += int64(nw)
			if werr != nil {
				return written, werr
			}
			if nw != nr {
				return written, io.ErrShortWrite
			}
		}
		if rerr != nil {
			if rerr == io.EOF {
				return written, nil
			}
			return written, rerr
		}
		if pool == &bufPool && len(buf)-nr < maxRecordPlaintext {
			bufPool.Put(bp)
			bp, pool = bigPool.Get().(*[]byte), &bigPool
		}
	}
}

// closeWriter is a connection that can be half-closed (TCP, TLS).
type closeWriter interface{ CloseWrite() error }

// Pipe copies a→b and b→a until both directions are done and returns the
// byte counts. When one side finishes sending, the other's write half is
// closed so that it sees EOF while the reverse direction goes on; an error
// in either direction ends both. Pipe does not close a or b.
func Pipe(a, b net.Conn) (aToB, bToA int64) {
	var wg sync.WaitGroup
	wg.Go(func() { aToB = copyHalf(b, a) })
	bToA = copyHalf(a, b)
	wg.Wait()
	return aToB, bToA
}

// copyHalf copies src to dst, then half-closes dst; when the copy failed,
// or dst cannot be half-closed, it closes both so that the other
// direction ends too.
func copyHalf(dst, src net.Conn) int64 {
	n, err := copyBatched(dst, src)
	if err == nil {
		if cw, ok := dst.(closeWriter); ok && cw.CloseWrite() == nil {
			return n
		}
	}
	dst.Close()
	src.Close()
	return n
}

// Close closes the net.Listener of a Listener that will not Serve.
func (l *Listener) Close() error { return l.cfg.Listener.Close() }
