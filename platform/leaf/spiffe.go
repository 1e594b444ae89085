package leaf

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ServiceID is a service's SPIFFE ID as Consul writes it:
// spiffe://<trust-domain>/ns/<namespace>/dc/<datacenter>/svc/<service>.
type ServiceID struct {
	TrustDomain string
	Namespace   string
	Datacenter  string
	Service     string
}

// URI returns the ID as a URL, as it appears in a certificate's URI SAN.
func (id ServiceID) URI() *url.URL {
	ns := id.Namespace
	if ns == "" {
		ns = "default"
	}
	return &url.URL{
		Scheme: "spiffe",
		Host:   id.TrustDomain,
		Path:   "/ns/" + ns + "/dc/" + id.Datacenter + "/svc/" + id.Service,
	}
}

func (id ServiceID) String() string { return id.URI().String() }

// ParseServiceID reads a service SPIFFE ID. Other SPIFFE IDs (an agent's,
// a root's) are errors: only services take part in connections.
func ParseServiceID(u *url.URL) (ServiceID, error) {
	if u == nil {
		return ServiceID{}, errors.New("spiffe id: empty")
	}
	if !strings.EqualFold(u.Scheme, "spiffe") || u.Host == "" {
		return ServiceID{}, fmt.Errorf("spiffe id %q: want spiffe://<trust-domain>/...", u)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 6 || parts[0] != "ns" || parts[2] != "dc" || parts[4] != "svc" ||
		parts[1] == "" || parts[3] == "" || parts[5] == "" {
		return ServiceID{}, fmt.Errorf("spiffe id %q: want path /ns/<namespace>/dc/<datacenter>/svc/<service>", u)
	}
	return ServiceID{TrustDomain: u.Host, Namespace: parts[1], Datacenter: parts[3], Service: parts[5]}, nil
}

// CertServiceID returns the service SPIFFE ID in cert's first spiffe URI SAN.
func CertServiceID(cert *x509.Certificate) (ServiceID, error) {
	for _, u := range cert.URIs {
		if strings.EqualFold(u.Scheme, "spiffe") {
			return ParseServiceID(u)
		}
	}
	return ServiceID{}, fmt.Errorf("certificate %q has no spiffe URI SAN", cert.Subject.CommonName)
}
