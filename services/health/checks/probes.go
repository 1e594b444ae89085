package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/health/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// prober runs one probe of a polled check; ctx carries the check's timeout.
type prober interface {
	probe(ctx context.Context) (catalogv1.HealthStatus, string)
}

// newProber returns the prober for a polled check.
func newProber(c *config.Check) (prober, error) {
	switch c.Type() {
	case config.TypeHTTP:
		return newHTTPProbe(c), nil
	case config.TypeTCP:
		return &tcpProbe{addr: c.TCP, useTLS: c.TCPUseTLS, tls: checkTLS(c)}, nil
	case config.TypeGRPC:
		addr, svc, _ := strings.Cut(c.GRPC, "/")
		return &grpcProbe{target: c.GRPC, addr: addr, service: svc, useTLS: c.GRPCUseTLS, tls: checkTLS(c)}, nil
	case config.TypeScript:
		return &scriptProbe{args: c.Args, timeout: c.Timeout}, nil
	}
	return nil, fmt.Errorf("check %q: %q is not a polled check", c.ID, c.Type())
}

func checkTLS(c *config.Check) *tls.Config {
	return &tls.Config{InsecureSkipVerify: c.TLSSkipVerify, ServerName: c.TLSServerName} //nolint:gosec // the user asked for it
}

// httpProbe is Consul's HTTP check: 2xx passing, 429 warning, anything
// else (or no answer) critical.
type httpProbe struct {
	client *http.Client
	method string
	url    string
	header http.Header
	host   string
	body   string
}

func newHTTPProbe(c *config.Check) *httpProbe {
	tr := &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   checkTLS(c),
		DialContext:       (&net.Dialer{}).DialContext,
	}
	client := &http.Client{Transport: tr}
	if c.DisableRedirects {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	h := http.Header{}
	var host string
	for k, vs := range c.Header {
		if strings.EqualFold(k, "Host") {
			if len(vs) > 0 {
				host = vs[0]
			}
			continue
		}
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", "Consul Health Check")
	}
	if h.Get("Accept") == "" {
		h.Set("Accept", "text/plain, text/*, */*")
	}
	method := c.Method
	if method == "" {
		method = http.MethodGet
	}
	return &httpProbe{client: client, method: method, url: c.HTTP, header: h, host: host, body: c.Body}
}

func (p *httpProbe) probe(ctx context.Context) (catalogv1.HealthStatus, string) {
	var body io.Reader
	if p.body != "" {
		body = strings.NewReader(p.body)
	}
	req, err := http.NewRequestWithContext(ctx, p.method, p.url, body)
	if err != nil {
		return Critical, err.Error()
	}
	req.Header = p.header.Clone()
	if p.host != "" {
		req.Host = p.host
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return Critical, err.Error()
	}
	defer resp.Body.Close()
	// Only the start of the body is kept: it is what a human reads first,
	// and a large body must not cost the agent memory.
	b, _ := io.ReadAll(io.LimitReader(resp.Body, config.OutputMax))
	out := fmt.Sprintf("HTTP %s %s: %s Output: %s", p.method, p.url, resp.Status, b)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		return Passing, out
	case resp.StatusCode == http.StatusTooManyRequests:
		return Warning, out
	}
	return Critical, out
}

// tcpProbe is Consul's TCP check: a connection (and TLS handshake, with
// tcp_use_tls) is passing.
type tcpProbe struct {
	addr   string
	useTLS bool
	tls    *tls.Config
}

func (p *tcpProbe) probe(ctx context.Context) (catalogv1.HealthStatus, string) {
	if p.useTLS {
		d := &tls.Dialer{Config: p.tls}
		conn, err := d.DialContext(ctx, "tcp", p.addr)
		if err != nil {
			return Critical, err.Error()
		}
		conn.Close()
		return Passing, fmt.Sprintf("TCP+TLS connect %s: Success", p.addr)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return Critical, err.Error()
	}
	conn.Close()
	return Passing, fmt.Sprintf("TCP connect %s: Success", p.addr)
}

// grpcProbe calls grpc.health.v1.Health/Check: SERVING is passing.
type grpcProbe struct {
	target  string
	addr    string
	service string
	useTLS  bool
	tls     *tls.Config
}

func (p *grpcProbe) probe(ctx context.Context) (catalogv1.HealthStatus, string) {
	creds := insecure.NewCredentials()
	if p.useTLS {
		creds = credentials.NewTLS(p.tls)
	}
	conn, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return Critical, fmt.Sprintf("gRPC check %s: %v", p.target, err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: p.service})
	if err != nil {
		return Critical, fmt.Sprintf("gRPC check %s: %v", p.target, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return Critical, fmt.Sprintf("gRPC check %s: serving status %s", p.target, resp.GetStatus())
	}
	return Passing, fmt.Sprintf("gRPC check %s: success", p.target)
}
