// Package testca is a throwaway Connect CA for tests: a root, leaves with
// SPIFFE service IDs (valid, expired, for any trust domain), and the
// identities and roots the proxy's packages take.
package testca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/leaf"
)

// CA is a root certificate and its key.
type CA struct {
	TrustDomain string
	Cert        *x509.Certificate
	key         *ecdsa.PrivateKey
}

func nextSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}

// New returns a CA whose root is valid for a day around now.
func New(t testing.TB, trustDomain string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: "Test CA " + trustDomain},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{TrustDomain: trustDomain, Cert: cert, key: key}
}

// Leaf signs a leaf for service in dc1 of the CA's trust domain, valid
// from notBefore to notAfter.
func (ca *CA) Leaf(t testing.TB, service string, notBefore, notAfter time.Time) *tls.Certificate {
	t.Helper()
	id := leaf.ServiceID{TrustDomain: ca.TrustDomain, Namespace: "default", Datacenter: "dc1", Service: service}
	return ca.sign(t, id, notBefore, notAfter)
}

// ValidLeaf is Leaf valid for an hour around now.
func (ca *CA) ValidLeaf(t testing.TB, service string) *tls.Certificate {
	return ca.Leaf(t, service, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

// LeafFor signs a leaf for an arbitrary SPIFFE ID.
func (ca *CA) LeafFor(t testing.TB, id leaf.ServiceID) *tls.Certificate {
	return ca.sign(t, id, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

func (ca *CA) sign(t testing.TB, id leaf.ServiceID, notBefore, notAfter time.Time) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: id.Service},
		URIs:         nil,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if id.Service != "" {
		tmpl.URIs = append(tmpl.URIs, id.URI())
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
}

// SignCSR signs a PEM certificate request as the catalog's CA does for a
// proxy: the request's key and SPIFFE URI, valid for an hour around now.
// It returns the leaf in PEM.
func (ca *CA) SignCSR(csrPEM string) (string, error) {
	block, _ := pem.Decode([]byte(csrPEM))
	if block == nil {
		return "", errors.New("csr: no PEM block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("csr: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return "", fmt.Errorf("csr: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      csr.Subject,
		URIs:         csr.URIs,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.key)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}

// RootPEM returns the root certificate in PEM.
func (ca *CA) RootPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
}

// Roots returns roots in ca's trust domain that trust ca and also.
func (ca *CA) Roots(also ...*CA) *leaf.Roots {
	r := &leaf.Roots{TrustDomain: ca.TrustDomain, Pool: x509.NewCertPool(), Intermediates: x509.NewCertPool(), Index: 1}
	for _, c := range append([]*CA{ca}, also...) {
		r.Pool.AddCert(c.Cert)
		r.Names = append(r.Names, c.Cert.Subject.CommonName)
	}
	return r
}

// Identity is a proxy identity holding cert with roots.
func Identity(cert *tls.Certificate, roots *leaf.Roots) *leaf.Identity {
	id, _ := leaf.CertServiceID(cert.Leaf)
	return &leaf.Identity{ID: id, Certificate: cert, ValidAfter: cert.Leaf.NotBefore, ValidBefore: cert.Leaf.NotAfter, Roots: roots}
}

// Source is a fixed identity, usable as an mtls.Source.
type Source struct{ ID *leaf.Identity }

// Current returns the identity.
func (s Source) Current() *leaf.Identity { return s.ID }
