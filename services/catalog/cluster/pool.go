package cluster

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/beaconmesh/beacon/platform/token"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// ConnPool keeps one gRPC connection per peer server address, for forwarding
// and discovery.
type ConnPool struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// NewConnPool returns an empty pool.
func NewConnPool() *ConnPool { return &ConnPool{conns: map[string]*grpc.ClientConn{}} }

// Conn returns the connection to addr, creating it if needed.
func (p *ConnPool) Conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return nil, fmt.Errorf("cluster: connection pool closed")
	}
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", a)
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 3 * time.Second, PermitWithoutStream: true}),
		grpc.WithChainUnaryInterceptor(token.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(token.StreamClientInterceptor()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)),
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: dial %s: %w", addr, err)
	}
	p.conns[addr] = c
	return c, nil
}

// Close closes every connection.
func (p *ConnPool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
