// Package rpcclient dials Beacon's gRPC services: one connection over every
// address given (catalog replicas) that sends what only the leader answers
// to the leader and spreads the rest, with the request token passed through
// and keepalives so a dead peer is noticed.
package rpcclient

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/beaconmesh/beacon/platform/token"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// Config configures a connection.
type Config struct {
	// Addrs are "host:port" addresses of equivalent servers.
	Addrs []string
	// TLS, when set, is used for every address; nil means plaintext.
	TLS *tls.Config
	// Options are appended to the dial options.
	Options []grpc.DialOption
}

var schemeSeq atomic.Uint64

// Dial returns a client connection over cfg.Addrs that skips addresses
// that refuse connections, sends the calls only the leader answers straight
// to it once an answer has said which replica that is, and spreads the
// rest round-robin (see leaderBuilder). Its stale reads are monotonic: none
// is answered from an older state than an earlier read through the same
// connection (see stateFloor). It does not block.
func Dial(cfg Config) (*grpc.ClientConn, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("rpcclient: no address to dial")
	}
	addrs := make([]resolver.Address, 0, len(cfg.Addrs))
	for _, a := range cfg.Addrs {
		a = strings.TrimSpace(a)
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("rpcclient: address %q: %w", a, err)
		}
		addrs = append(addrs, resolver.Address{Addr: a})
	}
	r := manual.NewBuilderWithScheme(fmt.Sprintf("beacon%d", schemeSeq.Add(1)))
	r.InitialState(resolver.State{Addresses: addrs})
	creds := insecure.NewCredentials()
	if cfg.TLS != nil {
		creds = credentials.NewTLS(cfg.TLS)
	}
	opts := []grpc.DialOption{
		grpc.WithResolvers(r),
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"` + leaderBalancer + `":{}}]}`),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 15 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
		grpc.WithChainUnaryInterceptor(token.UnaryClientInterceptor(), (&stateFloor{}).intercept),
		grpc.WithChainStreamInterceptor(token.StreamClientInterceptor()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20)),
	}
	opts = append(opts, cfg.Options...)
	conn, err := grpc.NewClient(r.Scheme()+":///catalog", opts...)
	if err != nil {
		return nil, fmt.Errorf("rpcclient: dial %v: %w", cfg.Addrs, err)
	}
	return conn, nil
}
