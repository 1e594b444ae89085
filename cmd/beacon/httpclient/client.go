// Package httpclient is the beacon CLI's client of the Consul-compatible
// HTTP API: addresses in every form CONSUL_HTTP_ADDR takes, the ACL token
// header, TLS, X-Consul-* read metadata, and errors that fit on one line.
// It is deliberately small so that the CLI needs no Consul client library.
package httpclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultAddress is where the agent's HTTP API listens unless told otherwise.
const DefaultAddress = "127.0.0.1:8500"

// Config says how to reach the agent.
type Config struct {
	// Address is host:port, http://host:port, https://host:port or
	// unix:///path/to/socket.
	Address string
	// HTTPS makes a bare host:port use https (CONSUL_HTTP_SSL).
	HTTPS bool
	// Token is sent as X-Consul-Token when set.
	Token string
	TLS   TLSConfig
}

// TLSConfig configures https addresses.
type TLSConfig struct {
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string
	// InsecureSkipVerify is CONSUL_HTTP_SSL_VERIFY=false.
	InsecureSkipVerify bool
}

// Client sends requests to one agent.
type Client struct {
	base  url.URL // scheme and host only
	addr  string  // the address as the user gave it, for messages
	token string
	hc    *http.Client
}

// New checks cfg and returns a client. It does not connect.
func New(cfg Config) (*Client, error) {
	addr := cfg.Address
	if addr == "" {
		addr = DefaultAddress
	}
	c := &Client{addr: addr, token: cfg.Token}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	switch {
	case strings.HasPrefix(addr, "unix://"):
		sock := strings.TrimPrefix(addr, "unix://")
		if sock == "" {
			return nil, fmt.Errorf("invalid address %q: no socket path after unix://", addr)
		}
		c.base = url.URL{Scheme: "http", Host: "unix"}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}
	default:
		raw := addr
		if !strings.Contains(raw, "://") {
			scheme := "http"
			if cfg.HTTPS {
				scheme = "https"
			}
			raw = scheme + "://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("invalid address %q: %w", addr, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("invalid address %q: scheme must be http, https or unix", addr)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("invalid address %q: no host", addr)
		}
		c.base = url.URL{Scheme: u.Scheme, Host: u.Host}
	}
	if c.base.Scheme == "https" {
		tc, err := cfg.TLS.build()
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tc
	}
	c.hc = &http.Client{Transport: tr}
	return c, nil
}

func (t TLSConfig) build() (*tls.Config, error) {
	tc := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", t.CAFile)
		}
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Meta is what the X-Consul-* headers of a read say.
type Meta struct {
	LastIndex   uint64
	KnownLeader bool
	LastContact time.Duration
}

// StatusError is an answer outside 2xx.
type StatusError struct {
	Code   int
	Body   string // trimmed, on one line
	Method string
	Path   string
	Addr   string
}

// routeMissing is the body Go's ServeMux answers an unknown path with.
const routeMissing = "404 page not found"

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("Unexpected response code: %d (%s)", e.Code, e.Body)
	if e.Code == http.StatusNotFound && e.Body == routeMissing {
		msg += fmt.Sprintf(": the agent at %s does not serve %s %s", e.Addr, e.Method, e.Path)
	}
	return msg
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

// maxErrorBody bounds how much of an error answer is kept for the message.
const maxErrorBody = 1 << 10

// Do sends a request and returns the response if its status is 2xx, else a
// *StatusError. The caller closes the body. A body of type io.Reader is
// sent as is; any other non-nil body is sent as JSON.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body any) (*http.Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encode request body: %w", err)
		}
		rd = bytes.NewReader(buf)
	}
	u := c.base
	u.Path = path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("X-Consul-Token", c.token)
	}
	req.Header.Set("User-Agent", "beacon-cli")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return nil, &StatusError{
		Code:   resp.StatusCode,
		Body:   strings.Join(strings.Fields(string(msg)), " "),
		Method: method,
		Path:   path,
		Addr:   c.addr,
	}
}

// Call sends a request and decodes a JSON answer into out (when non-nil).
func (c *Client) Call(ctx context.Context, method, path string, query url.Values, body, out any) (Meta, error) {
	resp, err := c.Do(ctx, method, path, query, body)
	if err != nil {
		return Meta{}, err
	}
	defer resp.Body.Close()
	meta := ParseMeta(resp.Header)
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return meta, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return meta, fmt.Errorf("decode the answer to %s %s: %w", method, path, err)
	}
	return meta, nil
}

// Get is Call with GET.
func (c *Client) Get(ctx context.Context, path string, query url.Values, out any) (Meta, error) {
	return c.Call(ctx, http.MethodGet, path, query, nil, out)
}

// Put is Call with PUT.
func (c *Client) Put(ctx context.Context, path string, query url.Values, body, out any) error {
	_, err := c.Call(ctx, http.MethodPut, path, query, body, out)
	return err
}

// Delete is Call with DELETE.
func (c *Client) Delete(ctx context.Context, path string, query url.Values, out any) error {
	_, err := c.Call(ctx, http.MethodDelete, path, query, nil, out)
	return err
}

// ParseMeta reads X-Consul-Index, X-Consul-KnownLeader and
// X-Consul-LastContact; missing or malformed headers read as zero.
func ParseMeta(h http.Header) Meta {
	var m Meta
	m.LastIndex, _ = strconv.ParseUint(h.Get("X-Consul-Index"), 10, 64)
	m.KnownLeader = h.Get("X-Consul-KnownLeader") == "true"
	if ms, err := strconv.ParseUint(h.Get("X-Consul-LastContact"), 10, 64); err == nil {
		m.LastContact = time.Duration(ms) * time.Millisecond
	}
	return m
}

// Transport returns what a client of another library needs to reach the
// agent the same way: the base URL (scheme and host; "http://unix" for a
// socket), the token and the HTTP client (its transport dials the socket
// and carries the TLS settings).
func (c *Client) Transport() (base url.URL, token string, hc *http.Client) {
	return c.base, c.token, c.hc
}
