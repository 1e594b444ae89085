package state

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/go-memdb"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
)

// The hot paths of the state store, on the synthetic catalog bench/loadgen
// registers (10 instances per service, 1,000 nodes, one passing node check
// and one passing service check each). Compare changes with benchstat:
//
//	go test -run '^$' -bench . -count 10 ./services/catalog/state > new.txt

// benchRegistration is instance i of the synthetic catalog.
func benchRegistration(i int) *catalogv1.RegisterRequest {
	const perService, nodes = 10, 1000
	name := "web"
	if s := i / perService; s > 0 {
		name = fmt.Sprintf("svc-%04d", s)
	}
	n := fmt.Sprintf("node-%04d", i%nodes)
	id := fmt.Sprintf("%s-%d", name, i%perService)
	return &catalogv1.RegisterRequest{
		Node: &catalogv1.Node{Node: n, Address: fmt.Sprintf("10.0.%d.%d", (i%nodes+1)/256, (i%nodes+1)%256), Meta: map[string]string{"rack": "r1"}},
		Service: &catalogv1.Service{
			Id: id, Service: name, Port: 8080, Tags: []string{"v1", "bench"},
			Meta: map[string]string{"version": "1.0.0"},
		},
		Checks: []*catalogv1.HealthCheck{
			{Node: n, CheckId: "serfHealth", Name: "Serf Health Status", Status: passing, Type: "serf"},
			{Node: n, CheckId: "service:" + id, Name: "service check", Status: passing, ServiceId: id, Type: "ttl"},
		},
	}
}

// benchStore returns a store holding instances 0..n-1 and the next index.
func benchStore(b *testing.B, n int) (*Store, uint64) {
	b.Helper()
	s := New()
	idx := uint64(1)
	for i := range n {
		if err := s.Register(idx, benchRegistration(i)); err != nil {
			b.Fatalf("register %d: %v", i, err)
		}
		idx++
	}
	return s, idx
}

func BenchmarkRegister(b *testing.B) {
	for _, size := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("instances=%d", size), func(b *testing.B) {
			s, idx := benchStore(b, size)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				// Re-register an existing instance: the steady state of
				// anti-entropy and check updates.
				if err := s.Register(idx, benchRegistration(i%size)); err != nil {
					b.Fatal(err)
				}
				idx++
				i++
			}
		})
	}
}

func BenchmarkServiceHealth(b *testing.B) {
	for _, size := range []int{1000, 10000, 50000} {
		b.Run(fmt.Sprintf("instances=%d", size), func(b *testing.B) {
			s, _ := benchStore(b, size)
			b.ReportAllocs()
			for b.Loop() {
				ws := memdb.NewWatchSet()
				_, out, err := s.ServiceHealth(ws, "web", nil, nil, true, false)
				if err != nil || len(out) != 10 {
					b.Fatalf("ServiceHealth: %d instances, %v", len(out), err)
				}
			}
		})
	}
}

// BenchmarkAllServiceHealth is the DNS gateway's whole-catalog read, made
// after every change it follows.
func BenchmarkAllServiceHealth(b *testing.B) {
	for _, size := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("instances=%d", size), func(b *testing.B) {
			s, _ := benchStore(b, size)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, out, err := s.AllServiceHealth(memdb.NewWatchSet()); err != nil || len(out) != size {
					b.Fatalf("AllServiceHealth: %d instances, %v", len(out), err)
				}
			}
		})
	}
}

func BenchmarkKVPut(b *testing.B) {
	s := New()
	value := bytes.Repeat([]byte("v"), 256)
	b.ReportAllocs()
	idx := uint64(1)
	for b.Loop() {
		if _, err := s.KVPut(idx, &kvv1.PutRequest{Key: fmt.Sprintf("k%08d", idx%10000), Value: value}); err != nil {
			b.Fatal(err)
		}
		idx++
	}
}

func BenchmarkKVGet(b *testing.B) {
	s := New()
	value := bytes.Repeat([]byte("v"), 256)
	for i := range 10000 {
		if _, err := s.KVPut(uint64(i+1), &kvv1.PutRequest{Key: fmt.Sprintf("k%08d", i), Value: value}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, kv, err := s.KVGet(memdb.NewWatchSet(), fmt.Sprintf("k%08d", i%10000)); err != nil || kv == nil {
			b.Fatalf("KVGet: %v %v", kv, err)
		}
		i++
	}
}

func BenchmarkSnapshotPersist(b *testing.B) {
	s, _ := benchStore(b, 10000)
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		cw := &countWriter{}
		if err := s.Snapshot().Persist(cw); err != nil {
			b.Fatal(err)
		}
		n = cw.n
	}
	b.ReportMetric(float64(n), "bytes/snapshot")
}

func BenchmarkRestore(b *testing.B) {
	s, _ := benchStore(b, 10000)
	var buf bytes.Buffer
	if err := s.Snapshot().Persist(&buf); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Restore(bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)
