package answer

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/dnsgw/internal/fakecatalog"
	"github.com/beaconmesh/beacon/services/dnsgw/view"
)

// Answer building, without sockets, on the synthetic catalog bench/loadgen
// registers (10 instances per service, 1,000 nodes): what beacon-dnsgw does
// per query beyond miekg/dns's own reading and writing. Compare changes with
// benchstat:
//
//	go test -run '^$' -bench . -count 10 ./answer > new.txt

// benchState is a catalog of size instances, "web" among its services.
func benchState(size int) fakecatalog.State {
	const perService, nodes = 10, 1000
	var st fakecatalog.State
	for n := range min(nodes, size) {
		name := fmt.Sprintf("node-%04d", n)
		st.Nodes = append(st.Nodes, fakecatalog.Node(name, fmt.Sprintf("10.0.%d.%d", (n+1)/256, (n+1)%256), "rack", "r1"))
		st.NodeChecks = append(st.NodeChecks, fakecatalog.Serf(name, passing))
	}
	for i := range size {
		svc := "web"
		if s := i / perService; s > 0 {
			svc = fmt.Sprintf("svc-%04d", s)
		}
		st.Instances = append(st.Instances, fakecatalog.Instance{
			Node:   fmt.Sprintf("node-%04d", i%nodes),
			Status: passing,
			Service: &catalogv1.Service{
				Id: fmt.Sprintf("%s-%d", svc, i%perService), Service: svc, Port: 8080,
				Tags: []string{"v1", "bench"}, Weights: &catalogv1.Weights{Passing: 1, Warning: 1},
			},
		})
	}
	return st
}

func BenchmarkRespond(b *testing.B) {
	for _, size := range []int{1000, 10000} {
		v := view.Build(fakecatalog.Response(benchState(size), 42), time.Now())
		h := newHandler(b, func(c *Config) { c.Views = staticViews{v: v} })
		for _, q := range []question{
			{"web.service.consul.", dns.TypeA},
			{"web.service.consul.", dns.TypeSRV},
			{"node-0001.node.consul.", dns.TypeA},
			{"nope.service.consul.", dns.TypeA},
		} {
			b.Run(fmt.Sprintf("instances=%d/%s/%s", size, q.name, dns.TypeToString[q.qtype]), func(b *testing.B) {
				req := query(q.name, q.qtype)
				b.ReportAllocs()
				for b.Loop() {
					if resp := h.Respond(v, req, false); resp == nil {
						b.Fatal("no reply")
					}
				}
			})
		}
	}
}

// BenchmarkRespondPack includes packing the reply, as the server does
// before writing it ("built"), beside the packed path that answers a
// repeated question from the bytes packed for it ("cached").
func BenchmarkRespondPack(b *testing.B) {
	v := view.Build(fakecatalog.Response(benchState(10000), 42), time.Now())
	h := newHandler(b, func(c *Config) { c.Views = staticViews{v: v} })
	for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
		req := query("web.service.consul.", qtype)
		b.Run(dns.TypeToString[qtype]+"/built", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Respond(v, req, false).Pack(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(dns.TypeToString[qtype]+"/cached", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := h.packed(v, req, false); !ok {
					b.Fatal("not packed")
				}
			}
		})
	}
}

// BenchmarkBuildView is the cost of one view rebuild, made after every
// catalog change the gateway follows.
func BenchmarkBuildView(b *testing.B) {
	for _, size := range []int{1000, 10000} {
		resp := fakecatalog.Response(benchState(size), 42)
		b.Run(fmt.Sprintf("instances=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v := view.Build(resp, time.Now()); v.InstanceCount() != size {
					b.Fatalf("view has %d instances", v.InstanceCount())
				}
			}
		})
	}
}
