// Package mtls builds the TLS configurations of a Connect proxy: TLS 1.3
// both ways, the certificate taken from the identity in force at each
// handshake (so a renewed leaf applies to the next connection without a
// restart), and the peer verified against the trusted roots of that same
// identity, with its SPIFFE ID read from its certificate.
package mtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/beaconmesh/beacon/platform/leaf"
)

// Source gives the identity in force; *leaf.Manager satisfies it.
type Source interface {
	// Current returns nil until the first leaf is signed.
	Current() *leaf.Identity
}

// ErrNoIdentity is returned by handshakes attempted before the first leaf.
var ErrNoIdentity = errors.New("no leaf certificate yet")

// VerifyPeer checks a peer's certificate chain (leaf first, as sent)
// against roots at time now for the given use (client or server auth) and
// returns the peer's service identity. The leaf must carry a service SPIFFE
// ID in roots' trust domain.
func VerifyPeer(roots *leaf.Roots, chain []*x509.Certificate, usage x509.ExtKeyUsage, now time.Time) (leaf.ServiceID, error) {
	if roots == nil {
		return leaf.ServiceID{}, errors.New("verify peer: no trusted roots")
	}
	if len(chain) == 0 {
		return leaf.ServiceID{}, errors.New("verify peer: no certificate presented")
	}
	id, err := leaf.CertServiceID(chain[0])
	if err != nil {
		return leaf.ServiceID{}, fmt.Errorf("verify peer: %w", err)
	}
	if !strings.EqualFold(id.TrustDomain, roots.TrustDomain) {
		return id, fmt.Errorf("verify peer %s: trust domain %q is not %q", id, id.TrustDomain, roots.TrustDomain)
	}
	inter := roots.Intermediates
	if len(chain) > 1 {
		inter = roots.Intermediates.Clone()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots.Pool,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	}); err != nil {
		return id, fmt.Errorf("verify peer %s: %w", id, err)
	}
	return id, nil
}

// ServerConfig returns the public listener's TLS configuration: TLS 1.3,
// a client certificate required and verified against the current roots.
// The caller's identity is in the connection state once the handshake is
// done (see PeerID).
func ServerConfig(src Source) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			id := src.Current()
			if id == nil {
				return nil, ErrNoIdentity
			}
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				Certificates: []tls.Certificate{*id.Certificate},
				// Verification is ours (VerifyConnection): SPIFFE leaves
				// carry no name the standard checks could use, and this way
				// resumed sessions are checked again too.
				ClientAuth: tls.RequireAnyClientCert,
				VerifyConnection: func(cs tls.ConnectionState) error {
					_, err := VerifyPeer(id.Roots, cs.PeerCertificates, x509.ExtKeyUsageClientAuth, time.Now())
					return err
				},
			}, nil
		},
	}
}

// ClientConfig returns the TLS configuration for one dial to an instance
// of service: the current leaf as client certificate, and a server that
// must present a valid leaf for exactly that service (in any datacenter
// of the trust domain). It fails before the first leaf.
func ClientConfig(src Source, service string) (*tls.Config, error) {
	id := src.Current()
	if id == nil {
		return nil, ErrNoIdentity
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{*id.Certificate},
		// The standard host name check does not apply; VerifyConnection
		// checks the chain and the SPIFFE ID.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			got, err := VerifyPeer(id.Roots, cs.PeerCertificates, x509.ExtKeyUsageServerAuth, time.Now())
			if err != nil {
				return err
			}
			if !strings.EqualFold(got.Service, service) {
				return fmt.Errorf("verify peer %s: want service %q", got, service)
			}
			return nil
		},
	}, nil
}

// PeerID returns the SPIFFE ID of a verified peer.
func PeerID(cs tls.ConnectionState) (leaf.ServiceID, error) {
	if len(cs.PeerCertificates) == 0 {
		return leaf.ServiceID{}, errors.New("peer presented no certificate")
	}
	return leaf.CertServiceID(cs.PeerCertificates[0])
}

// Client secures raw as a client of service and completes the handshake
// within ctx.
func Client(ctx context.Context, src Source, service string, raw net.Conn) (*tls.Conn, error) {
	cfg, err := ClientConfig(src, service)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("tls handshake with %s (%s): %w", service, raw.RemoteAddr(), err)
	}
	return conn, nil
}
