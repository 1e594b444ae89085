package httpclient

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewAddress(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		want  string // scheme://host
		error string
	}{
		{name: "default", cfg: Config{}, want: "http://127.0.0.1:8500"},
		{name: "host:port", cfg: Config{Address: "10.0.0.1:8500"}, want: "http://10.0.0.1:8500"},
		{name: "host:port with CONSUL_HTTP_SSL", cfg: Config{Address: "consul.local:8501", HTTPS: true}, want: "https://consul.local:8501"},
		{name: "http URL", cfg: Config{Address: "http://localhost:8500"}, want: "http://localhost:8500"},
		{name: "https URL", cfg: Config{Address: "https://localhost:8501"}, want: "https://localhost:8501"},
		{name: "URL path ignored", cfg: Config{Address: "http://localhost:8500/"}, want: "http://localhost:8500"},
		{name: "ipv6", cfg: Config{Address: "[::1]:8500"}, want: "http://[::1]:8500"},
		{name: "unix socket", cfg: Config{Address: "unix:///run/beacon.sock"}, want: "http://unix"},
		{name: "unix without a path", cfg: Config{Address: "unix://"}, error: `invalid address "unix://": no socket path after unix://`},
		{name: "other scheme", cfg: Config{Address: "ftp://x:21"}, error: `invalid address "ftp://x:21": scheme must be http, https or unix`},
		{name: "no host", cfg: Config{Address: "http://"}, error: `invalid address "http://": no host`},
		{name: "bad CA file", cfg: Config{Address: "https://x:1", TLS: TLSConfig{CAFile: "/nonexistent/ca.pem"}}, error: "read CA file: open /nonexistent/ca.pem: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.error != "" {
				if err == nil || err.Error() != tt.error {
					t.Fatalf("error %v, want %q", err, tt.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.base.String(); got != tt.want {
				t.Errorf("base %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRequest(t *testing.T) {
	var got *http.Request
	var gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("X-Consul-Index", "17")
		w.Header().Set("X-Consul-KnownLeader", "true")
		w.Header().Set("X-Consul-LastContact", "250")
		io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	c, err := New(Config{Address: srv.URL, Token: "t0k"})
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ OK bool }
	meta, err := c.Call(context.Background(), http.MethodPut, "/v1/kv/a b?c#d%e", map[string][]string{"cas": {"3"}}, map[string]int{"n": 1}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/v1/kv/a%20b%3Fc%23d%25e?cas=3"; got.RequestURI != want {
		t.Errorf("request URI %s, want %s", got.RequestURI, want)
	}
	if h := got.Header.Get("X-Consul-Token"); h != "t0k" {
		t.Errorf("token header %q", h)
	}
	if gotBody != `{"n":1}` {
		t.Errorf("body %s", gotBody)
	}
	if !out.OK {
		t.Error("answer not decoded")
	}
	if want := (Meta{LastIndex: 17, KnownLeader: true, LastContact: 250 * time.Millisecond}); meta != want {
		t.Errorf("meta %+v, want %+v", meta, want)
	}

	// A reader is sent as is.
	if err := c.Put(context.Background(), "/v1/snapshot", nil, strings.NewReader("raw\x00bytes"), nil); err != nil {
		t.Fatal(err)
	}
	if gotBody != "raw\x00bytes" {
		t.Errorf("raw body %q", gotBody)
	}
}

func TestStatusError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing-route":
			http.NotFound(w, r)
		case "/missing-key":
			w.WriteHeader(http.StatusNotFound)
		default:
			http.Error(w, "rpc error:\n  line two\n", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	c, err := New(Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want string
		notFound   bool
	}{
		{"/missing-route", "Unexpected response code: 404 (404 page not found): the agent at " + srv.URL + " does not serve GET /missing-route", true},
		{"/missing-key", "Unexpected response code: 404 ()", true},
		{"/fails", "Unexpected response code: 500 (rpc error: line two)", false},
	}
	for _, tt := range tests {
		_, err := c.Get(context.Background(), tt.path, nil, nil)
		var se *StatusError
		if !errors.As(err, &se) || err.Error() != tt.want {
			t.Errorf("%s: error %v, want %q", tt.path, err, tt.want)
		}
		if IsNotFound(err) != tt.notFound {
			t.Errorf("%s: IsNotFound = %v", tt.path, !tt.notFound)
		}
	}
}

func TestUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("no unix sockets here: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `"10.0.0.1:8300"`)
	})}
	go srv.Serve(l)
	defer srv.Close()
	c, err := New(Config{Address: "unix://" + sock})
	if err != nil {
		t.Fatal(err)
	}
	var leader string
	if _, err := c.Get(context.Background(), "/v1/status/leader", nil, &leader); err != nil || leader != "10.0.0.1:8300" {
		t.Fatalf("leader %q, err %v", leader, err)
	}
}

func TestHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `["dc1"]`)
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	hostPort := strings.TrimPrefix(srv.URL, "https://")
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"trusted CA", Config{Address: srv.URL, TLS: TLSConfig{CAFile: caFile}}, true},
		{"CONSUL_HTTP_SSL with a bare address", Config{Address: hostPort, HTTPS: true, TLS: TLSConfig{CAFile: caFile}}, true},
		{"unknown CA", Config{Address: srv.URL}, false},
		{"verification off", Config{Address: srv.URL, TLS: TLSConfig{InsecureSkipVerify: true}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var dcs []string
			_, err = c.Get(context.Background(), "/v1/catalog/datacenters", nil, &dcs)
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
