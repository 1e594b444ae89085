package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func csrFor(t *testing.T, uris ...*url.URL) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: uris}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func TestSignedLeafVerifiesAgainstItsRoot(t *testing.T) {
	now := time.Now()
	key, keyPEM, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	td := TrustDomain("11111111-2222-3333-4444-555555555555")
	root, err := NewRoot(key, td, 1, DefaultRootTTL, now)
	if err != nil {
		t.Fatal(err)
	}
	if parsed, err := ParseKey(keyPEM); err != nil || !parsed.Equal(key) {
		t.Fatalf("key round trip: %v", err)
	}
	if err := CheckKeyMatches(root.GetRootCert(), key); err != nil {
		t.Fatal(err)
	}
	leaf, err := Sign(csrFor(t, ServiceURI(td, "dc1", "web")), root.GetRootCert(), key, td, "dc1", DefaultLeafTTL, now)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.GetService() != "web" || leaf.GetServiceUri() != "spiffe://"+td+"/ns/default/dc/dc1/svc/web" || leaf.GetRootId() != root.GetId() {
		t.Errorf("issued %v", leaf)
	}
	if d := leaf.GetValidBefore().AsTime().Sub(now); d < DefaultLeafTTL-time.Minute || d > DefaultLeafTTL+time.Minute {
		t.Errorf("leaf lifetime %s, want about 72h", d)
	}
	block, _ := pem.Decode([]byte(leaf.GetCertPem()))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(root.GetRootCert()))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("leaf does not verify against its root: %v", err)
	}
	// A leaf from another CA does not verify against this root.
	otherKey, _, _ := NewKey()
	otherRoot, _ := NewRoot(otherKey, td, 2, DefaultRootTTL, now)
	other, err := Sign(csrFor(t, ServiceURI(td, "dc1", "web")), otherRoot.GetRootCert(), otherKey, td, "dc1", DefaultLeafTTL, now)
	if err != nil {
		t.Fatal(err)
	}
	block, _ = pem.Decode([]byte(other.GetCertPem()))
	foreign, _ := x509.ParseCertificate(block.Bytes)
	if _, err := foreign.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Error("a leaf of another root verified")
	}
}

func TestSignRefusesBadRequests(t *testing.T) {
	now := time.Now()
	key, _, _ := NewKey()
	td := TrustDomain("c1")
	root, _ := NewRoot(key, td, 1, DefaultRootTTL, now)
	tests := []struct {
		name string
		csr  string
		want string
	}{
		{"not PEM", "garbage", "PEM"},
		{"no URI", csrFor(t), "exactly one URI"},
		{"two URIs", csrFor(t, ServiceURI(td, "dc1", "a"), ServiceURI(td, "dc1", "b")), "exactly one URI"},
		{"foreign trust domain", csrFor(t, ServiceURI("other.consul", "dc1", "web")), "trust domain"},
		{"other datacenter", csrFor(t, ServiceURI(td, "dc9", "web")), "datacenter"},
		{"not a service", csrFor(t, &url.URL{Scheme: "spiffe", Host: td, Path: "/agent/client/dc/dc1/id/x"}), "does not name a service"},
	}
	for _, tt := range tests {
		_, err := Sign(tt.csr, root.GetRootCert(), key, td, "dc1", DefaultLeafTTL, now)
		if !errors.Is(err, ErrInvalidCSR) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrInvalidCSR mentioning %q", tt.name, err, tt.want)
		}
	}
}
