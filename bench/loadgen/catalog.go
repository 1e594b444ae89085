package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beaconmesh/beacon/bench/internal/result"
	"github.com/beaconmesh/beacon/platform/rpcclient"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
)

// The synthetic catalog: instance i belongs to service i/perService (service
// 0 is "web", the one every query asks for, so it has perService instances
// at any size) and runs on node i%nodes: 10,000 instances are 1,000 services
// on 1,000 nodes, 10 per node. Each instance has one passing service check
// and its node a passing serfHealth check, as Consul would show it.
const (
	perService = 10
	nodes      = 1000
)

func serviceName(i int) string {
	if s := i / perService; s > 0 {
		return fmt.Sprintf("svc-%04d", s)
	}
	return "web"
}

func nodeName(n int) string { return fmt.Sprintf("node-%04d", n) }

func nodeAddr(n int) string { return fmt.Sprintf("10.0.%d.%d", (n+1)/256, (n+1)%256) }

func registration(i int) *catalogv1.RegisterRequest {
	n := i % nodes
	return instance(nodeName(n), nodeAddr(n), serviceName(i), fmt.Sprintf("%s-%d", serviceName(i), i%perService))
}

func instance(node, addr, svc, id string) *catalogv1.RegisterRequest {
	return &catalogv1.RegisterRequest{
		Node: &catalogv1.Node{Node: node, Address: addr, Meta: map[string]string{"rack": "r1"}},
		Service: &catalogv1.Service{
			Id: id, Service: svc, Port: 8080, Tags: []string{"v1", "bench"},
			Meta:    map[string]string{"version": "1.0.0"},
			Weights: &catalogv1.Weights{Passing: 1, Warning: 1},
		},
		Checks: []*catalogv1.HealthCheck{
			{Node: node, CheckId: "serfHealth", Name: "Serf Health Status", Status: catalogv1.HealthStatus_HEALTH_STATUS_PASSING, Output: "Agent alive and reachable", Type: "serf"},
			{Node: node, CheckId: "service:" + id, Name: "Service '" + svc + "' check", Status: catalogv1.HealthStatus_HEALTH_STATUS_PASSING, ServiceId: id, Type: "ttl"},
		},
	}
}

// load registers instances from..to-1 with clients concurrent Register
// calls over conns connections: the catalog batches concurrent applies.
func load(addrs []string, from, to, clients, conns int) (Result, error) {
	conns = max(1, min(conns, clients))
	var cls []catalogv1.CatalogServiceClient
	for range conns {
		cc, err := rpcclient.Dial(rpcclient.Config{Addrs: addrs})
		if err != nil {
			return Result{}, err
		}
		defer cc.Close()
		cls = append(cls, catalogv1.NewCatalogServiceClient(cc))
	}
	next := atomic.Int64{}
	next.Store(int64(from))
	var errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			cl := cls[c%len(cls)]
			for {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				// A registration that fails (a leader change, a timeout) is
				// retried: the catalog must end up at the size the report says.
				var err error
				for try := 0; try < 5; try++ {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					_, err = cl.Register(ctx, registration(i))
					cancel()
					if err == nil {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if e := firstErr.Load(); e != nil {
		return Result{}, fmt.Errorf("%d registrations failed, first: %s", errs.Load(), e)
	}
	n := to - from
	return Result{Kind: result.KindLoad, Op: "load", Clients: clients, Total: n, Instances: to,
		Seconds: took.Seconds(), Rate: float64(n) / took.Seconds()}, nil
}

// waitView polls beacon-dnsgw's /metrics until its view holds at least
// want instances, so a DNS measurement never runs against a stale view.
func waitView(metricsURL string, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var have float64 = -1
	for time.Now().Before(deadline) {
		if v, err := metric(metricsURL, "beacon_dnsgw_view_instances"); err == nil {
			have = v
			if int(v) >= want {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("dnsgw view has %.0f instances, not %d, after %s", have, want, timeout)
}

func metric(url, name string) (float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
			f := strings.Fields(line)
			return strconv.ParseFloat(f[len(f)-1], 64)
		}
	}
	return 0, fmt.Errorf("%s: no metric %s", url, name)
}
