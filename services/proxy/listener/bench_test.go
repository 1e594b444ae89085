package listener

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/services/proxy/internal/testca"
	"github.com/beaconmesh/beacon/services/proxy/mtls"
)

// sidecars starts the two-sidecar path on 127.0.0.1 (upstream listener →
// mutual TLS → public listener → app) and returns the upstream address.
func sidecars(b *testing.B, app string) string {
	b.Helper()
	ca := testca.New(b, trustDomain)
	server := testca.Source{ID: testca.Identity(ca.ValidLeaf(b, "db"), ca.Roots())}
	client := testca.Source{ID: testca.Identity(ca.ValidLeaf(b, "web"), ca.Roots())}
	start := func(prepare Prepare, dial Dial) string {
		nl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		l, err := New(Config{Name: "bench", Listener: nl, Prepare: prepare, Dial: dial, DrainTimeout: 100 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.Serve(ctx); close(done) }()
		b.Cleanup(func() { cancel(); <-done })
		return nl.Addr().String()
	}
	public := start(PublicPrepare(server, intentions{"web": true}), TCPDial(app, time.Second))
	return start(nil, func(ctx context.Context) (net.Conn, error) {
		raw, err := net.Dial("tcp", public)
		if err != nil {
			return nil, err
		}
		return mtls.Client(ctx, client, "db", raw)
	})
}

// app serves handle on 127.0.0.1 until the benchmark ends.
func app(b *testing.B, handle func(net.Conn)) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); handle(c) })
		}
	})
	return l.Addr().String()
}

// counter reads to EOF and answers the byte count.
func counter(c net.Conn) {
	n, _ := io.Copy(io.Discard, c)
	binary.Write(c, binary.BigEndian, n)
}

func echoConn(c net.Conn) { io.Copy(c, c) }

func paths(b *testing.B, handle func(net.Conn)) map[string]string {
	direct := app(b, handle)
	return map[string]string{"direct": direct, "sidecars": sidecars(b, direct)}
}

// BenchmarkThroughput streams 64 KiB writes one way and checks the count.
func BenchmarkThroughput(b *testing.B) {
	for _, name := range []string{"direct", "sidecars"} {
		b.Run(name, func(b *testing.B) {
			addr := paths(b, counter)[name]
			chunk := make([]byte, 64<<10)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			for range b.N {
				if _, err := conn.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			conn.(*net.TCPConn).CloseWrite()
			var n int64
			if err := binary.Read(conn, binary.BigEndian, &n); err != nil || n != int64(b.N*len(chunk)) {
				b.Fatalf("app counted %d bytes (%v), want %d", n, err, b.N*len(chunk))
			}
		})
	}
}

// BenchmarkRoundTrip sends 64 bytes and waits for the echo, and reports
// the p50 and p99 round trip.
func BenchmarkRoundTrip(b *testing.B) {
	for _, name := range []string{"direct", "sidecars"} {
		b.Run(name, func(b *testing.B) {
			addr := paths(b, echoConn)[name]
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			msg, buf := make([]byte, 64), make([]byte, 64)
			rtts := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				if _, err := conn.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(conn, buf); err != nil {
					b.Fatal(err)
				}
				rtts = append(rtts, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(rtts)
			b.ReportMetric(float64(rtts[len(rtts)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(rtts[len(rtts)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkNewConnection opens a connection through the sidecars (one
// mutual TLS handshake each), sends a byte, waits for its echo, closes.
func BenchmarkNewConnection(b *testing.B) {
	addr := paths(b, echoConn)["sidecars"]
	buf := make([]byte, 1)
	for range b.N {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, buf); err != nil {
			b.Fatal(err)
		}
		conn.Close()
	}
}
