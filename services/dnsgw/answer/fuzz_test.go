package answer

import (
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzHandle seeds from fuzzSeeds")

// FuzzHandle drives the request path a packet takes through the server:
// bytes, unpack, handler, pack. Whatever unpacks must be answered (or
// ignored) without a panic, and the reply must pack, unpack again, and fit
// the transport.
func FuzzHandle(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	v := fixtureView(f)
	h := newHandler(f, func(c *Config) { c.Views = staticViews{v: v} })
	f.Fuzz(func(t *testing.T, data []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(data); err != nil {
			return
		}
		for _, tcp := range []bool{false, true} {
			resp := h.Handle(t.Context(), req, tcp)
			if resp == nil {
				if !req.Response {
					t.Fatalf("no reply to a query: %v", req)
				}
				continue
			}
			buf, err := resp.Pack()
			if err != nil {
				t.Fatalf("pack reply %v: %v", resp, err)
			}
			limit := dns.MaxMsgSize
			if !tcp {
				limit = udpSize(req)
			}
			if len(buf) > limit {
				t.Fatalf("reply of %d bytes over the %d limit (tcp %v)", len(buf), limit, tcp)
			}
			if err := new(dns.Msg).Unpack(buf); err != nil {
				t.Fatalf("reply does not unpack: %v", err)
			}
		}
	})
}

// fuzzSeeds are real queries of every name form, and the classic bad
// packets: compression loops, oversized labels, lying counts, zero and
// many questions.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	add := func(m *dns.Msg) {
		m.Id = uint16(len(seeds) + 1) // fixed, so the files on disk stay put
		buf, err := m.Pack()
		if err != nil {
			t.Fatalf("pack seed: %v", err)
		}
		seeds = append(seeds, buf)
	}
	for _, q := range []question{
		{"web.service.consul.", dns.TypeA},
		{"web.service.consul.", dns.TypeSRV},
		{"v1.web.service.dc1.consul.", dns.TypeANY},
		{"_web._tcp.service.consul.", dns.TypeSRV},
		{"n1.node.consul.", dns.TypeTXT},
		{"n6.node.dc1.consul.", dns.TypeAAAA},
		{"web.connect.consul.", dns.TypeSRV},
		{"0a000001.addr.dc1.consul.", dns.TypeA},
		{"1.0.0.10.in-addr.arpa.", dns.TypePTR},
		{"consul.", dns.TypeSOA},
		{"consul.", dns.TypeNS},
		{"service.consul.", dns.TypeA},
		{"web.service.example.internal.", dns.TypeSRV},
		{"www.example.com.", dns.TypeA},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		add(m)
	}
	edns := new(dns.Msg)
	edns.SetQuestion("web.service.consul.", dns.TypeSRV)
	edns.SetEdns0(4096, true)
	edns.IsEdns0().Option = append(edns.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: []byte{192, 0, 2, 0}})
	add(edns)

	header := func(id, flags, qd, an, ns, ar uint16) []byte {
		b := make([]byte, 12)
		for i, v := range []uint16{id, flags, qd, an, ns, ar} {
			binary.BigEndian.PutUint16(b[2*i:], v)
		}
		return b
	}
	tail := []byte{0, 1, 0, 1} // type A, class IN
	// A name that points at itself.
	loop := append(header(1, 0x0100, 1, 0, 0, 0), 0xC0, 12)
	seeds = append(seeds, append(loop, tail...))
	// Two pointers pointing at each other.
	pingpong := append(header(2, 0x0100, 1, 0, 0, 0), 3, 'w', 'e', 'b', 0xC0, 18, 0xC0, 12)
	seeds = append(seeds, append(pingpong, tail...))
	// A 64-byte label.
	long := append(header(3, 0x0100, 1, 0, 0, 0), 64)
	for range 64 {
		long = append(long, 'a')
	}
	seeds = append(seeds, append(append(long, 0), tail...))
	// Counts that lie.
	seeds = append(seeds, header(4, 0x0100, 65535, 0, 0, 0))
	// Zero questions, and three.
	seeds = append(seeds, header(5, 0x0100, 0, 0, 0, 0))
	three := header(6, 0x0100, 3, 0, 0, 0)
	for range 3 {
		three = append(three, 3, 'w', 'e', 'b', 7, 's', 'e', 'r', 'v', 'i', 'c', 'e', 6, 'c', 'o', 'n', 's', 'u', 'l', 0)
		three = append(three, tail...)
	}
	seeds = append(seeds, three)
	// A reply, which must get no reply.
	resp := new(dns.Msg)
	resp.SetQuestion("web.service.consul.", dns.TypeA)
	resp.Response = true
	add(resp)
	return seeds
}

// TestFuzzSeedsOnDisk keeps testdata/fuzz/FuzzHandle in step with
// fuzzSeeds; run with -update-seeds to rewrite it.
func TestFuzzSeedsOnDisk(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzHandle")
	for _, seed := range fuzzSeeds(t) {
		sum := sha256.Sum256(seed)
		path := filepath.Join(dir, fmt.Sprintf("seed-%x", sum[:8]))
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", seed)
		if *updateSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != body {
			t.Errorf("seed %s missing or stale (run go test ./answer -run TestFuzzSeedsOnDisk -update-seeds): %v", path, err)
		}
	}
}
