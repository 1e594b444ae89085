package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/leaf"
	"github.com/beaconmesh/beacon/services/proxy/internal/testca"
)

func TestVerifyPeer(t *testing.T) {
	const td = "11111111-2222-3333-4444-555555555555.consul"
	ca := testca.New(t, td)
	old := testca.New(t, td)     // a rotated-out root, still trusted
	foreign := testca.New(t, td) // same trust domain, not trusted
	other := testca.New(t, "other.consul")
	now := time.Now()
	chain := func(c *tls.Certificate) []*x509.Certificate { return []*x509.Certificate{c.Leaf} }

	tests := []struct {
		name    string
		chain   []*x509.Certificate
		usage   x509.ExtKeyUsage
		want    string // service on success
		wantErr string
	}{
		{"valid client", chain(ca.ValidLeaf(t, "web")), x509.ExtKeyUsageClientAuth, "web", ""},
		{"valid server", chain(ca.ValidLeaf(t, "db")), x509.ExtKeyUsageServerAuth, "db", ""},
		{"leaf of the old root during rotation", chain(old.ValidLeaf(t, "web")), x509.ExtKeyUsageClientAuth, "web", ""},
		{"no certificate", nil, x509.ExtKeyUsageClientAuth, "", "no certificate presented"},
		{"wrong trust domain", chain(other.ValidLeaf(t, "web")), x509.ExtKeyUsageClientAuth, "", `trust domain "other.consul"`},
		{"wrong trust domain from a trusted root", chain(ca.LeafFor(t, leaf.ServiceID{TrustDomain: "other.consul", Namespace: "default", Datacenter: "dc1", Service: "web"})), x509.ExtKeyUsageClientAuth, "", `trust domain "other.consul"`},
		{"unknown root", chain(foreign.ValidLeaf(t, "web")), x509.ExtKeyUsageClientAuth, "", "unknown authority"},
		{"expired", chain(ca.Leaf(t, "web", now.Add(-2*time.Hour), now.Add(-time.Hour))), x509.ExtKeyUsageClientAuth, "", "expired"},
		{"not yet valid", chain(ca.Leaf(t, "web", now.Add(time.Hour), now.Add(2*time.Hour))), x509.ExtKeyUsageClientAuth, "", "expired or is not yet valid"},
		{"no spiffe id", chain(ca.LeafFor(t, leaf.ServiceID{TrustDomain: td})), x509.ExtKeyUsageClientAuth, "", "no spiffe URI SAN"},
	}
	roots := ca.Roots(old)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := VerifyPeer(roots, tt.chain, tt.usage, now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("VerifyPeer = %v, %v; want an error containing %q", id, err, tt.wantErr)
				}
				return
			}
			if err != nil || id.Service != tt.want || id.TrustDomain != td {
				t.Fatalf("VerifyPeer = %v, %v; want service %q in %s", id, err, tt.want, td)
			}
		})
	}
}

func TestConfigsNeedAnIdentity(t *testing.T) {
	if _, err := ClientConfig(testca.Source{}, "db"); err != ErrNoIdentity {
		t.Fatalf("ClientConfig without identity: %v, want ErrNoIdentity", err)
	}
	if _, err := ServerConfig(testca.Source{}).GetConfigForClient(&tls.ClientHelloInfo{}); err != ErrNoIdentity {
		t.Fatalf("server config without identity: %v, want ErrNoIdentity", err)
	}
}
