// Package ca is the catalog's built-in certificate authority: it makes
// roots (ECDSA P-256, self-signed, with the trust domain's SPIFFE URI) and
// signs leaf certificates for SPIFFE service IDs, as Consul's built-in CA
// provider does. It holds no state; the catalog stores roots and keys in
// Raft.
package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // fingerprints and key IDs, as X.509 does; not a security boundary
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"regexp"
	"strings"
	"time"

	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Defaults of Consul's built-in CA.
const (
	DefaultLeafTTL = 72 * time.Hour
	DefaultRootTTL = 10 * 365 * 24 * time.Hour
)

// ErrInvalidCSR is a certificate request the CA refuses.
var ErrInvalidCSR = errors.New("invalid certificate request")

// TrustDomain is the SPIFFE trust domain of a cluster.
func TrustDomain(clusterID string) string { return clusterID + ".consul" }

// ServiceURI is the SPIFFE ID of a service.
func ServiceURI(trustDomain, dc, service string) *url.URL {
	return &url.URL{Scheme: "spiffe", Host: trustDomain, Path: fmt.Sprintf("/ns/default/dc/%s/svc/%s", dc, service)}
}

var servicePath = regexp.MustCompile(`^/ns/default/dc/([^/]+)/svc/([^/]+)$`)

// ParseServiceURI returns the datacenter and service of a SPIFFE service ID.
func ParseServiceURI(u *url.URL) (trustDomain, dc, service string, err error) {
	if u == nil || u.Scheme != "spiffe" || u.Host == "" {
		return "", "", "", fmt.Errorf("%q is not a SPIFFE ID", u)
	}
	m := servicePath.FindStringSubmatch(u.Path)
	if m == nil {
		return "", "", "", fmt.Errorf("SPIFFE ID %q does not name a service (/ns/default/dc/<dc>/svc/<name>)", u)
	}
	return u.Host, m[1], m[2], nil
}

// NewKey returns a new P-256 key and its PEM encoding.
func NewKey() (*ecdsa.PrivateKey, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, "", fmt.Errorf("encode key: %w", err)
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})), nil
}

// ParseKey reads a PEM EC private key.
func ParseKey(keyPEM string) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		return nil, errors.New("private key: no PEM block")
	}
	if key, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return key, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, errors.New("private key: want an ECDSA P-256 key")
	}
	return key, nil
}

// NewRoot makes a self-signed root for trustDomain with key, valid for ttl.
func NewRoot(key *ecdsa.PrivateKey, trustDomain string, serial int, ttl time.Duration, now time.Time) (*connectv1.CARoot, error) {
	sn, err := randomSerial()
	if err != nil {
		return nil, err
	}
	skid, err := keyID(key.Public())
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("Beacon CA %d", serial)},
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: trustDomain}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(ttl),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		SubjectKeyId:          skid,
		AuthorityKeyId:        skid,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create root: %w", err)
	}
	return RootFromPEM(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), fmt.Sprintf("Beacon CA Primary Cert %d", serial))
}

// RootFromPEM describes a root certificate as a CARoot (not yet active).
func RootFromPEM(certPEM, name string) (*connectv1.CARoot, error) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, errors.New("root certificate is not a CA")
	}
	return &connectv1.CARoot{
		Id:             colonHex(sha1Sum(cert.Raw)),
		Name:           name,
		SerialNumber:   colonHex(cert.SerialNumber.Bytes()),
		SigningKeyId:   colonHex(cert.SubjectKeyId),
		NotBefore:      timestamppb.New(cert.NotBefore),
		NotAfter:       timestamppb.New(cert.NotAfter),
		RootCert:       certPEM,
		PrivateKeyType: "ec",
		PrivateKeyBits: 256,
	}, nil
}

// Sign checks csrPEM and signs a leaf for its SPIFFE service ID with the
// root rootPEM and its key.
func Sign(csrPEM, rootPEM string, key *ecdsa.PrivateKey, trustDomain, dc string, ttl time.Duration, now time.Time) (*connectv1.IssuedCert, error) {
	block, _ := pem.Decode([]byte(csrPEM))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: csr is not a PEM CERTIFICATE REQUEST", ErrInvalidCSR)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrInvalidCSR, err)
	}
	if len(csr.URIs) != 1 {
		return nil, fmt.Errorf("%w: want exactly one URI SAN, got %d", ErrInvalidCSR, len(csr.URIs))
	}
	td, csrDC, service, err := ParseServiceURI(csr.URIs[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidCSR, err)
	}
	if !strings.EqualFold(td, trustDomain) {
		return nil, fmt.Errorf("%w: trust domain %q is not this cluster's %q", ErrInvalidCSR, td, trustDomain)
	}
	if csrDC != dc {
		return nil, fmt.Errorf("%w: datacenter %q is not %q", ErrInvalidCSR, csrDC, dc)
	}
	root, err := parseCert(rootPEM)
	if err != nil {
		return nil, err
	}
	sn, err := randomSerial()
	if err != nil {
		return nil, err
	}
	skid, err := keyID(csr.PublicKey)
	if err != nil {
		return nil, err
	}
	uri := ServiceURI(trustDomain, dc, service)
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: service},
		URIs:                  []*url.URL{uri},
		DNSNames:              []string{service + ".svc.default." + trustDomain},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(ttl),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		SubjectKeyId:          skid,
		AuthorityKeyId:        root.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, csr.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("sign leaf: %w", err)
	}
	return &connectv1.IssuedCert{
		SerialNumber: colonHex(sn.Bytes()),
		CertPem:      string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Service:      service,
		ServiceUri:   uri.String(),
		ValidAfter:   timestamppb.New(tmpl.NotBefore),
		ValidBefore:  timestamppb.New(tmpl.NotAfter),
		RootId:       colonHex(sha1Sum(root.Raw)),
	}, nil
}

// CheckKeyMatches verifies that key is the key of the root certPEM.
func CheckKeyMatches(certPEM string, key *ecdsa.PrivateKey) error {
	cert, err := parseCert(certPEM)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(key.Public()) {
		return errors.New("root certificate does not match the private key")
	}
	return nil
}

func parseCert(certPEM string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("certificate: no PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	return cert, nil
}

func randomSerial() (*big.Int, error) {
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return sn.Add(sn, big.NewInt(1)), nil
}

func keyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	sum := sha1Sum(der)
	return sum, nil
}

func sha1Sum(b []byte) []byte {
	s := sha1.Sum(b) //nolint:gosec // see the import
	return s[:]
}

func colonHex(b []byte) string {
	var buf bytes.Buffer
	for i, c := range b {
		if i > 0 {
			buf.WriteByte(':')
		}
		fmt.Fprintf(&buf, "%02x", c)
	}
	return buf.String()
}
