package state

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/go-memdb"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
)

const (
	passing  = catalogv1.HealthStatus_HEALTH_STATUS_PASSING
	warning  = catalogv1.HealthStatus_HEALTH_STATUS_WARNING
	critical = catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL
)

func diff(want, got any) string {
	return cmp.Diff(want, got, protocmp.Transform(), cmpopts.EquateEmpty())
}

// fired reports whether any channel of ws is closed. memdb closes watch
// channels synchronously when a write commits, so no waiting is needed.
func fired(ws memdb.WatchSet) bool {
	for ch := range ws {
		select {
		case <-ch:
			return true
		default:
		}
	}
	return false
}

func node(name, addr string, meta map[string]string) *catalogv1.Node {
	return &catalogv1.Node{Node: name, Address: addr, Datacenter: "dc1", Meta: meta}
}

func svc(id, name string, port int32, tags ...string) *catalogv1.Service {
	return &catalogv1.Service{Id: id, Service: name, Port: port, Tags: tags}
}

func check(id, serviceID string, status catalogv1.HealthStatus) *catalogv1.HealthCheck {
	return &catalogv1.HealthCheck{CheckId: id, Name: id, ServiceId: serviceID, Status: status}
}

func mustRegister(t *testing.T, s *Store, idx uint64, req *catalogv1.RegisterRequest) {
	t.Helper()
	if err := s.Register(idx, req); err != nil {
		t.Fatalf("Register at %d: %v", idx, err)
	}
}

func mustPut(t *testing.T, s *Store, idx uint64, req *kvv1.PutRequest) bool {
	t.Helper()
	ok, err := s.KVPut(idx, req)
	if err != nil {
		t.Fatalf("KVPut %q at %d: %v", req.GetKey(), idx, err)
	}
	return ok
}

func mustSession(t *testing.T, s *Store, idx uint64, sess *kvv1.Session) {
	t.Helper()
	if err := s.SessionCreate(idx, sess); err != nil {
		t.Fatalf("SessionCreate %q at %d: %v", sess.GetId(), idx, err)
	}
}

func getKV(t *testing.T, s *Store, key string) *kvv1.KVPair {
	t.Helper()
	_, p, err := s.KVGet(nil, key)
	if err != nil {
		t.Fatalf("KVGet %q: %v", key, err)
	}
	return p
}

func u64(v uint64) *uint64 { return &v }

func dur(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

// fixture is a small catalog used by many tests:
//
//	n1 (rack=a): web1 (web, tags v1, primary) with check web1-http passing,
//	             node check serfHealth passing
//	n2 (rack=b): web2 (web, tags v2) with check web2-http critical,
//	             db1 (db) with check db1-tcp passing,
//	             node check serfHealth passing
//	n3 (rack=a): no services
//
// written at indexes 1..4.
func fixture(t *testing.T) *Store {
	t.Helper()
	s := New()
	mustRegister(t, s, 1, &catalogv1.RegisterRequest{
		Node:    node("n1", "10.0.0.1", map[string]string{"rack": "a"}),
		Service: svc("web1", "web", 80, "v1", "primary"),
		Checks: []*catalogv1.HealthCheck{
			check("serfHealth", "", passing),
			check("web1-http", "web1", passing),
		},
	})
	mustRegister(t, s, 2, &catalogv1.RegisterRequest{
		Node:    node("n2", "10.0.0.2", map[string]string{"rack": "b"}),
		Service: svc("web2", "web", 80, "v2"),
		Checks: []*catalogv1.HealthCheck{
			check("serfHealth", "", passing),
			check("web2-http", "web2", critical),
		},
	})
	mustRegister(t, s, 3, &catalogv1.RegisterRequest{
		Node:    node("n2", "10.0.0.2", map[string]string{"rack": "b"}),
		Service: svc("db1", "db", 5432),
		Checks:  []*catalogv1.HealthCheck{check("db1-tcp", "db1", passing)},
	})
	mustRegister(t, s, 4, &catalogv1.RegisterRequest{
		Node: node("n3", "10.0.0.3", map[string]string{"rack": "a"}),
	})
	return s
}
