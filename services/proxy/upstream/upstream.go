// Package upstream finds and dials the instances of an upstream service:
// the healthy sidecars (or Connect-native instances) of the destination,
// followed with blocking queries, dialed in random order so that
// connections spread over them, moving on to another instance when one
// fails.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/beaconmesh/beacon/platform/blocking"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Health is the part of the catalog's HealthService an upstream uses;
// catalogv1.HealthServiceClient satisfies it.
type Health interface {
	ServiceHealth(ctx context.Context, in *catalogv1.ServiceHealthRequest, opts ...grpc.CallOption) (*catalogv1.ServiceHealthResponse, error)
}

// Endpoint is one instance to dial.
type Endpoint struct {
	// Addr is "host:port": the instance's service address, else its
	// node's, and the service's port.
	Addr       string
	Node       string
	ServiceID  string
	Datacenter string
}

// Handshake secures a freshly dialed connection to ep (mutual TLS, and a
// check that the peer is the destination) and returns the secured one.
type Handshake func(ctx context.Context, raw net.Conn, ep Endpoint) (net.Conn, error)

// Config configures an Upstream.
type Config struct {
	Health Health
	// Service is the destination service's name.
	Service string
	// Handshake secures each dialed connection; required.
	Handshake Handshake
	// ConnectTimeout bounds each attempt, TCP and handshake (default 10s,
	// Consul's connect_timeout_ms).
	ConnectTimeout time.Duration
	// MaxAttempts is how many instances one Dial tries at most (default 3).
	MaxAttempts int
	// MaxWait bounds each blocking query (default 5m).
	MaxWait time.Duration
	Logger  *slog.Logger
	// OnError is called on each failed catalog query.
	OnError func(error)
	// OnDialError is called on each failed attempt; handshake tells
	// whether TCP connected and the handshake then failed.
	OnDialError func(ep Endpoint, err error, handshake bool)
}

// Upstream keeps the destination's healthy instances and dials them.
type Upstream struct {
	cfg    Config
	logger *slog.Logger

	mu        sync.Mutex
	endpoints []Endpoint
	index     uint64
	loaded    chan struct{} // closed by the first answer
}

// New returns an Upstream for cfg; Run fills it.
func New(cfg Config) (*Upstream, error) {
	if cfg.Health == nil {
		return nil, errors.New("upstream: no health source")
	}
	if cfg.Service == "" {
		return nil, errors.New("upstream: no destination service")
	}
	if cfg.Handshake == nil {
		return nil, errors.New("upstream: no handshake")
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 5 * time.Minute
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Upstream{cfg: cfg, logger: logger, loaded: make(chan struct{})}, nil
}

// Service is the destination's name.
func (u *Upstream) Service() string { return u.cfg.Service }

// Run follows the destination's healthy instances until ctx ends.
func (u *Upstream) Run(ctx context.Context) error {
	_ = blocking.Loop(ctx, u.query, blocking.Options{Logger: u.logger, OnError: u.cfg.OnError})
	return nil
}

// Ready waits for the first answer.
func (u *Upstream) Ready(ctx context.Context) error {
	select {
	case <-u.loaded:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for instances of %q: %w", u.cfg.Service, ctx.Err())
	}
}

// Endpoints returns the healthy instances last seen; the caller must not
// modify the slice.
func (u *Upstream) Endpoints() []Endpoint {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.endpoints
}

func (u *Upstream) query(ctx context.Context, minIndex uint64) (uint64, error) {
	resp, err := u.cfg.Health.ServiceHealth(ctx, &catalogv1.ServiceHealthRequest{
		Options:     &queryv1.ReadOptions{MinIndex: minIndex, MaxWait: durationpb.New(u.cfg.MaxWait), Consistency: queryv1.Consistency_CONSISTENCY_STALE},
		Service:     u.cfg.Service,
		Connect:     true,
		PassingOnly: true,
	})
	if err != nil {
		return 0, fmt.Errorf("connect instances of %q: %w", u.cfg.Service, err)
	}
	eps := Endpoints(resp.GetInstances())
	index := resp.GetMeta().GetIndex()
	u.mu.Lock()
	changed := u.index != index
	u.endpoints, u.index = eps, index
	first := false
	select {
	case <-u.loaded:
	default:
		close(u.loaded)
		first = true
	}
	u.mu.Unlock()
	if first || changed {
		u.logger.Debug("upstream instances updated", "service", u.cfg.Service, "count", len(eps), "index", index)
	}
	return index, nil
}

// Endpoints turns connect instances into endpoints: the service address,
// else the node's, with the service port. Instances with neither address
// nor port are skipped.
func Endpoints(instances []*catalogv1.ServiceHealth) []Endpoint {
	out := make([]Endpoint, 0, len(instances))
	for _, in := range instances {
		host := in.GetService().GetAddress()
		if host == "" {
			host = in.GetNode().GetAddress()
		}
		port := in.GetService().GetPort()
		if host == "" || port <= 0 {
			continue
		}
		out = append(out, Endpoint{
			Addr:       net.JoinHostPort(host, strconv.Itoa(int(port))),
			Node:       in.GetNode().GetNode(),
			ServiceID:  in.GetService().GetId(),
			Datacenter: in.GetNode().GetDatacenter(),
		})
	}
	return out
}

// Dial connects to a healthy instance picked at random and secures the
// connection; when an attempt fails it tries another instance, up to
// MaxAttempts. Before the first catalog answer it waits for one, up to
// the connect timeout.
func (u *Upstream) Dial(ctx context.Context) (net.Conn, error) {
	wctx, cancel := context.WithTimeout(ctx, u.cfg.ConnectTimeout)
	err := u.Ready(wctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("dial upstream %q: %w", u.cfg.Service, err)
	}
	eps := u.Endpoints()
	if len(eps) == 0 {
		return nil, fmt.Errorf("dial upstream %q: no healthy instance", u.cfg.Service)
	}
	var errs []error
	for i, j := range rand.Perm(len(eps)) {
		if i == u.cfg.MaxAttempts {
			break
		}
		ep := eps[j]
		conn, handshake, err := u.dialOne(ctx, ep)
		if err == nil {
			return conn, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dial upstream %q: %w", u.cfg.Service, ctx.Err())
		}
		if u.cfg.OnDialError != nil {
			u.cfg.OnDialError(ep, err, handshake)
		}
		u.logger.Warn("upstream instance failed", "service", u.cfg.Service, "instance", ep.ServiceID, "addr", ep.Addr, "error", err)
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("dial upstream %q: %w", u.cfg.Service, errors.Join(errs...))
}

func (u *Upstream) dialOne(ctx context.Context, ep Endpoint) (conn net.Conn, handshake bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, u.cfg.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", ep.Addr)
	if err != nil {
		return nil, false, err
	}
	conn, err = u.cfg.Handshake(ctx, raw, ep)
	if err != nil {
		raw.Close()
		return nil, true, err
	}
	return conn, false, nil
}
