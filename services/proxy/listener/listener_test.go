package listener

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/leaf"
	"github.com/beaconmesh/beacon/services/proxy/authz"
	"github.com/beaconmesh/beacon/services/proxy/internal/testca"
	"github.com/beaconmesh/beacon/services/proxy/mtls"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const trustDomain = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee.consul"

// testLogger routes logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// echo serves an echo on 127.0.0.1 until the test ends: it reads until
// EOF, then writes everything back and closes, so that it only answers
// once the client half-closed.
func echo(t *testing.T, whole bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if whole {
					b, _ := io.ReadAll(c)
					c.Write(b)
					return
				}
				io.Copy(c, c)
			})
		}
	})
	return l.Addr().String()
}

// serve runs a Listener on 127.0.0.1 until the test ends.
func serve(t *testing.T, prepare Prepare, dial Dial, m *Metrics) *Listener {
	t.Helper()
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(Config{Name: "public", Listener: nl, Prepare: prepare, Dial: dial, Logger: testLogger(t), Metrics: m, DrainTimeout: 200 * time.Millisecond, PrepareTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if n := l.Active(); n != 0 {
			t.Errorf("%d connections still tracked after Serve returned", n)
		}
	})
	return l
}

type intentions map[string]bool

func (in intentions) Authorize(source string) authz.Decision {
	return authz.Decision{Allowed: in[source], Reason: "test"}
}

// TestPublicHandshake checks who gets through the public listener: only
// callers with a valid leaf of the trust domain that the intentions allow.
func TestPublicHandshake(t *testing.T) {
	ca := testca.New(t, trustDomain)
	foreign := testca.New(t, trustDomain)
	other := testca.New(t, "other.consul")
	server := testca.Source{ID: testca.Identity(ca.ValidLeaf(t, "db"), ca.Roots())}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	l := serve(t, PublicPrepare(server, intentions{"web": true}), TCPDial(echo(t, false), time.Second), m)
	now := time.Now()

	tests := []struct {
		name   string
		cert   *tls.Certificate // nil: no client certificate
		plain  bool             // no TLS at all
		wantOK bool
	}{
		{"allowed caller", ca.ValidLeaf(t, "web"), false, true},
		{"denied by intention", ca.ValidLeaf(t, "api"), false, false},
		{"no client certificate", nil, false, false},
		{"wrong trust domain, trusted CA", ca.LeafFor(t, leaf.ServiceID{TrustDomain: "other.consul", Namespace: "default", Datacenter: "dc1", Service: "web"}), false, false},
		{"wrong trust domain", other.ValidLeaf(t, "web"), false, false},
		{"foreign CA", foreign.ValidLeaf(t, "web"), false, false},
		{"expired leaf", ca.Leaf(t, "web", now.Add(-2*time.Hour), now.Add(-time.Minute)), false, false},
		{"plain TCP", nil, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			raw.SetDeadline(time.Now().Add(5 * time.Second))
			conn := raw
			if !tt.plain {
				cfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}
				if tt.cert != nil {
					cfg.Certificates = []tls.Certificate{*tt.cert}
				}
				conn = tls.Client(raw, cfg)
			}
			// In TLS 1.3 the server judges the client's certificate after
			// the client's handshake is done: the verdict shows on read.
			// (In plain TCP the message is not a TLS record header.)
			_, err = io.WriteString(conn, "ping the server\n")
			buf := make([]byte, 16)
			if err == nil {
				_, err = io.ReadFull(conn, buf)
			}
			if tt.wantOK && (err != nil || string(buf) != "ping the server\n") {
				t.Fatalf("echo through the listener: %q, %v", buf, err)
			}
			if !tt.wantOK && err == nil {
				t.Fatalf("the connection was let through (echo %q)", buf)
			}
		})
	}
	// The client may see the server's alert before the server counts it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		denied := testutil.ToFloat64(m.denials.WithLabelValues("public"))
		failed := testutil.ToFloat64(m.handshake.WithLabelValues("public"))
		if denied == 1 && failed == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics: %v denials, %v handshake failures; want 1 and 6", denied, failed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClientChecksServerIdentity checks the upstream side: the server must
// present a leaf of exactly the destination service.
func TestClientChecksServerIdentity(t *testing.T) {
	ca := testca.New(t, trustDomain)
	client := testca.Source{ID: testca.Identity(ca.ValidLeaf(t, "web"), ca.Roots())}
	for _, tt := range []struct {
		name, serverService, dest string
		wantErr                   string
	}{
		{"the destination", "db", "db", ""},
		{"case differs", "DB", "db", ""},
		{"another service", "cache", "db", `want service "db"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			server := testca.Source{ID: testca.Identity(ca.ValidLeaf(t, tt.serverService), ca.Roots())}
			l := serve(t, PublicPrepare(server, intentions{"web": true}), TCPDial(echo(t, false), time.Second), nil)
			raw, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, err := mtls.Client(ctx, client, tt.dest, raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("handshake: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(conn, "ok")
			buf := make([]byte, 2)
			if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ok" {
				t.Fatalf("echo: %q, %v", buf, err)
			}
		})
	}
}

// sidecarPair is the mesh path of two sidecars in front of an echo server
// (see echo for whole): it returns the upstream listener, plain TCP in,
// mutual TLS over batched connections (as the daemon dials) out to the
// public listener of "db", which lets "web" in.
func sidecarPair(t *testing.T, whole bool) *Listener {
	t.Helper()
	ca := testca.New(t, trustDomain)
	server := testca.Source{ID: testca.Identity(ca.ValidLeaf(t, "db"), ca.Roots())}
	client := testca.Source{ID: testca.Identity(ca.ValidLeaf(t, "web"), ca.Roots())}
	public := serve(t, PublicPrepare(server, intentions{"web": true}), TCPDial(echo(t, whole), time.Second), nil)
	return serve(t, nil, func(ctx context.Context) (net.Conn, error) {
		raw, err := net.Dial("tcp", public.Addr().String())
		if err != nil {
			return nil, err
		}
		return mtls.Client(ctx, client, "db", Batching(raw))
	}, nil)
}

// TestHalfClose sends a large body, half-closes, and reads the whole
// answer, which the server only writes after it saw EOF: both directions
// must finish through the proxy, over mutual TLS.
func TestHalfClose(t *testing.T) {
	up := sidecarPair(t, true)

	payload := make([]byte, 1<<20)
	rand.Read(payload)
	conn, err := net.Dial("tcp", up.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	errc := make(chan error, 1)
	go func() {
		_, err := conn.Write(payload)
		if err == nil {
			err = conn.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("got %d bytes back, want the %d sent", len(got), len(payload))
	}
}

// TestDrain stops a listener with a connection open: the connection is cut
// after the drain timeout and Serve returns with nothing left running.
func TestDrain(t *testing.T) {
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(Config{Name: "upstream:db", Listener: nl, Dial: TCPDial(echo(t, false), time.Second), DrainTimeout: 300 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Serve(ctx) }()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "hi")
	buf := make([]byte, 2)
	if _, err := io.ReadFull(conn, buf); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the drain timeout")
	}
	if took := time.Since(stopped); took < 300*time.Millisecond {
		t.Errorf("Serve returned after %v, before the drain timeout", took)
	}
	if _, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		t.Error("the listener still accepts after the stop")
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Read(buf); err == nil {
		t.Error("the live connection was not closed after the drain timeout")
	}
}

// TestBatchedBulk sends megabytes both ways at once through two sidecars
// whose TLS connections are both batched (records gathered per write and
// per read), against a streaming echo and one that answers after EOF,
// and checks every byte comes back in order.
func TestBatchedBulk(t *testing.T) {
	for _, whole := range []bool{false, true} {
		up := sidecarPair(t, whole)
		payload := make([]byte, 8<<20+12345)
		rand.Read(payload)
		conn, err := net.Dial("tcp", up.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(60 * time.Second))
		errc := make(chan error, 1)
		go func() {
			// Uneven writes, so that chunks and records do not line up.
			var err error
			for rest := payload; len(rest) > 0 && err == nil; {
				n := min(len(rest), 1+len(rest)%70001)
				_, err = conn.Write(rest[:n])
				rest = rest[n:]
			}
			if err == nil {
				err = conn.(*net.TCPConn).CloseWrite()
			}
			errc <- err
		}()
		got, err := io.ReadAll(conn)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("whole=%v: got %d bytes back, want the %d sent, in order", whole, len(got), len(payload))
		}
	}
}
