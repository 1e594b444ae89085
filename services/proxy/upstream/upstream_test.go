package upstream

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"google.golang.org/grpc"
)

func instance(node, nodeAddr, id, addr string, port int32) *catalogv1.ServiceHealth {
	return &catalogv1.ServiceHealth{
		Node:    &catalogv1.Node{Node: node, Address: nodeAddr, Datacenter: "dc1"},
		Service: &catalogv1.Service{Id: id, Address: addr, Port: port},
	}
}

func TestEndpoints(t *testing.T) {
	got := Endpoints([]*catalogv1.ServiceHealth{
		instance("n1", "10.0.0.1", "a", "", 21000),
		instance("n2", "10.0.0.2", "b", "10.1.0.2", 21001),
		instance("n3", "", "c", "", 21002), // no address at all
		instance("n4", "10.0.0.4", "d", "", 0),
		instance("n5", "::1", "e", "", 21003),
	})
	want := []string{"10.0.0.1:21000", "10.1.0.2:21001", "[::1]:21003"}
	if len(got) != len(want) {
		t.Fatalf("Endpoints = %+v, want %v", got, want)
	}
	for i, ep := range got {
		if ep.Addr != want[i] {
			t.Errorf("endpoint %d = %s, want %s", i, ep.Addr, want[i])
		}
	}
}

type fakeHealth struct {
	instances []*catalogv1.ServiceHealth
}

func (f *fakeHealth) ServiceHealth(ctx context.Context, req *catalogv1.ServiceHealthRequest, _ ...grpc.CallOption) (*catalogv1.ServiceHealthResponse, error) {
	if req.GetOptions().GetMinIndex() >= 1 {
		<-ctx.Done() // nothing changes after the first answer
		return nil, ctx.Err()
	}
	if !req.GetConnect() || !req.GetPassingOnly() {
		return nil, context.Canceled
	}
	return &catalogv1.ServiceHealthResponse{Meta: &queryv1.ReadMeta{Index: 1}, Instances: f.instances}, nil
}

func passThrough(_ context.Context, raw net.Conn, _ Endpoint) (net.Conn, error) { return raw, nil }

// TestDialSkipsDeadInstance dials an upstream with a dead instance beside
// a live one: every dial must reach the live one.
func TestDialSkipsDeadInstance(t *testing.T) {
	live, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	go func() {
		for {
			c, err := live.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := dead.Addr().(*net.TCPAddr).Port
	dead.Close()
	livePort := live.Addr().(*net.TCPAddr).Port

	var failed []string
	u, err := New(Config{
		Health: &fakeHealth{instances: []*catalogv1.ServiceHealth{
			instance("n1", "127.0.0.1", "dead", "", int32(deadPort)),
			instance("n2", "127.0.0.1", "live", "", int32(livePort)),
		}},
		Service: "db", Handshake: passThrough, ConnectTimeout: 2 * time.Second,
		OnDialError: func(ep Endpoint, _ error, _ bool) { failed = append(failed, ep.ServiceID) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { u.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range 20 {
		c, err := u.Dial(ctx)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		if got := c.RemoteAddr().String(); got != "127.0.0.1:"+strconv.Itoa(livePort) {
			t.Fatalf("dial %d reached %s", i, got)
		}
		c.Close()
	}
	for _, id := range failed {
		if id != "dead" {
			t.Errorf("a dial failed on instance %q", id)
		}
	}
	if len(failed) == 0 {
		t.Error("20 dials never picked the dead instance first; the order is not random")
	}
}

func TestDialWithoutInstances(t *testing.T) {
	u, err := New(Config{Health: &fakeHealth{}, Service: "db", Handshake: passThrough, ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { u.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	if _, err := u.Dial(ctx); err == nil || !strings.Contains(err.Error(), "no healthy instance") {
		t.Fatalf("Dial = %v, want no healthy instance", err)
	}
}
