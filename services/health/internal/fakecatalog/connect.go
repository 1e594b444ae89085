package fakecatalog

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// CA stands in for the catalog's CAService and IntentionService: a real
// ECDSA root that signs CSRs, rotation that keeps the old root trusted,
// blocking roots reads, and intentions a test sets, matched by destination
// in the order given (most precedent first, as the catalog answers).
type CA struct {
	connectv1.UnimplementedCAServiceServer
	connectv1.UnimplementedIntentionServiceServer

	mu           sync.Mutex
	index        uint64
	changed      chan struct{}
	trustDomain  string
	roots        []*fakeRoot
	leafTTL      time.Duration
	signed       int
	signErr      error
	intentions   []*connectv1.Intention
	defaultAllow bool
}

type fakeRoot struct {
	id   string
	cert *x509.Certificate
	pem  string
	key  *ecdsa.PrivateKey
	at   uint64
}

// NewCA returns a CA for trustDomain with one root, leaves valid for 72h
// and default allow.
func NewCA(trustDomain string) *CA {
	ca := &CA{index: 10, changed: make(chan struct{}), trustDomain: trustDomain, leafTTL: 72 * time.Hour, defaultAllow: true}
	ca.addRootLocked()
	return ca
}

// Rotate makes a new active root; the old ones stay trusted.
func (ca *CA) Rotate() {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.addRootLocked()
	ca.bumpLocked()
}

// SetLeafTTL sets the lifetime of the leaves signed from now on.
func (ca *CA) SetLeafTTL(d time.Duration) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.leafTTL = d
}

// SetSignError makes Sign fail with err (nil: sign again).
func (ca *CA) SetSignError(err error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.signErr = err
}

// SetIntentions replaces the intentions (most precedent first) and the
// default decision.
func (ca *CA) SetIntentions(defaultAllow bool, ins ...*connectv1.Intention) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.intentions, ca.defaultAllow = ins, defaultAllow
	ca.bumpLocked()
}

// Signed returns how many leaves were signed.
func (ca *CA) Signed() int {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.signed
}

// Pool returns every trusted root.
func (ca *CA) Pool() *x509.CertPool {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	p := x509.NewCertPool()
	for _, r := range ca.roots {
		p.AddCert(r.cert)
	}
	return p
}

// ActiveRootID returns the ID of the root that signs.
func (ca *CA) ActiveRootID() string {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.roots[len(ca.roots)-1].id
}

// Index returns the index of the last change.
func (ca *CA) Index() uint64 {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return ca.index
}

func (ca *CA) bumpLocked() {
	ca.index++
	close(ca.changed)
	ca.changed = make(chan struct{})
}

func (ca *CA) addRootLocked() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	n := len(ca.roots) + 1
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(int64(n)),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("Fake CA Root %d", n)},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(24 * time.Hour * 365),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca.roots = append(ca.roots, &fakeRoot{
		id:   fmt.Sprintf("root-%d", n),
		cert: cert,
		pem:  string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		key:  key,
		at:   ca.index + 1,
	})
}

// Roots implements connectv1.CAServiceServer, blocking on min_index.
func (ca *CA) Roots(ctx context.Context, req *connectv1.RootsRequest) (*connectv1.RootsResponse, error) {
	ca.wait(ctx, req.GetOptions())
	ca.mu.Lock()
	defer ca.mu.Unlock()
	resp := &connectv1.RootsResponse{Meta: &queryv1.ReadMeta{Index: ca.index, KnownLeader: true}, TrustDomain: ca.trustDomain}
	for i, r := range ca.roots {
		active := i == len(ca.roots)-1
		if active {
			resp.ActiveRootId = r.id
		}
		resp.Roots = append(resp.Roots, &connectv1.CARoot{
			Id: r.id, Name: r.cert.Subject.CommonName, RootCert: r.pem, Active: active,
			NotBefore: timestamppb.New(r.cert.NotBefore), NotAfter: timestamppb.New(r.cert.NotAfter),
			CreateIndex: r.at, ModifyIndex: ca.index,
		})
	}
	return resp, nil
}

func (ca *CA) wait(ctx context.Context, o *queryv1.ReadOptions) {
	if o.GetMinIndex() == 0 {
		return
	}
	wait := o.GetMaxWait().AsDuration()
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		ca.mu.Lock()
		idx, ch := ca.index, ca.changed
		ca.mu.Unlock()
		if idx > o.GetMinIndex() {
			return
		}
		select {
		case <-ch:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// Sign implements connectv1.CAServiceServer: it checks the CSR's signature
// and SPIFFE ID and signs it with the active root.
func (ca *CA) Sign(_ context.Context, req *connectv1.SignRequest) (*connectv1.SignResponse, error) {
	block, _ := pem.Decode([]byte(req.GetCsr()))
	if block == nil {
		return nil, status.Error(codes.InvalidArgument, "csr: not PEM")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err == nil {
		err = csr.CheckSignature()
	}
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "csr: %v", err)
	}
	if len(csr.URIs) != 1 {
		return nil, status.Error(codes.InvalidArgument, "csr: want one URI SAN")
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if ca.signErr != nil {
		return nil, ca.signErr
	}
	uri := csr.URIs[0]
	if uri.Host != ca.trustDomain {
		return nil, status.Errorf(codes.InvalidArgument, "csr: trust domain %q is not %q", uri.Host, ca.trustDomain)
	}
	root := ca.roots[len(ca.roots)-1]
	ca.signed++
	now := time.Now().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(int64(1000 + ca.signed)),
		Subject:      pkix.Name{CommonName: csr.Subject.CommonName},
		URIs:         csr.URIs,
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(ca.leafTTL),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.cert, csr.PublicKey, root.key)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "sign: %v", err)
	}
	svc := uri.Path[strings.LastIndex(uri.Path, "/")+1:]
	return &connectv1.SignResponse{Cert: &connectv1.IssuedCert{
		SerialNumber: fmt.Sprintf("%02x:%02x", (1000+ca.signed)>>8, (1000+ca.signed)&0xff),
		CertPem:      string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Service:      svc,
		ServiceUri:   uri.String(),
		ValidAfter:   timestamppb.New(tmpl.NotBefore),
		ValidBefore:  timestamppb.New(tmpl.NotAfter),
		RootId:       root.id,
	}}, nil
}

// MatchIntentions implements connectv1.IntentionServiceServer for
// destinations, as the agent asks.
func (ca *CA) MatchIntentions(_ context.Context, req *connectv1.MatchIntentionsRequest) (*connectv1.MatchIntentionsResponse, error) {
	if req.GetBy() != connectv1.MatchBy_MATCH_BY_DESTINATION {
		return nil, status.Error(codes.InvalidArgument, "the fake matches by destination only")
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	resp := &connectv1.MatchIntentionsResponse{
		Meta:         &queryv1.ReadMeta{Index: ca.index, KnownLeader: true},
		Matches:      map[string]*connectv1.IntentionList{},
		DefaultAllow: ca.defaultAllow,
	}
	for _, n := range req.GetNames() {
		l := &connectv1.IntentionList{}
		for _, in := range ca.intentions {
			if d := in.GetDestinationName(); d == n || d == "*" {
				l.Intentions = append(l.Intentions, in)
			}
		}
		resp.Matches[n] = l
	}
	return resp, nil
}
