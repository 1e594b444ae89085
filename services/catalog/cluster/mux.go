package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// raftByte is the first byte a connection to the server port sends to reach
// Raft; anything else (an HTTP/2 preface) goes to the internal gRPC server.
// Consul multiplexes its server port the same way.
const raftByte byte = 0x01

// Mux splits one TCP listener into a Raft stream layer and a gRPC listener by
// the first byte of each connection.
type Mux struct {
	ln        net.Listener
	advertise net.Addr
	logger    *slog.Logger

	raftConns chan net.Conn
	rpcConns  chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

// NewMux serves ln; advertise is the address peers dial (it may differ from
// the bound one, e.g. 0.0.0.0).
func NewMux(ln net.Listener, advertise net.Addr, logger *slog.Logger) *Mux {
	m := &Mux{
		ln: ln, advertise: advertise, logger: logger,
		raftConns: make(chan net.Conn, 16),
		rpcConns:  make(chan net.Conn, 16),
		done:      make(chan struct{}),
	}
	go m.serve()
	return m
}

func (m *Mux) serve() {
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			m.logger.Error("server port accept failed", "error", err)
			m.Close()
			return
		}
		go m.route(conn)
	}
}

func (m *Mux) route(conn net.Conn) {
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(conn, 1)
	first, err := br.Peek(1)
	if err != nil {
		conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	dst := m.rpcConns
	if first[0] == raftByte {
		_, _ = br.Discard(1)
		dst = m.raftConns
	}
	select {
	case dst <- &peekedConn{Conn: conn, r: br}:
	case <-m.done:
		conn.Close()
	}
}

// Close stops accepting and closes the listener.
func (m *Mux) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.done)
		err = m.ln.Close()
	})
	return err
}

// RPCListener returns the listener of connections meant for gRPC.
func (m *Mux) RPCListener() net.Listener { return &chanListener{m: m, conns: m.rpcConns} }

// StreamLayer returns Raft's view of the port.
func (m *Mux) StreamLayer() raft.StreamLayer {
	return &streamLayer{chanListener: chanListener{m: m, conns: m.raftConns}}
}

type peekedConn struct {
	net.Conn
	r io.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

type chanListener struct {
	m     *Mux
	conns chan net.Conn
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.m.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error   { return nil }
func (l *chanListener) Addr() net.Addr { return l.m.advertise }

type streamLayer struct{ chanListener }

// Dial opens a Raft connection to a peer's server port.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", string(address), timeout)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte{raftByte}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("raft dial %s: %w", address, err)
	}
	return conn, nil
}

// DialRPC dials a peer's server port for gRPC; it is the grpc.WithContextDialer
// counterpart of the Raft dialer, kept here so both sides of the switch live
// together.
func DialRPC(address string, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", address, timeout)
}
