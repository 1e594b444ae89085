package recursor_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/services/dnsgw/recursor"
	"github.com/miekg/dns"
)

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "8.8.8.8", want: "8.8.8.8:53"},
		{in: " 1.1.1.1:5353 ", want: "1.1.1.1:5353"},
		{in: "2001:db8::1", want: "[2001:db8::1]:53"},
		{in: "[2001:db8::1]", want: "[2001:db8::1]:53"},
		{in: "[2001:db8::1]:5300", want: "[2001:db8::1]:5300"},
		{in: "dns.google", err: "want an IP"},
		{in: "1.2.3.4:0", err: "port 0"},
		{in: "", err: "want an IP"},
	}
	for _, tt := range tests {
		got, err := recursor.Normalize(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("Normalize(%q) error %v, want one about %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// serve runs a UDP DNS server on 127.0.0.1:0 that replies with rcode and,
// on success, one A record.
func serve(t *testing.T, rcode int) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetRcode(req, rcode)
		if rcode == dns.RcodeSuccess {
			resp.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.IPv4(192, 0, 2, 7)}}
		}
		_ = w.WriteMsg(resp)
	})}
	up := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(up) }
	go func() { _ = srv.ActivateAndServe() }()
	<-up
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// blackhole is a bound UDP port that never answers.
func blackhole(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func TestExchangeTriesInOrder(t *testing.T) {
	servfail := serve(t, dns.RcodeServerFailure)
	refused := serve(t, dns.RcodeRefused)
	nxdomain := serve(t, dns.RcodeNameError)
	good := serve(t, dns.RcodeSuccess)
	silent := blackhole(t)

	tests := []struct {
		name    string
		addrs   []string
		rcode   int
		wantErr bool
	}{
		{"first good", []string{good, servfail}, dns.RcodeSuccess, false},
		{"servfail and refused move on", []string{servfail, refused, good}, dns.RcodeSuccess, false},
		{"a silent upstream times out, then the next", []string{silent, good}, dns.RcodeSuccess, false},
		{"nxdomain is an answer", []string{nxdomain, good}, dns.RcodeNameError, false},
		{"all fail", []string{servfail, silent}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := recursor.New(tt.addrs, 200*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			req := new(dns.Msg)
			req.SetQuestion("www.example.com.", dns.TypeA)
			id := req.Id
			resp, err := r.Exchange(t.Context(), req)
			if tt.wantErr {
				if err == nil {
					t.Errorf("got %v, want an error", resp)
				}
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if resp.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
			}
			if req.Id != id {
				t.Error("Exchange changed the caller's message ID")
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := recursor.New(nil, 0); err == nil {
		t.Error("New accepted no upstream")
	}
	if _, err := recursor.New([]string{"not an ip"}, 0); err == nil {
		t.Error("New accepted a host name")
	}
}
