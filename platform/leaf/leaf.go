// Package leaf keeps a proxy's identity current: the CA's trusted roots,
// followed with blocking queries, and a leaf certificate for the proxied
// service, signed by the catalog's CA from a locally generated key and
// renewed before it expires and whenever the active root changes. Readers
// take immutable snapshots (Identity), so TLS handshakes always see a
// certificate and the roots it was checked against together.
package leaf

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beaconmesh/beacon/platform/blocking"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
)

// CA is the part of the catalog's CAService the proxy uses;
// connectv1.CAServiceClient satisfies it, and tests hand in fakes.
type CA interface {
	// Roots blocks until the roots' index exceeds the request's min_index.
	Roots(ctx context.Context, in *connectv1.RootsRequest, opts ...grpc.CallOption) (*connectv1.RootsResponse, error)
	// Sign signs a CSR whose URI SAN is the service's SPIFFE ID.
	Sign(ctx context.Context, in *connectv1.SignRequest, opts ...grpc.CallOption) (*connectv1.SignResponse, error)
}

// Config configures a Manager.
type Config struct {
	// CA signs leaves and serves the roots.
	CA CA
	// Service is the name the leaf certifies; Datacenter goes in its ID.
	Service    string
	Datacenter string
	// MaxWait bounds each blocking roots query (default 5m).
	MaxWait time.Duration
	// MinRenewInterval is the least time between two signing requests
	// (default 1s), so that a CA issuing short-lived or already half-spent
	// leaves cannot make the proxy spin.
	MinRenewInterval time.Duration
	// SignTimeout bounds one Sign call (default 30s).
	SignTimeout time.Duration
	// RootChangeDelay is how long after a change of the active root the
	// leaf is reissued (default 1s; a random point between half of it and
	// all of it). The new roots are trusted at once; the new leaf waits
	// so that peers, following the roots with their own blocking queries,
	// trust its root before they are shown it.
	RootChangeDelay time.Duration
	// Logger receives issuance and failure logs (default: discarded).
	Logger *slog.Logger
	// OnIssue is called with each new identity after a leaf is signed.
	OnIssue func(*Identity)
	// OnError is called on each failed CA call.
	OnError func(error)
}

// Roots is one answer of the CA's roots, parsed.
type Roots struct {
	// TrustDomain is "<cluster-id>.consul".
	TrustDomain  string
	ActiveRootID string
	// Pool holds every trusted root, active or not: leaves signed by a
	// rotated-out root stay valid until they expire.
	Pool *x509.CertPool
	// Intermediates are the roots' intermediate certificates (cross-signed
	// after a rotation), used to build chains for peers that send none.
	Intermediates *x509.CertPool
	// Names are the roots' names, the active one first.
	Names []string
	// Index is the catalog index of the answer.
	Index uint64
}

// Identity is a signed leaf with the roots current when it was published.
// It is never modified: a renewal or a roots change publishes a new one.
type Identity struct {
	ID ServiceID
	// Certificate holds the chain the CA returned, the private key and the
	// parsed leaf.
	Certificate *tls.Certificate
	Serial      string
	ValidAfter  time.Time
	ValidBefore time.Time
	// RootID is the root that signed the leaf.
	RootID string
	Roots  *Roots
}

// Manager keeps an Identity current. Create it with New and call Run.
type Manager struct {
	cfg    Config
	logger *slog.Logger

	cur   atomic.Pointer[Identity]
	renew chan struct{}

	mu      sync.Mutex
	roots   *Roots
	leaf    *Identity // the last signed leaf; its Roots are not kept current
	changed chan struct{}
}

// New returns a Manager for cfg.
func New(cfg Config) (*Manager, error) {
	if cfg.CA == nil {
		return nil, errors.New("leaf: no CA")
	}
	if cfg.Service == "" {
		return nil, errors.New("leaf: no service name")
	}
	if cfg.Datacenter == "" {
		return nil, errors.New("leaf: no datacenter")
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 5 * time.Minute
	}
	if cfg.MinRenewInterval <= 0 {
		cfg.MinRenewInterval = time.Second
	}
	if cfg.SignTimeout <= 0 {
		cfg.SignTimeout = 30 * time.Second
	}
	if cfg.RootChangeDelay <= 0 {
		cfg.RootChangeDelay = time.Second
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, logger: logger, renew: make(chan struct{}, 1), changed: make(chan struct{})}, nil
}

// Current returns the identity in force, or nil before the first leaf.
func (m *Manager) Current() *Identity { return m.cur.Load() }

// Changed returns a channel closed at the next change of the roots or the
// leaf. Take it before reading Current to miss nothing.
func (m *Manager) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// Ready waits for the first identity.
func (m *Manager) Ready(ctx context.Context) (*Identity, error) {
	for {
		ch := m.Changed()
		if id := m.Current(); id != nil {
			return id, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for leaf certificate of %q: %w", m.cfg.Service, ctx.Err())
		case <-ch:
		}
	}
}

// Run follows the roots and keeps a leaf signed until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = blocking.Loop(ctx, m.queryRoots, blocking.Options{Logger: m.logger, OnError: m.cfg.OnError})
	})
	m.renewLoop(ctx)
	cancel()
	wg.Wait()
	return nil
}

func (m *Manager) queryRoots(ctx context.Context, minIndex uint64) (uint64, error) {
	resp, err := m.cfg.CA.Roots(ctx, &connectv1.RootsRequest{Options: &queryv1.ReadOptions{
		MinIndex: minIndex,
		MaxWait:  durationpb.New(m.cfg.MaxWait),
	}})
	if err != nil {
		return 0, fmt.Errorf("ca roots: %w", err)
	}
	index := resp.GetMeta().GetIndex()
	if prev := m.currentRoots(); prev != nil && prev.Index == index {
		return index, nil // the wait ended without a change
	}
	roots, err := ParseRoots(resp)
	if err != nil {
		// Keep the roots in force; the next answer may be better.
		m.logger.Error("ignoring CA roots", "error", err, "index", index)
		if m.cfg.OnError != nil {
			m.cfg.OnError(err)
		}
		return index, nil
	}
	m.setRoots(roots)
	return index, nil
}

// ParseRoots checks and parses a Roots answer.
func ParseRoots(resp *connectv1.RootsResponse) (*Roots, error) {
	if resp.GetTrustDomain() == "" {
		return nil, errors.New("ca roots: no trust domain")
	}
	r := &Roots{
		TrustDomain:   resp.GetTrustDomain(),
		ActiveRootID:  resp.GetActiveRootId(),
		Pool:          x509.NewCertPool(),
		Intermediates: x509.NewCertPool(),
		Index:         resp.GetMeta().GetIndex(),
	}
	var names []string
	for _, root := range resp.GetRoots() {
		certs, err := parsePEMCerts(root.GetRootCert())
		if err != nil || len(certs) == 0 {
			return nil, fmt.Errorf("ca root %q: root_cert: %w", root.GetId(), errors.Join(err, errors.New("no certificate")))
		}
		for _, c := range certs {
			r.Pool.AddCert(c)
		}
		for _, in := range root.GetIntermediateCerts() {
			ics, err := parsePEMCerts(in)
			if err != nil {
				return nil, fmt.Errorf("ca root %q: intermediate_certs: %w", root.GetId(), err)
			}
			for _, c := range ics {
				r.Intermediates.AddCert(c)
			}
		}
		name := cmp.Or(root.GetName(), root.GetId())
		if root.GetId() == r.ActiveRootID {
			names = append([]string{name}, names...)
		} else {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, errors.New("ca roots: no root")
	}
	r.Names = names
	return r, nil
}

func (m *Manager) currentRoots() *Roots {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.roots
}

func (m *Manager) setRoots(r *Roots) {
	m.mu.Lock()
	prev := m.roots
	m.roots = r
	m.publishLocked()
	m.mu.Unlock()
	if prev != nil && prev.ActiveRootID != r.ActiveRootID {
		m.logger.Info("CA active root changed; renewing leaf", "from", prev.ActiveRootID, "to", r.ActiveRootID)
		select {
		case m.renew <- struct{}{}:
		default:
		}
	}
}

func (m *Manager) setLeaf(id *Identity) *Identity {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.leaf = id
	return m.publishLocked()
}

// publishLocked makes the leaf with the current roots the identity in force
// and wakes whoever waits on Changed.
func (m *Manager) publishLocked() *Identity {
	var id *Identity
	if m.leaf != nil && m.roots != nil {
		cp := *m.leaf
		cp.Roots = m.roots
		id = &cp
		m.cur.Store(id)
	}
	close(m.changed)
	m.changed = make(chan struct{})
	return id
}

func (m *Manager) renewLoop(ctx context.Context) {
	// Nothing can be signed before the trust domain is known.
	for m.currentRoots() == nil {
		ch := m.Changed()
		if m.currentRoots() != nil {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
	var last time.Time
	for {
		if !last.IsZero() {
			if !sleep(ctx, time.Until(last.Add(m.cfg.MinRenewInterval))) {
				return
			}
		}
		id := m.issue(ctx)
		if id == nil {
			return
		}
		last = time.Now()
		at := RenewAt(id.ValidAfter, id.ValidBefore, time.Now(), mrand.Float64())
		m.logger.Debug("leaf renewal scheduled", "serial", id.Serial, "at", at)
		t := time.NewTimer(time.Until(at))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
			m.logger.Info("renewing leaf certificate", "serial", id.Serial, "valid_before", id.ValidBefore)
		case <-m.renew:
			t.Stop()
			d := m.cfg.RootChangeDelay
			if !sleep(ctx, d/2+mrand.N(d/2+1)) {
				return
			}
		}
	}
}

// issue signs a leaf, retrying with backoff until it succeeds (it returns
// the published identity) or ctx ends (nil).
func (m *Manager) issue(ctx context.Context) *Identity {
	backoff := 100 * time.Millisecond
	for {
		// A root change seen from here on is handled by this signing.
		select {
		case <-m.renew:
		default:
		}
		leaf, err := m.sign(ctx)
		if err == nil {
			id := m.setLeaf(leaf)
			m.logger.Info("leaf certificate issued", "spiffe_id", leaf.ID.String(), "serial", leaf.Serial,
				"valid_before", leaf.ValidBefore.UTC().Format(time.RFC3339), "root_id", leaf.RootID)
			if m.cfg.OnIssue != nil {
				m.cfg.OnIssue(id)
			}
			return id
		}
		if ctx.Err() != nil {
			return nil
		}
		if m.cfg.OnError != nil {
			m.cfg.OnError(err)
		}
		wait := backoff/2 + mrand.N(backoff/2+1)
		m.logger.Warn("leaf certificate signing failed; retrying", "error", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return nil
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// sign makes a fresh key and has the CA sign a leaf for it.
func (m *Manager) sign(ctx context.Context) (*Identity, error) {
	roots := m.currentRoots()
	want := ServiceID{TrustDomain: roots.TrustDomain, Namespace: "default", Datacenter: m.cfg.Datacenter, Service: m.cfg.Service}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate leaf key: %w", err)
	}
	csr, err := CSR(key, want)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, m.cfg.SignTimeout)
	defer cancel()
	resp, err := m.cfg.CA.Sign(sctx, &connectv1.SignRequest{Csr: csr})
	if err != nil {
		return nil, fmt.Errorf("ca sign %s: %w", want, err)
	}
	issued := resp.GetCert()
	certs, err := parsePEMCerts(issued.GetCertPem())
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("ca sign %s: cert_pem: %w", want, errors.Join(err, errors.New("no certificate")))
	}
	leaf := certs[0]
	if !key.PublicKey.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("ca sign %s: the issued certificate is for another key", want)
	}
	got, err := CertServiceID(leaf)
	if err != nil {
		return nil, fmt.Errorf("ca sign %s: %w", want, err)
	}
	if !strings.EqualFold(got.Service, want.Service) || !strings.EqualFold(got.Datacenter, want.Datacenter) {
		return nil, fmt.Errorf("ca sign %s: the issued certificate is for %s", want, got)
	}
	chain := make([][]byte, len(certs))
	for i, c := range certs {
		chain[i] = c.Raw
	}
	id := &Identity{
		ID:          got,
		Certificate: &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf},
		Serial:      cmp.Or(issued.GetSerialNumber(), leaf.SerialNumber.String()),
		ValidAfter:  leaf.NotBefore,
		ValidBefore: leaf.NotAfter,
		RootID:      issued.GetRootId(),
	}
	if issued.GetValidAfter().IsValid() && issued.GetValidBefore().IsValid() {
		id.ValidAfter, id.ValidBefore = issued.GetValidAfter().AsTime(), issued.GetValidBefore().AsTime()
	}
	return id, nil
}

// CSR returns a PEM certificate request for id signed by key: the SPIFFE ID
// as URI SAN and the service name as common name, as Consul's agent makes.
func CSR(key *ecdsa.PrivateKey, id ServiceID) (string, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:            pkix.Name{CommonName: id.Service},
		URIs:               []*url.URL{id.URI()},
		SignatureAlgorithm: x509.ECDSAWithSHA256,
	}, key)
	if err != nil {
		return "", fmt.Errorf("create csr for %s: %w", id, err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

// RenewAt is when a leaf valid from validAfter to validBefore should be
// renewed, as Consul's agent does it: at a random point between 60% and 90%
// of its lifetime (r in [0, 1) picks it), or now once 90% has passed.
func RenewAt(validAfter, validBefore, now time.Time, r float64) time.Time {
	lifetime := validBefore.Sub(validAfter)
	if lifetime <= 0 {
		return now
	}
	hard := validAfter.Add(lifetime / 10 * 9)
	if !now.Before(hard) {
		return now
	}
	soft := validAfter.Add(lifetime/10*6 + time.Duration(r*float64(lifetime/10*3)))
	if soft.Before(now) {
		return now
	}
	return soft
}

func parsePEMCerts(s string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
