package listener

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/beaconmesh/beacon/services/proxy/authz"
	"github.com/beaconmesh/beacon/services/proxy/mtls"
)

// Authorizer decides whether a caller, by service name, may connect;
// *authz.Cache satisfies it.
type Authorizer interface {
	Authorize(source string) authz.Decision
}

// PublicPrepare is the public listener's Prepare: a TLS 1.3 handshake
// that requires a client certificate valid under the current roots, then
// the intentions' decision for the caller's service.
func PublicPrepare(src mtls.Source, az Authorizer) Prepare {
	cfg := mtls.ServerConfig(src)
	return func(ctx context.Context, raw net.Conn) (net.Conn, error) {
		conn := tls.Server(Batching(raw), cfg)
		if err := conn.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		id, err := mtls.PeerID(conn.ConnectionState())
		if err != nil {
			return nil, err
		}
		if d := az.Authorize(id.Service); !d.Allowed {
			return nil, &Rejected{Reason: fmt.Sprintf("%s: %s", id, d.Reason)}
		}
		return conn, nil
	}
}

// TCPDial dials addr in plain TCP, within timeout: the public listener's
// way to the local app.
func TCPDial(addr string, timeout time.Duration) Dial {
	return func(ctx context.Context) (net.Conn, error) {
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("dial local service: %w", err)
		}
		return c, nil
	}
}
