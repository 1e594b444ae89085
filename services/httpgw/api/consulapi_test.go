package api_test

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/httpgw/internal/fakecatalog"
	consulapi "github.com/hashicorp/consul/api"
)

// These tests drive the gateway with the official Go client, as users will.

func newConsulClient(t *testing.T, e *env) *consulapi.Client {
	t.Helper()
	cfg := consulapi.DefaultConfig()
	cfg.Address = strings.TrimPrefix(e.url, "http://")
	cfg.Scheme = "http"
	cfg.Token = ""
	c, err := consulapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConsulAPIKV(t *testing.T) {
	e := newEnv(t)
	kv := newConsulClient(t, e).KV()

	if _, err := kv.Put(&consulapi.KVPair{Key: "app/config/port", Value: []byte("8080"), Flags: 7}, nil); err != nil {
		t.Fatal(err)
	}
	p, meta, err := kv.Get("app/config/port", nil)
	if err != nil || p == nil || string(p.Value) != "8080" || p.Flags != 7 {
		t.Fatalf("Get = %+v, %v", p, err)
	}
	if meta.LastIndex == 0 || !meta.KnownLeader {
		t.Errorf("meta = %+v: want an index and a known leader", meta)
	}
	missing, meta, err := kv.Get("nope", nil)
	if err != nil || missing != nil || meta.LastIndex == 0 {
		t.Fatalf("Get(missing) = %+v, %+v, %v", missing, meta, err)
	}

	for _, k := range []string{"app/config/host", "app/db/url"} {
		if _, err := kv.Put(&consulapi.KVPair{Key: k, Value: []byte(k)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	pairs, _, err := kv.List("app/", nil)
	if err != nil || len(pairs) != 3 {
		t.Fatalf("List = %d pairs, %v", len(pairs), err)
	}
	keys, _, err := kv.Keys("app/", "/", nil)
	if err != nil || !slices.Equal(keys, []string{"app/config/", "app/db/"}) {
		t.Fatalf("Keys = %v, %v", keys, err)
	}

	// Check-and-set.
	ok, _, err := kv.CAS(&consulapi.KVPair{Key: "app/config/port", Value: []byte("9090"), ModifyIndex: p.ModifyIndex + 100}, nil)
	if err != nil || ok {
		t.Fatalf("CAS with a stale index = %v, %v", ok, err)
	}
	ok, _, err = kv.CAS(&consulapi.KVPair{Key: "app/config/port", Value: []byte("9090"), ModifyIndex: p.ModifyIndex}, nil)
	if err != nil || !ok {
		t.Fatalf("CAS = %v, %v", ok, err)
	}
	p, _, _ = kv.Get("app/config/port", nil)
	if ok, _, err := kv.DeleteCAS(&consulapi.KVPair{Key: "app/config/port", ModifyIndex: p.ModifyIndex}, nil); err != nil || !ok {
		t.Fatalf("DeleteCAS = %v, %v", ok, err)
	}
	if _, err := kv.DeleteTree("app/", nil); err != nil {
		t.Fatal(err)
	}
	if pairs, _, err := kv.List("app/", nil); err != nil || len(pairs) != 0 {
		t.Fatalf("List after DeleteTree = %v, %v", pairs, err)
	}
}

func TestConsulAPICatalogAndHealth(t *testing.T) {
	e := newEnv(t)
	c := newConsulClient(t, e)
	for i, status := range []string{consulapi.HealthPassing, consulapi.HealthCritical} {
		node := []string{"n1", "n2"}[i]
		_, err := c.Catalog().Register(&consulapi.CatalogRegistration{
			Node:     node,
			Address:  "10.0.0." + string(rune('1'+i)),
			NodeMeta: map[string]string{"rack": node},
			Service: &consulapi.AgentService{
				ID: "web-" + node, Service: "web", Tags: []string{"v1", node}, Port: 8080,
				Meta: map[string]string{"version": "1"},
			},
			Checks: consulapi.HealthChecks{
				{Node: node, CheckID: "serfHealth", Name: "Serf Health Status", Status: consulapi.HealthPassing},
				{Node: node, CheckID: "web-check", Name: "web", Status: status, ServiceID: "web-" + node,
					Definition: consulapi.HealthCheckDefinition{HTTP: "http://localhost:8080/", IntervalDuration: 10 * time.Second}},
			},
		}, nil)
		if err != nil {
			t.Fatalf("register %s: %v", node, err)
		}
	}

	dcs, err := c.Catalog().Datacenters()
	if err != nil || !slices.Equal(dcs, []string{"dc1"}) {
		t.Fatalf("Datacenters = %v, %v", dcs, err)
	}
	svcs, meta, err := c.Catalog().Services(nil)
	if err != nil || !slices.Equal(svcs["web"], []string{"n1", "n2", "v1"}) || meta.LastIndex == 0 {
		t.Fatalf("Services = %v, %+v, %v", svcs, meta, err)
	}
	rows, _, err := c.Catalog().Service("web", "n2", nil)
	if err != nil || len(rows) != 1 || rows[0].ServiceID != "web-n2" || rows[0].Address != "10.0.0.2" ||
		rows[0].ServiceWeights.Passing != 1 || rows[0].NodeMeta["rack"] != "n2" {
		t.Fatalf("Service = %+v, %v", rows, err)
	}
	nodes, _, err := c.Catalog().Nodes(&consulapi.QueryOptions{Filter: `Meta.rack == "n1"`})
	if err != nil || len(nodes) != 1 || nodes[0].Node != "n1" {
		t.Fatalf("Nodes = %+v, %v", nodes, err)
	}
	cn, _, err := c.Catalog().Node("n1", nil)
	if err != nil || cn == nil || cn.Services["web-n1"] == nil {
		t.Fatalf("Node = %+v, %v", cn, err)
	}
	if cn, _, err := c.Catalog().Node("ghost", nil); err != nil || cn != nil {
		t.Fatalf("Node(ghost) = %+v, %v", cn, err)
	}

	entries, _, err := c.Health().Service("web", "", true, nil)
	if err != nil || len(entries) != 1 || entries[0].Node.Node != "n1" {
		t.Fatalf("Health.Service(passing) = %+v, %v", entries, err)
	}
	if got := entries[0].Checks.AggregatedStatus(); got != consulapi.HealthPassing {
		t.Errorf("AggregatedStatus = %s", got)
	}
	if d := entries[0].Checks[1].Definition; d.HTTP != "http://localhost:8080/" || d.IntervalDuration != 10*time.Second {
		t.Errorf("check definition = %+v", d)
	}
	all, _, err := c.Health().Service("web", "", false, &consulapi.QueryOptions{AllowStale: true})
	if err != nil || len(all) != 2 {
		t.Fatalf("Health.Service = %d entries, %v", len(all), err)
	}
	critical, _, err := c.Health().State(consulapi.HealthCritical, nil)
	if err != nil || len(critical) != 1 || critical[0].Node != "n2" || !slices.Equal(critical[0].ServiceTags, []string{"v1", "n2"}) {
		t.Fatalf("State(critical) = %+v, %v", critical, err)
	}

	if _, err := c.Catalog().Deregister(&consulapi.CatalogDeregistration{Node: "n2"}, nil); err != nil {
		t.Fatal(err)
	}
	if all, _, err := c.Health().Service("web", "", false, nil); err != nil || len(all) != 1 {
		t.Fatalf("after deregister: %d entries, %v", len(all), err)
	}
}

func TestConsulAPIBlocking(t *testing.T) {
	e := newEnv(t)
	c := newConsulClient(t, e)
	_, meta, err := c.Catalog().Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		svcs map[string][]string
		meta *consulapi.QueryMeta
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		svcs, m, err := c.Catalog().Services(&consulapi.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second})
		ch <- answer{svcs, m, err}
	}()
	waitFor(t, "the watch to block", func() bool { return e.fake.Waiters() == 1 })
	if _, err := c.Catalog().Register(&consulapi.CatalogRegistration{Node: "n1", Address: "10.0.0.1",
		Service: &consulapi.AgentService{Service: "api", Port: 80}}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-ch:
		if a.err != nil || a.meta.LastIndex <= meta.LastIndex || a.svcs["api"] == nil {
			t.Fatalf("watch = %v, %+v, %v", a.svcs, a.meta, a.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not return after the change")
	}
}

func TestConsulAPISessionsAndLocks(t *testing.T) {
	e := newEnv(t)
	if _, err := e.fake.Register(context.Background(), &catalogv1.RegisterRequest{
		Node: &catalogv1.Node{Node: "gw-node", Address: "127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	c := newConsulClient(t, e)
	s := c.Session()

	id, _, err := s.Create(&consulapi.SessionEntry{Name: "s", TTL: "15s", Behavior: consulapi.SessionBehaviorDelete, LockDelay: time.Second}, nil)
	if err != nil || id == "" {
		t.Fatalf("Create = %q, %v", id, err)
	}
	info, _, err := s.Info(id, nil)
	if err != nil || info == nil || info.Node != "gw-node" || info.TTL != "15s" || info.LockDelay != time.Second ||
		info.Behavior != consulapi.SessionBehaviorDelete || !slices.Equal(info.NodeChecks, []string{"serfHealth"}) {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	noChecks, _, err := s.CreateNoChecks(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info, _, _ := s.Info(noChecks, nil); info == nil || len(info.NodeChecks) != 0 {
		t.Fatalf("CreateNoChecks session = %+v", info)
	}
	list, _, err := s.List(nil)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %d, %v", len(list), err)
	}
	onNode, _, err := s.Node("gw-node", nil)
	if err != nil || len(onNode) != 2 {
		t.Fatalf("Node = %d, %v", len(onNode), err)
	}
	renewed, _, err := s.Renew(id, nil)
	if err != nil || renewed == nil || renewed.ID != id {
		t.Fatalf("Renew = %+v, %v", renewed, err)
	}
	if _, err := s.Destroy(id, nil); err != nil {
		t.Fatal(err)
	}
	// Renewing a session that is gone is a 404, which the client reports
	// as no session.
	if gone, _, err := s.Renew(id, nil); err != nil || gone != nil {
		t.Fatalf("Renew(gone) = %+v, %v", gone, err)
	}

	// The leader-election recipe.
	lock, err := c.LockKey("service/leader")
	if err != nil {
		t.Fatal(err)
	}
	lost, err := lock.Lock(nil)
	if err != nil || lost == nil {
		t.Fatalf("Lock = %v", err)
	}
	p, _, err := c.KV().Get("service/leader", nil)
	if err != nil || p == nil || p.Session == "" || p.Flags != consulapi.LockFlagValue {
		t.Fatalf("lock key = %+v, %v", p, err)
	}
	if err := lock.Unlock(); err != nil {
		t.Fatal(err)
	}
	p, _, err = c.KV().Get("service/leader", nil)
	if err != nil || p == nil || p.Session != "" {
		t.Fatalf("lock key after Unlock = %+v, %v", p, err)
	}
}

func TestConsulAPITxn(t *testing.T) {
	e := newEnv(t)
	c := newConsulClient(t, e)
	ok, resp, _, err := c.Txn().Txn(consulapi.TxnOps{
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVSet, Key: "a", Value: []byte("1")}},
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVSet, Key: "b", Value: []byte("2")}},
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVGet, Key: "a"}},
	}, nil)
	if err != nil || !ok || len(resp.Results) != 3 || string(resp.Results[2].KV.Value) != "1" {
		t.Fatalf("Txn = %v, %+v, %v", ok, resp, err)
	}
	ok, resp, _, err = c.Txn().Txn(consulapi.TxnOps{
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVSet, Key: "c", Value: []byte("3")}},
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVCheckNotExists, Key: "a"}},
	}, nil)
	if err != nil || ok || len(resp.Errors) != 1 || resp.Errors[0].OpIndex != 1 {
		t.Fatalf("failing Txn = %v, %+v, %v", ok, resp, err)
	}
	if p, _, _ := c.KV().Get("c", nil); p != nil {
		t.Fatal("a rolled-back transaction wrote c")
	}
	ok, resp, meta, err := c.Txn().Txn(consulapi.TxnOps{
		{KV: &consulapi.KVTxnOp{Verb: consulapi.KVGetTree, Key: ""}},
	}, &consulapi.QueryOptions{AllowStale: true})
	if err != nil || !ok || len(resp.Results) != 2 || meta.LastIndex == 0 {
		t.Fatalf("read-only Txn = %v, %+v, %+v, %v", ok, resp, meta, err)
	}
}

func TestConsulAPIStatusOperatorAgent(t *testing.T) {
	e := newEnv(t)
	e.fake.Edit(func(f *fakecatalog.Fake) { f.Snapshot = []byte("archive") })
	c := newConsulClient(t, e)
	if l, err := c.Status().Leader(); err != nil || l != "127.0.0.1:8300" {
		t.Fatalf("Leader = %q, %v", l, err)
	}
	if p, err := c.Status().Peers(); err != nil || len(p) != 1 {
		t.Fatalf("Peers = %v, %v", p, err)
	}
	if cfg, err := c.Operator().RaftGetConfiguration(nil); err != nil || cfg == nil {
		t.Fatalf("RaftGetConfiguration = %+v, %v", cfg, err)
	}
	name, err := c.Agent().NodeName()
	if err != nil || name != "gw-node" {
		t.Fatalf("NodeName = %q, %v", name, err)
	}
	self, err := c.Agent().Self()
	if err != nil || self["Config"]["Datacenter"] != "dc1" {
		t.Fatalf("Self = %v, %v", self, err)
	}
	rc, meta, err := c.Snapshot().Save(nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(data) != "archive" || meta.LastIndex == 0 {
		t.Fatalf("Save = %q, %+v, %v", data, meta, err)
	}
	if err := c.Snapshot().Restore(nil, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

// consul/api's UseCache reads report the cache through QueryMeta, and its
// MaxAge and StaleIfError become Cache-Control.
func TestConsulAPICachedReads(t *testing.T) {
	e, _ := cachedEnv(t)
	c := newConsulClient(t, e)
	opts := &consulapi.QueryOptions{UseCache: true}

	entries, meta, err := c.Health().Service("web", "", false, opts)
	if err != nil || len(entries) != 2 {
		t.Fatalf("Health().Service = %d entries, %v", len(entries), err)
	}
	if meta.CacheHit {
		t.Errorf("the first cached read is a hit: %+v", meta)
	}
	_, meta, err = c.Health().Service("web", "", false, opts)
	if err != nil || !meta.CacheHit || meta.CacheAge != 0 || meta.LastIndex == 0 {
		t.Errorf("second cached read: meta %+v, err %v; want a hit of age 0 with an index", meta, err)
	}

	if _, meta, err = c.Catalog().Services(opts); err != nil || meta.CacheHit {
		t.Fatalf("Catalog().Services: meta %+v, err %v; want a miss", meta, err)
	}
	if _, meta, err = c.Catalog().Services(opts); err != nil || !meta.CacheHit {
		t.Fatalf("Catalog().Services again: meta %+v, err %v; want a hit", meta, err)
	}
	if _, meta, err = c.Catalog().Services(&consulapi.QueryOptions{UseCache: true, MaxAge: time.Nanosecond}); err != nil || meta.CacheHit {
		t.Errorf("Catalog().Services with MaxAge 1ns: meta %+v, err %v; want a miss", meta, err)
	}
}
