// Package connect is the node agent's part of the service mesh: a leaf
// certificate per service, whose private key is made by and never leaves
// the agent, kept signed and renewed for the agent's life (platform/leaf),
// and the decision whether a client certificate may connect to a service,
// by the catalog's intentions.
package connect

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/beaconmesh/beacon/platform/leaf"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	"google.golang.org/grpc"
)

// Intentions is the part of the catalog's IntentionService the agent uses;
// connectv1.IntentionServiceClient satisfies it.
type Intentions interface {
	MatchIntentions(ctx context.Context, in *connectv1.MatchIntentionsRequest, opts ...grpc.CallOption) (*connectv1.MatchIntentionsResponse, error)
}

// Config configures a Mesh.
type Config struct {
	// CA signs leaves and serves the roots (connectv1.CAServiceClient).
	CA leaf.CA
	// Intentions answers authorization questions.
	Intentions Intentions
	// Datacenter goes in every leaf's SPIFFE ID.
	Datacenter string
	// FirstLeafTimeout bounds how long a read waits for a service's first
	// leaf before it fails (default 30s), so that a CA that cannot sign
	// is an error rather than a hang.
	FirstLeafTimeout time.Duration
	// RootsMaxWait bounds each blocking roots query of the leaf managers
	// (default: platform/leaf's).
	RootsMaxWait time.Duration
	// Logger receives the leaf managers' logs (default: discarded).
	Logger *slog.Logger
}

// Default and largest wait of a blocking leaf read, as Consul's.
const (
	defaultLeafWait = 5 * time.Minute
	maxLeafWait     = 10 * time.Minute
)

// ErrInvalid marks a request the agent refuses as malformed.
var ErrInvalid = errors.New("invalid request")

// ErrNoLeaf is returned when no leaf could be signed in time.
var ErrNoLeaf = errors.New("no leaf certificate")

// serviceNameRE is what a leaf may be asked for: a service name as DNS and
// a SPIFFE path segment both accept.
var serviceNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_.-]{0,253}[A-Za-z0-9_])?$`)

// Leaf is a signed leaf certificate for a service with its private key.
// It is never modified.
type Leaf struct {
	Service string
	// ServiceURI is the leaf's SPIFFE ID.
	ServiceURI   string
	SerialNumber string
	// CertPEM is the chain the CA returned, the leaf first.
	CertPEM       string
	PrivateKeyPEM string
	ValidAfter    time.Time
	ValidBefore   time.Time
	// RootID is the root that signed it.
	RootID string
	// Index grows with each new leaf of the service.
	Index uint64
}

// Mesh holds the agent's leaf managers and answers authorization
// questions. Create it with New and Close it when the agent stops.
type Mesh struct {
	cfg    Config
	logger *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	leaves map[string]*leafState
}

// leafState follows one service's leaf manager.
type leafState struct {
	m *leaf.Manager

	mu      sync.Mutex
	cur     *Leaf
	lastErr error
	changed chan struct{}
}

// New returns a Mesh for cfg; it starts nothing until a leaf is asked for.
func New(cfg Config) (*Mesh, error) {
	if cfg.CA == nil {
		return nil, errors.New("connect: no CA client")
	}
	if cfg.Intentions == nil {
		return nil, errors.New("connect: no intentions client")
	}
	if cfg.Datacenter == "" {
		return nil, errors.New("connect: no datacenter")
	}
	if cfg.FirstLeafTimeout <= 0 {
		cfg.FirstLeafTimeout = 30 * time.Second
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Mesh{cfg: cfg, logger: logger.With("component", "connect"), ctx: ctx, cancel: cancel, leaves: map[string]*leafState{}}, nil
}

// Close stops every leaf manager and waits for them.
func (m *Mesh) Close() {
	m.cancel()
	m.wg.Wait()
}

// Leaf returns the current leaf of service, starting its manager on the
// first call. With minIndex above 0 it blocks until a leaf with a greater
// index is issued, or maxWait (default 5m, at most 10m) passes, and then
// returns the current one.
func (m *Mesh) Leaf(ctx context.Context, service string, minIndex uint64, maxWait time.Duration) (*Leaf, error) {
	if service == "" {
		return nil, fmt.Errorf("%w: service is required", ErrInvalid)
	}
	if !serviceNameRE.MatchString(service) {
		return nil, fmt.Errorf("%w: service %q: want letters, digits, '-', '_' and '.'", ErrInvalid, service)
	}
	st, err := m.state(service)
	if err != nil {
		return nil, err
	}
	first, cancel := context.WithTimeout(ctx, m.cfg.FirstLeafTimeout)
	defer cancel()
	cur, err := st.wait(first, 0)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if minIndex == 0 || cur.Index > minIndex {
		return cur, nil
	}
	if maxWait <= 0 {
		maxWait = defaultLeafWait
	}
	wctx, cancel := context.WithTimeout(ctx, min(maxWait, maxLeafWait))
	defer cancel()
	next, err := st.wait(wctx, minIndex)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return st.current(), nil // the wait passed: answer with what there is
	}
	return next, nil
}

// state returns service's leaf state, starting its manager if needed.
// Managers live as long as the Mesh: the key stays in the agent and later
// reads answer from the cache.
func (m *Mesh) state(service string) (*leafState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if st, ok := m.leaves[service]; ok {
		return st, nil
	}
	if m.ctx.Err() != nil {
		return nil, fmt.Errorf("leaf certificate for %q: the agent is stopping", service)
	}
	st := &leafState{changed: make(chan struct{})}
	mgr, err := leaf.New(leaf.Config{
		CA:         m.cfg.CA,
		Service:    service,
		Datacenter: m.cfg.Datacenter,
		MaxWait:    m.cfg.RootsMaxWait,
		Logger:     m.logger.With("service", service),
		OnIssue:    st.issued,
		OnError:    st.failed,
	})
	if err != nil {
		return nil, fmt.Errorf("leaf manager for %q: %w", service, err)
	}
	st.m = mgr
	m.leaves[service] = st
	m.wg.Go(func() { _ = mgr.Run(m.ctx) })
	m.logger.Info("managing a leaf certificate", "service", service)
	return st, nil
}

// issued publishes a newly signed leaf (leaf.Config.OnIssue).
func (st *leafState) issued(id *leaf.Identity) {
	if id == nil || id.Certificate == nil {
		return
	}
	l, err := leafFrom(id)
	st.mu.Lock()
	defer st.mu.Unlock()
	if err != nil {
		st.lastErr = err
		return
	}
	if st.cur != nil && st.cur.SerialNumber == l.SerialNumber {
		return
	}
	l.Index = 1
	if st.cur != nil {
		l.Index = st.cur.Index + 1
	}
	if id.Roots != nil {
		// Follow the catalog's index so that a new leaf after a rotation
		// carries an index at least the rotation's.
		l.Index = max(l.Index, id.Roots.Index)
	}
	st.cur, st.lastErr = l, nil
	close(st.changed)
	st.changed = make(chan struct{})
}

// failed remembers the last CA failure (leaf.Config.OnError).
func (st *leafState) failed(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.lastErr = err
}

func (st *leafState) current() *Leaf {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.cur
}

// wait returns the first leaf whose index exceeds after, or fails when ctx
// ends, with the last CA error when there is no leaf at all.
func (st *leafState) wait(ctx context.Context, after uint64) (*Leaf, error) {
	for {
		st.mu.Lock()
		cur, ch := st.cur, st.changed
		st.mu.Unlock()
		if cur != nil && cur.Index > after {
			return cur, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			st.mu.Lock()
			cur, lastErr := st.cur, st.lastErr
			st.mu.Unlock()
			if cur == nil {
				if lastErr != nil {
					return nil, fmt.Errorf("%w yet: %w", ErrNoLeaf, lastErr)
				}
				return nil, fmt.Errorf("%w yet: %w", ErrNoLeaf, ctx.Err())
			}
			return nil, ctx.Err()
		}
	}
}

// leafFrom renders an identity as the API returns it.
func leafFrom(id *leaf.Identity) (*Leaf, error) {
	key, ok := id.Certificate.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("leaf %s: private key is %T, want ECDSA", id.Serial, id.Certificate.PrivateKey)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("leaf %s: encode private key: %w", id.Serial, err)
	}
	var chain []byte
	for _, c := range id.Certificate.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	return &Leaf{
		Service:       id.ID.Service,
		ServiceURI:    id.ID.String(),
		SerialNumber:  id.Serial,
		CertPEM:       string(chain),
		PrivateKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})),
		ValidAfter:    id.ValidAfter,
		ValidBefore:   id.ValidBefore,
		RootID:        id.RootID,
	}, nil
}
