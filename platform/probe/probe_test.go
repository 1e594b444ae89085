package probe

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestCommand(t *testing.T) {
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/status/leader" {
			w.Write([]byte(`"10.0.0.1:8300"`))
			return
		}
		http.NotFound(w, r)
	}))
	defer leader.Close()
	noLeader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`""`)) }))
	defer noLeader.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no cluster leader", http.StatusInternalServerError)
	}))
	defer failing.Close()
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

	tcpOpen, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcpOpen.Close()
	tcpClosed := closedAddr(t)

	dnsAddr := fakeDNS(t, map[string]int{"consul.service.consul.": 2, "empty.service.consul.": 0})
	grpcServing := fakeGRPC(t, healthpb.HealthCheckResponse_SERVING)
	grpcNot := fakeGRPC(t, healthpb.HealthCheckResponse_NOT_SERVING)

	tests := []struct {
		name  string
		args  []string
		check Check
		want  int
		msg   string // part of stderr
	}{
		{"leader known", []string{"-addr", host(leader)}, LeaderCheck(), ExitHealthy, ""},
		{"no leader", []string{"-addr", host(noLeader)}, LeaderCheck(), ExitUnhealthy, "knows no leader"},
		{"http 500", []string{"-addr", host(failing)}, LeaderCheck(), ExitUnhealthy, "500"},
		{"http path 404", []string{"-addr", host(leader)}, HTTPCheck("/nope"), ExitUnhealthy, "404"},
		{"http path ok", []string{"-addr", host(leader)}, HTTPCheck("/v1/status/leader"), ExitHealthy, ""},
		{"tcp open", []string{"-addr", tcpOpen.Addr().String()}, TCPCheck(), ExitHealthy, ""},
		{"tcp closed", []string{"-addr", tcpClosed}, TCPCheck(), ExitUnhealthy, "connect"},
		{"dns answers", []string{"-addr", dnsAddr}, DNSCheck("consul.service.consul."), ExitHealthy, ""},
		{"dns known name without records", []string{"-addr", dnsAddr}, DNSCheck("empty.service.consul."), ExitHealthy, ""},
		{"dns nxdomain", []string{"-addr", dnsAddr}, DNSCheck("web.service.consul."), ExitUnhealthy, "NameError"},
		{"dns silent", []string{"-addr", tcpClosed, "-timeout", "300ms"}, DNSCheck("consul.service.consul."), ExitUnhealthy, "dns reply"},
		{"grpc serving", []string{"-addr", grpcServing}, GRPCCheck(""), ExitHealthy, ""},
		{"grpc not serving", []string{"-addr", grpcNot}, GRPCCheck(""), ExitUnhealthy, "NOT_SERVING"},
		{"grpc down", []string{"-addr", tcpClosed, "-timeout", "300ms"}, GRPCCheck(""), ExitUnhealthy, "health check"},
		{"bad flag", []string{"-nope"}, TCPCheck(), ExitUsage, "not defined"},
		{"extra argument", []string{"extra"}, TCPCheck(), ExitUsage, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got := command(&stderr, "test probe", tt.args, "127.0.0.1:1", tt.check)
			if got != tt.want {
				t.Fatalf("exit %d, want %d; stderr %q", got, tt.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.msg) {
				t.Fatalf("stderr %q does not contain %q", stderr.String(), tt.msg)
			}
		})
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// fakeDNS answers A queries over UDP: names in records get that many A
// records, other names NXDOMAIN.
func fakeDNS(t *testing.T, records map[string]int) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var q dnsmessage.Message
			if q.Unpack(buf[:n]) != nil || len(q.Questions) != 1 {
				continue
			}
			reply := dnsmessage.Message{Header: dnsmessage.Header{ID: q.Header.ID, Response: true}, Questions: q.Questions}
			count, ok := records[q.Questions[0].Name.String()]
			if !ok {
				reply.Header.RCode = dnsmessage.RCodeNameError
			}
			for i := range count {
				reply.Answers = append(reply.Answers, dnsmessage.Resource{
					Header: dnsmessage.ResourceHeader{Name: q.Questions[0].Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET},
					Body:   &dnsmessage.AResource{A: [4]byte{10, 0, 0, byte(i + 1)}},
				})
			}
			out, err := reply.Pack()
			if err != nil {
				t.Errorf("pack reply: %v", err)
				return
			}
			pc.WriteTo(out, from)
		}
	}()
	return pc.LocalAddr().String()
}

// fakeGRPC serves grpc.health.v1 reporting st for the server.
func fakeGRPC(t *testing.T, st healthpb.HealthCheckResponse_ServingStatus) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	h := health.NewServer()
	h.SetServingStatus("", st)
	healthpb.RegisterHealthServer(srv, h)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

func TestGRPCTimeout(t *testing.T) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := GRPCContext(ctx, closedAddr(t), "")
	if err == nil {
		t.Fatal("probe of a closed port succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("probe took %s with a 200ms timeout", d)
	}
}
