package leaf

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const testTrustDomain = "11111111-2222-3333-4444-555555555555.consul"

type fakeRoot struct {
	id   string
	cert *x509.Certificate
	pem  string
	key  *ecdsa.PrivateKey
}

// fakeCA is a CA with blocking roots and real signing.
type fakeCA struct {
	t       *testing.T
	mu      sync.Mutex
	index   uint64
	roots   []*fakeRoot // the last is active
	ttl     time.Duration
	signs   int
	changed chan struct{}
}

func newFakeCA(t *testing.T, ttl time.Duration) *fakeCA {
	ca := &fakeCA{t: t, index: 1, ttl: ttl, changed: make(chan struct{})}
	ca.rotate()
	return ca
}

func (ca *fakeCA) rotate() *fakeRoot {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatal(err)
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	n := len(ca.roots) + 1
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(int64(n)), Subject: pkix.Name{CommonName: fmt.Sprintf("root %d", n)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		ca.t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	r := &fakeRoot{id: fmt.Sprintf("root-%d", n), cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
	ca.roots = append(ca.roots, r)
	ca.index++
	close(ca.changed)
	ca.changed = make(chan struct{})
	return r
}

func (ca *fakeCA) Roots(ctx context.Context, req *connectv1.RootsRequest, _ ...grpc.CallOption) (*connectv1.RootsResponse, error) {
	for {
		ca.mu.Lock()
		if ca.index > req.GetOptions().GetMinIndex() {
			resp := &connectv1.RootsResponse{Meta: &queryv1.ReadMeta{Index: ca.index}, TrustDomain: testTrustDomain, ActiveRootId: ca.roots[len(ca.roots)-1].id}
			for i, r := range ca.roots {
				resp.Roots = append(resp.Roots, &connectv1.CARoot{Id: r.id, Name: r.cert.Subject.CommonName, RootCert: r.pem, Active: i == len(ca.roots)-1})
			}
			ca.mu.Unlock()
			return resp, nil
		}
		ch := ca.changed
		ca.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}

func (ca *fakeCA) Sign(_ context.Context, req *connectv1.SignRequest, _ ...grpc.CallOption) (*connectv1.SignResponse, error) {
	block, _ := pem.Decode([]byte(req.GetCsr()))
	if block == nil {
		return nil, errors.New("csr: not PEM")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, err
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.signs++
	root := ca.roots[len(ca.roots)-1]
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(int64(1000 + ca.signs)), Subject: csr.Subject, URIs: csr.URIs,
		NotBefore: now, NotAfter: now.Add(ca.ttl),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.cert, csr.PublicKey, root.key)
	if err != nil {
		return nil, err
	}
	return &connectv1.SignResponse{Cert: &connectv1.IssuedCert{
		SerialNumber: fmt.Sprint(1000 + ca.signs),
		CertPem:      string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		ValidAfter:   timestamppb.New(tmpl.NotBefore), ValidBefore: timestamppb.New(tmpl.NotAfter),
		RootId: root.id,
	}}, nil
}

func runManager(t *testing.T, ca CA) *Manager {
	t.Helper()
	m, err := New(Config{CA: ca, Service: "web", Datacenter: "dc1", MinRenewInterval: 100 * time.Millisecond, RootChangeDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

// waitIdentity waits until cond holds for the current identity.
func waitIdentity(t *testing.T, m *Manager, within time.Duration, cond func(*Identity) bool) *Identity {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		ch := m.Changed()
		if id := m.Current(); id != nil && cond(id) {
			return id
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no matching identity within %v (current: %+v)", within, m.Current())
		}
	}
}

func TestManagerIssuesAndRotates(t *testing.T) {
	ca := newFakeCA(t, time.Hour)
	m := runManager(t, ca)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first, err := m.Ready(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := "spiffe://" + testTrustDomain + "/ns/default/dc/dc1/svc/web"
	if first.ID.String() != want || first.RootID != "root-1" || first.Certificate.Leaf == nil {
		t.Fatalf("first identity: %s from %s, want %s from root-1", first.ID, first.RootID, want)
	}
	if first.Roots.TrustDomain != testTrustDomain || first.Roots.Names[0] != "root 1" {
		t.Fatalf("roots: %+v", first.Roots)
	}

	ca.rotate()
	// The new root is trusted before a leaf of it is shown to anyone.
	trusted := waitIdentity(t, m, 5*time.Second, func(id *Identity) bool { return id.Roots.ActiveRootID == "root-2" })
	if trusted.RootID != "root-1" {
		t.Fatalf("the leaf was reissued (from %s) before the new roots were published", trusted.RootID)
	}
	second := waitIdentity(t, m, 5*time.Second, func(id *Identity) bool { return id.RootID == "root-2" })
	if second.Serial == first.Serial {
		t.Fatal("the leaf was not reissued after the root changed")
	}
	// Both roots are trusted: the old leaf stays valid during the change.
	for _, id := range []*Identity{first, second} {
		if _, err := id.Certificate.Leaf.Verify(x509.VerifyOptions{Roots: second.Roots.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("leaf from %s under the new roots: %v", id.RootID, err)
		}
	}
	if second.Roots.Names[0] != "root 2" {
		t.Errorf("active root first: %v", second.Roots.Names)
	}
}

func TestManagerRenewsBeforeExpiry(t *testing.T) {
	ca := newFakeCA(t, 2*time.Second)
	m := runManager(t, ca)
	first := waitIdentity(t, m, 5*time.Second, func(*Identity) bool { return true })
	second := waitIdentity(t, m, 3*time.Second, func(id *Identity) bool { return id.Serial != first.Serial })
	if renewedAt := time.Now(); renewedAt.After(first.ValidBefore) {
		t.Fatalf("renewed at %v, after the leaf expired at %v", renewedAt, first.ValidBefore)
	}
	if second.RootID != "root-1" {
		t.Fatalf("renewed leaf from %s", second.RootID)
	}
}

// failingCA fails its first signings.
type failingCA struct {
	*fakeCA
	mu    sync.Mutex
	fails int
}

func (f *failingCA) Sign(ctx context.Context, req *connectv1.SignRequest, opts ...grpc.CallOption) (*connectv1.SignResponse, error) {
	f.mu.Lock()
	if f.fails > 0 {
		f.fails--
		f.mu.Unlock()
		return nil, errors.New("no leader")
	}
	f.mu.Unlock()
	return f.fakeCA.Sign(ctx, req, opts...)
}

func TestManagerRetriesSigning(t *testing.T) {
	ca := &failingCA{fakeCA: newFakeCA(t, time.Hour), fails: 2}
	m := runManager(t, ca)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := m.Ready(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestParseRoots(t *testing.T) {
	ca := newFakeCA(t, time.Hour)
	good := ca.roots[0].pem
	for _, tt := range []struct {
		name string
		resp *connectv1.RootsResponse
		err  string
	}{
		{"ok", &connectv1.RootsResponse{TrustDomain: "x.consul", ActiveRootId: "a", Roots: []*connectv1.CARoot{{Id: "a", RootCert: good}}}, ""},
		{"no trust domain", &connectv1.RootsResponse{Roots: []*connectv1.CARoot{{Id: "a", RootCert: good}}}, "no trust domain"},
		{"no roots", &connectv1.RootsResponse{TrustDomain: "x.consul"}, "no root"},
		{"not PEM", &connectv1.RootsResponse{TrustDomain: "x.consul", Roots: []*connectv1.CARoot{{Id: "a", RootCert: "junk"}}}, `ca root "a"`},
		{"bad intermediate", &connectv1.RootsResponse{TrustDomain: "x.consul", Roots: []*connectv1.CARoot{{Id: "a", RootCert: good,
			IntermediateCerts: []string{"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}}}}, "intermediate_certs"},
	} {
		_, err := ParseRoots(tt.resp)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: ParseRoots = %v, want error %q", tt.name, err, tt.err)
		}
	}
}
