package probe

import (
	"context"
	"fmt"
	"net"
)

// TCPCheck is healthy when addr accepts a TCP connection.
func TCPCheck() Check {
	return func(ctx context.Context, addr string) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("connect %s: %w", addr, err)
		}
		return conn.Close()
	}
}
