package consuljson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
)

// JSON encoding of the hot endpoints, from the gRPC response to the bytes
// beacon-httpgw writes: GET /v1/health/service/web?passing (10 instances,
// as bench/loadgen registers them) and GET /v1/kv/<key>. Compare changes
// with benchstat:
//
//	go test -run '^$' -bench . -count 10 ./consuljson > new.txt

func benchInstances(n int) []*catalogv1.ServiceHealth {
	passing := catalogv1.HealthStatus_HEALTH_STATUS_PASSING
	out := make([]*catalogv1.ServiceHealth, n)
	for i := range out {
		node := fmt.Sprintf("node-%04d", i)
		id := fmt.Sprintf("web-%d", i)
		out[i] = &catalogv1.ServiceHealth{
			Node: &catalogv1.Node{Node: node, Address: fmt.Sprintf("10.0.0.%d", i+1), Datacenter: "dc1",
				Meta: map[string]string{"rack": "r1"}, CreateIndex: 10, ModifyIndex: 10},
			Service: &catalogv1.Service{Id: id, Service: "web", Port: 8080, Tags: []string{"v1", "bench"},
				Meta: map[string]string{"version": "1.0.0"}, Weights: &catalogv1.Weights{Passing: 1, Warning: 1},
				CreateIndex: 11, ModifyIndex: 11},
			Checks: []*catalogv1.HealthCheck{
				{Node: node, CheckId: "serfHealth", Name: "Serf Health Status", Status: passing, Output: "Agent alive and reachable", Type: "serf"},
				{Node: node, CheckId: "service:" + id, Name: "Service 'web' check", Status: passing, ServiceId: id, ServiceName: "web", Type: "ttl"},
			},
		}
	}
	return out
}

// BenchmarkHealthServiceJSON is the conversion and encoding of
// /v1/health/service/web: what the handler does per request after the
// gRPC call returns.
func BenchmarkHealthServiceJSON(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		in := benchInstances(n)
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				entries := make([]ServiceEntry, 0, len(in))
				for _, sh := range in {
					entries = append(entries, ServiceEntryFromProto(sh, "dc1"))
				}
				buf, err := json.Marshal(entries)
				if err != nil {
					b.Fatal(err)
				}
				size = len(buf)
			}
			b.ReportMetric(float64(size), "bytes/response")
		})
	}
}

// BenchmarkHealthServiceConvert is the proto → Consul struct step alone.
func BenchmarkHealthServiceConvert(b *testing.B) {
	in := benchInstances(10)
	b.ReportAllocs()
	for b.Loop() {
		entries := make([]ServiceEntry, 0, len(in))
		for _, sh := range in {
			entries = append(entries, ServiceEntryFromProto(sh, "dc1"))
		}
	}
}

func BenchmarkKVGetJSON(b *testing.B) {
	p := &kvv1.KVPair{Key: "k00000001", Value: bytes.Repeat([]byte("v"), 256), CreateIndex: 5, ModifyIndex: 9, LockIndex: 0, Flags: 0}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(KVPairsFromProto([]*kvv1.KVPair{p})); err != nil {
			b.Fatal(err)
		}
	}
}
