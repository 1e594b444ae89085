package connect_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	"github.com/beaconmesh/beacon/services/health/connect"
	"github.com/beaconmesh/beacon/services/health/internal/fakecatalog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func newMesh(t *testing.T, mod func(*connect.Config)) (*connect.Mesh, *fakecatalog.CA) {
	t.Helper()
	cat := fakecatalog.New()
	_, conn := cat.Serve(t)
	cfg := connect.Config{
		CA:         connectv1.NewCAServiceClient(conn),
		Intentions: connectv1.NewIntentionServiceClient(conn),
		Datacenter: "dc1",
		Logger:     slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	m, err := connect.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m, cat.CA()
}

// checkLeaf verifies that l is a valid leaf for service chaining to the
// CA's roots, with its SPIFFE ID and a private key that matches it.
func checkLeaf(t *testing.T, ca *fakecatalog.CA, l *connect.Leaf, service string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(l.CertPEM))
	if block == nil {
		t.Fatalf("CertPEM is not PEM: %q", l.CertPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("leaf does not chain to the CA: %v", err)
	}
	wantURI := "spiffe://" + fakecatalog.TrustDomain + "/ns/default/dc/dc1/svc/" + service
	if len(cert.URIs) != 1 || cert.URIs[0].String() != wantURI || l.ServiceURI != wantURI || l.Service != service {
		t.Fatalf("leaf URIs %v, ServiceURI %q, Service %q; want %s", cert.URIs, l.ServiceURI, l.Service, wantURI)
	}
	kb, _ := pem.Decode([]byte(l.PrivateKeyPEM))
	if kb == nil || kb.Type != "EC PRIVATE KEY" {
		t.Fatalf("PrivateKeyPEM is not an EC key: %q", l.PrivateKeyPEM)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !key.PublicKey.Equal(pub) {
		t.Fatal("the private key does not match the certificate")
	}
	if !l.ValidAfter.Equal(cert.NotBefore) || !l.ValidBefore.Equal(cert.NotAfter) {
		t.Errorf("validity %v..%v, cert says %v..%v", l.ValidAfter, l.ValidBefore, cert.NotBefore, cert.NotAfter)
	}
	if l.Index == 0 {
		t.Error("leaf index is 0")
	}
	return cert
}

func TestLeafIsCachedPerService(t *testing.T) {
	m, ca := newMesh(t, nil)
	ctx := context.Background()
	web, err := m.Leaf(ctx, "web", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkLeaf(t, ca, web, "web")
	if web.RootID != ca.ActiveRootID() {
		t.Errorf("RootID %q, want %q", web.RootID, ca.ActiveRootID())
	}
	again, err := m.Leaf(ctx, "web", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if again != web {
		t.Errorf("second read: serial %s, want the cached %s", again.SerialNumber, web.SerialNumber)
	}
	db, err := m.Leaf(ctx, "db", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkLeaf(t, ca, db, "db")
	if db.PrivateKeyPEM == web.PrivateKeyPEM {
		t.Error("two services share a key")
	}
	if got := ca.Signed(); got != 2 {
		t.Errorf("CA signed %d leaves, want 2 (one per service)", got)
	}
}

func TestLeafBlockingRead(t *testing.T) {
	m, ca := newMesh(t, nil)
	ctx := context.Background()
	first, err := m.Leaf(ctx, "web", 0, 0)
	if err != nil {
		t.Fatal(err)
	}

	// Nothing new: the wait passes and the current leaf comes back.
	start := time.Now()
	same, err := m.Leaf(ctx, "web", first.Index, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if same != first || time.Since(start) < 100*time.Millisecond {
		t.Errorf("after %v got serial %s; want the same leaf after the wait", time.Since(start), same.SerialNumber)
	}

	// A rotation wakes the read with a new leaf from the new root.
	type answer struct {
		l   *connect.Leaf
		err error
	}
	done := make(chan answer, 1)
	go func() {
		l, err := m.Leaf(ctx, "web", first.Index, 30*time.Second)
		done <- answer{l, err}
	}()
	ca.Rotate()
	var got answer
	select {
	case got = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the blocking read did not return after a rotation")
	}
	if got.err != nil {
		t.Fatal(got.err)
	}
	if got.l.Index <= first.Index || got.l.SerialNumber == first.SerialNumber {
		t.Fatalf("after rotation: index %d serial %s; had index %d serial %s", got.l.Index, got.l.SerialNumber, first.Index, first.SerialNumber)
	}
	if got.l.RootID != ca.ActiveRootID() || got.l.Index < ca.Index() {
		t.Errorf("new leaf: root %q index %d; want root %q and an index at least the rotation's %d",
			got.l.RootID, got.l.Index, ca.ActiveRootID(), ca.Index())
	}
	checkLeaf(t, ca, got.l, "web")
}

func TestLeafRefusesBadNames(t *testing.T) {
	m, ca := newMesh(t, nil)
	for _, name := range []string{"", "a/b", "web svc", "-web", strings.Repeat("a", 300), "we*b"} {
		_, err := m.Leaf(context.Background(), name, 0, 0)
		if !errors.Is(err, connect.ErrInvalid) {
			t.Errorf("Leaf(%q) = %v, want ErrInvalid", name, err)
		}
	}
	if ca.Signed() != 0 {
		t.Errorf("signed %d leaves for bad names", ca.Signed())
	}
}

func TestLeafWhenTheCACannotSign(t *testing.T) {
	m, ca := newMesh(t, func(c *connect.Config) { c.FirstLeafTimeout = 300 * time.Millisecond })
	ca.SetSignError(status.Error(codes.Unavailable, "no leader"))
	_, err := m.Leaf(context.Background(), "web", 0, 0)
	if !errors.Is(err, connect.ErrNoLeaf) || !strings.Contains(err.Error(), "no leader") {
		t.Fatalf("Leaf = %v; want ErrNoLeaf naming the CA's error", err)
	}
	// The manager keeps trying; once the CA signs, the leaf comes.
	ca.SetSignError(nil)
	var l *connect.Leaf
	deadline := time.Now().Add(20 * time.Second)
	for l == nil {
		if l, err = m.Leaf(context.Background(), "web", 0, 0); err != nil && time.Now().After(deadline) {
			t.Fatalf("no leaf after the CA recovered: %v", err)
		}
	}
	checkLeaf(t, ca, l, "web")
}

func TestLeafAfterClose(t *testing.T) {
	m, _ := newMesh(t, nil)
	m.Close()
	if _, err := m.Leaf(context.Background(), "web", 0, 0); err == nil {
		t.Fatal("Leaf after Close succeeded")
	}
}

func TestAuthorize(t *testing.T) {
	uri := func(td, svc string) string { return "spiffe://" + td + "/ns/default/dc/dc1/svc/" + svc }
	td := fakecatalog.TrustDomain
	intention := func(id, src, dst string, action connectv1.IntentionAction, prec int32) *connectv1.Intention {
		return &connectv1.Intention{Id: id, SourceName: src, DestinationName: dst, Action: action, Precedence: prec}
	}
	allow, deny := connectv1.IntentionAction_INTENTION_ACTION_ALLOW, connectv1.IntentionAction_INTENTION_ACTION_DENY
	tests := []struct {
		name         string
		defaultAllow bool
		intentions   []*connectv1.Intention
		target, uri  string
		want         connect.Decision
		wantErr      string
	}{
		{name: "default allow", defaultAllow: true, target: "db", uri: uri(td, "web"),
			want: connect.Decision{Authorized: true, Reason: "Default behavior configured by ACLs"}},
		{name: "default deny", target: "db", uri: uri(td, "web"),
			want: connect.Decision{Reason: "Default behavior configured by ACLs"}},
		{name: "exact deny beats default allow", defaultAllow: true, target: "db", uri: uri(td, "web"),
			intentions: []*connectv1.Intention{intention("i1", "web", "db", deny, 9)},
			want:       connect.Decision{Reason: "Matched L4 intention: web => db (ID: i1, Precedence: 9, Action: DENY)"}},
		{name: "most precedent first wins", target: "db", uri: uri(td, "web"),
			intentions: []*connectv1.Intention{intention("i1", "web", "db", allow, 9), intention("i2", "*", "db", deny, 8)},
			want:       connect.Decision{Authorized: true, Reason: "Matched L4 intention: web => db (ID: i1, Precedence: 9, Action: ALLOW)"}},
		{name: "another source's intention is skipped", target: "db", uri: uri(td, "api"),
			intentions: []*connectv1.Intention{intention("i1", "web", "db", allow, 9), intention("i2", "*", "db", deny, 8)},
			want:       connect.Decision{Reason: "Matched L4 intention: * => db (ID: i2, Precedence: 8, Action: DENY)"}},
		{name: "wildcard destination", target: "db", uri: uri(td, "web"),
			intentions: []*connectv1.Intention{intention("i3", "web", "*", allow, 6)},
			want:       connect.Decision{Authorized: true, Reason: "Matched L4 intention: web => * (ID: i3, Precedence: 6, Action: ALLOW)"}},
		{name: "foreign trust domain", defaultAllow: true, target: "db", uri: uri("other.consul", "web"),
			want: connect.Decision{Reason: "Identity from an external trust domain: other.consul (this cluster's is " + td + ")"}},
		{name: "no target", defaultAllow: true, uri: uri(td, "web"), wantErr: "Target service must be specified"},
		{name: "not a URI", defaultAllow: true, target: "db", uri: "web", wantErr: "ClientCertURI not a valid Connect identifier"},
		{name: "not a service ID", defaultAllow: true, target: "db", uri: "spiffe://" + td + "/agent/client/dc/dc1/id/x",
			wantErr: "ClientCertURI not a valid Service identifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ca := newMesh(t, nil)
			ca.SetIntentions(tt.defaultAllow, tt.intentions...)
			got, err := m.Authorize(context.Background(), tt.target, tt.uri)
			if tt.wantErr != "" {
				if !errors.Is(err, connect.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Authorize = %+v, %v; want ErrInvalid %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Authorize = %+v, want %+v", got, tt.want)
			}
		})
	}
}
