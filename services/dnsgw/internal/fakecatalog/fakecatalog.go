// Package fakecatalog is a stand-in for the catalog in the DNS gateway's
// tests: fixtures shaped as ListServiceHealth answers, and an in-process
// HealthService whose ListServiceHealth blocks as the real one does.
package fakecatalog

import (
	"cmp"
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/token"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Instance is one service instance and the state of its own check
// (HEALTH_STATUS_UNSPECIFIED: it has none).
type Instance struct {
	Node    string
	Service *catalogv1.Service
	Status  catalogv1.HealthStatus
}

// State is the catalog's content.
type State struct {
	Nodes []*catalogv1.Node
	// NodeChecks are node-level checks (serfHealth and the like).
	NodeChecks []*catalogv1.HealthCheck
	Instances  []Instance
}

// Node is a node fixture; meta is key, value pairs.
func Node(name, addr string, meta ...string) *catalogv1.Node {
	n := &catalogv1.Node{Node: name, Address: addr, Datacenter: "dc1"}
	if len(meta) > 0 {
		n.Meta = make(map[string]string)
		for i := 0; i+1 < len(meta); i += 2 {
			n.Meta[meta[i]] = meta[i+1]
		}
	}
	return n
}

// Serf is a node's serfHealth check in status.
func Serf(node string, status catalogv1.HealthStatus) *catalogv1.HealthCheck {
	return &catalogv1.HealthCheck{Node: node, CheckId: "serfHealth", Name: "Serf Health Status", Status: status, Type: "serf"}
}

// Response shapes st as the catalog answers ListServiceHealth at index:
// instances sorted by service, node and ID, each carrying its node's checks
// as well as its own.
func Response(st State, index uint64) *catalogv1.ListServiceHealthResponse {
	st = clone(st)
	nodes := make(map[string]*catalogv1.Node, len(st.Nodes))
	for _, n := range st.Nodes {
		nodes[n.GetNode()] = n
	}
	slices.SortFunc(st.Nodes, func(a, b *catalogv1.Node) int { return cmp.Compare(a.GetNode(), b.GetNode()) })
	resp := &catalogv1.ListServiceHealthResponse{
		Meta:       &queryv1.ReadMeta{Index: index, KnownLeader: true},
		Nodes:      st.Nodes,
		NodeChecks: st.NodeChecks,
	}
	for _, in := range st.Instances {
		sh := &catalogv1.ServiceHealth{Node: nodes[in.Node], Service: in.Service}
		if sh.Node == nil {
			sh.Node = &catalogv1.Node{Node: in.Node}
		}
		if sh.Service.GetId() == "" {
			sh.Service.Id = sh.Service.GetService()
		}
		for _, c := range st.NodeChecks {
			if c.GetNode() == in.Node {
				sh.Checks = append(sh.Checks, c)
			}
		}
		if in.Status != catalogv1.HealthStatus_HEALTH_STATUS_UNSPECIFIED {
			sh.Checks = append(sh.Checks, &catalogv1.HealthCheck{
				Node: in.Node, CheckId: "service:" + sh.Service.GetId(), Status: in.Status,
				ServiceId: sh.Service.GetId(), ServiceName: sh.Service.GetService(),
			})
		}
		resp.Instances = append(resp.Instances, sh)
	}
	slices.SortFunc(resp.Instances, func(a, b *catalogv1.ServiceHealth) int {
		return cmp.Or(
			cmp.Compare(a.GetService().GetService(), b.GetService().GetService()),
			cmp.Compare(a.GetNode().GetNode(), b.GetNode().GetNode()),
			cmp.Compare(a.GetService().GetId(), b.GetService().GetId()))
	})
	return resp
}

func clone(st State) State {
	out := State{}
	for _, n := range st.Nodes {
		out.Nodes = append(out.Nodes, proto.Clone(n).(*catalogv1.Node))
	}
	for _, c := range st.NodeChecks {
		out.NodeChecks = append(out.NodeChecks, proto.Clone(c).(*catalogv1.HealthCheck))
	}
	for _, in := range st.Instances {
		in.Service = proto.Clone(in.Service).(*catalogv1.Service)
		out.Instances = append(out.Instances, in)
	}
	return out
}

// Catalog is a HealthService holding a State. ListServiceHealth blocks
// while min_index is the current index, up to max_wait.
type Catalog struct {
	catalogv1.UnimplementedHealthServiceServer

	mu      sync.Mutex
	state   State
	index   uint64
	changed chan struct{} // closed on the next change
	calls   int
	token   string
}

// New returns a Catalog holding st at index 1.
func New(st State) *Catalog {
	return &Catalog{state: clone(st), index: 1, changed: make(chan struct{})}
}

// Set replaces the state, wakes blocked queries and returns when it did.
func (c *Catalog) Set(st State) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = clone(st)
	c.index++
	close(c.changed)
	c.changed = make(chan struct{})
	return time.Now()
}

// Calls is how many ListServiceHealth calls arrived.
func (c *Catalog) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// LastToken is the ACL token the latest call carried.
func (c *Catalog) LastToken() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// ListServiceHealth implements the blocking query.
func (c *Catalog) ListServiceHealth(ctx context.Context, req *catalogv1.ListServiceHealthRequest) (*catalogv1.ListServiceHealthResponse, error) {
	wait := req.GetOptions().GetMaxWait().AsDuration()
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	timer := time.NewTimer(min(wait, 10*time.Minute))
	defer timer.Stop()
	c.mu.Lock()
	c.calls++
	c.token = token.From(ctx)
	for c.index <= req.GetOptions().GetMinIndex() {
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			c.mu.Lock()
			resp := Response(c.state, c.index)
			c.mu.Unlock()
			return resp, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.mu.Lock()
	}
	resp := Response(c.state, c.index)
	c.mu.Unlock()
	return resp, nil
}

// Serve runs c as a gRPC server on 127.0.0.1:0 until the test ends, and
// returns its address and a function that stops it early.
func Serve(t testing.TB, c *Catalog) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	catalogv1.RegisterHealthServiceServer(srv, c)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			srv.Stop()
			<-done
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}
