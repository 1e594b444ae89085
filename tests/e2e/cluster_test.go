package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// replica is one bin/beacon-catalog process of a test cluster.
type replica struct {
	name     string
	raftAddr string
	grpcAddr string
	dataDir  string
	peers    []string
	p        *proc
}

var (
	replicaUp = regexp.MustCompile(`catalog replica running`)
	gatewayUp = regexp.MustCompile(`serving the HTTP API`)
)

func (r *replica) start(t *testing.T) {
	t.Helper()
	args := []string{
		"-node", r.name, "-data-dir", r.dataDir,
		"-bind", r.raftAddr, "-advertise", r.raftAddr, "-grpc-addr", r.grpcAddr,
		"-bootstrap-expect", "3",
	}
	for _, p := range r.peers {
		args = append(args, "-retry-join", p)
	}
	r.p, _ = startProc(t, "beacon-catalog "+r.name, "beacon-catalog", replicaUp, args...)
}

// startCluster starts three catalog replicas that find each other.
func startCluster(t *testing.T) []*replica {
	t.Helper()
	rs := make([]*replica, 3)
	for i := range rs {
		rs[i] = &replica{name: fmt.Sprintf("cat%d", i+1), raftAddr: freeAddr(t), grpcAddr: freeAddr(t), dataDir: t.TempDir()}
	}
	for _, r := range rs {
		for _, o := range rs {
			if o != r {
				r.peers = append(r.peers, o.raftAddr)
			}
		}
	}
	for _, r := range rs {
		r.start(t)
	}
	return rs
}

// startGateway runs bin/beacon-httpgw against the given replicas and
// returns its address.
func startGateway(t *testing.T, name string, replicas ...*replica) (*proc, string) {
	t.Helper()
	addr := freeAddr(t)
	args := []string{"-http-addr", addr, "-datacenter", "dc1", "-node", name}
	for _, r := range replicas {
		args = append(args, "-catalog", r.grpcAddr)
	}
	p, _ := startProc(t, "beacon-httpgw "+name, "beacon-httpgw", gatewayUp, args...)
	return p, addr
}

// clusterClient is a consul/api client whose calls give up after 10 s, so
// that a call caught in a failover fails rather than hangs.
func clusterClient(t *testing.T, addr string) *consulapi.Client {
	t.Helper()
	cfg := consulapi.DefaultNonPooledConfig()
	cfg.Address, cfg.Scheme, cfg.Token = addr, "http", ""
	cfg.HttpClient = &http.Client{Timeout: 10 * time.Second}
	c, err := consulapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClusterFailover runs three catalog replicas and an HTTP gateway as
// separate processes, kills the leader with SIGKILL while a client keeps
// writing, and checks that a new leader comes within 5 s, that writes go
// on, that no acknowledged write is lost, and that the killed replica,
// restarted from its data directory, catches up.
func TestClusterFailover(t *testing.T) {
	rs := startCluster(t)
	gw, gwAddr := startGateway(t, "gw1", rs...)
	c := clusterClient(t, gwAddr)

	var leader string
	waitFor(t, 30*time.Second, "a cluster leader", func() error {
		l, err := c.Status().Leader()
		if err == nil && l == "" {
			err = fmt.Errorf("no leader")
		}
		leader = l
		return err
	})
	waitFor(t, 10*time.Second, "the cluster takes writes", func() error {
		_, err := c.KV().Put(&consulapi.KVPair{Key: "hello", Value: []byte("world")}, nil)
		return err
	})
	peers, err := c.Status().Peers()
	if err != nil || len(peers) != 3 {
		t.Fatalf("peers = %v, %v; want 3", peers, err)
	}

	// Stale reads may be served by any replica, and each knows the leader.
	for i := range 6 {
		p, meta, err := c.KV().Get("hello", &consulapi.QueryOptions{AllowStale: true})
		if err != nil {
			t.Fatalf("stale read %d: %v", i, err)
		}
		if !meta.KnownLeader {
			t.Errorf("stale read %d: X-Consul-KnownLeader false", i)
		}
		_ = p // a stale read may lag; the value is checked after the failover
	}
	r := do(t, http.MethodGet, "http://"+gwAddr+"/v1/kv/hello?stale", nil)
	if r.header.Get("X-Consul-KnownLeader") != "true" || r.header.Get("X-Consul-LastContact") == "" {
		t.Errorf("?stale headers: %v", r.header)
	}

	var victim *replica
	for _, r := range rs {
		if r.raftAddr == leader {
			victim = r
		}
	}
	if victim == nil {
		t.Fatalf("leader %s is none of the replicas", leader)
	}

	// A writer that records every write the gateway acknowledged.
	var (
		mu       sync.Mutex
		acked    []string
		ackedAt  []time.Time
		failed   int
		lastFail time.Time
		errSeen  = map[string]int{}
	)
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprintf("w/%05d", i)
			_, err := c.KV().Put(&consulapi.KVPair{Key: key, Value: []byte(strconv.Itoa(i))}, nil)
			mu.Lock()
			if err == nil {
				acked = append(acked, key)
				ackedAt = append(ackedAt, time.Now())
			} else {
				failed++
				lastFail = time.Now()
				errSeen[err.Error()]++
			}
			mu.Unlock()
			if err != nil {
				select { // back off a little, as a client would
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
	}()
	defer func() {
		select {
		case <-stopped:
		default:
			close(stop)
			<-stopped
		}
	}()
	waitFor(t, 10*time.Second, "writes before the kill", func() error {
		if n := ackedCount(); n < 20 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})

	victim.p.kill(t)
	killed := time.Now()
	beforeKill := ackedCount()
	var newLeader string
	waitFor(t, 15*time.Second, "a new leader", func() error {
		l, err := c.Status().Leader()
		if err == nil && (l == "" || l == leader) {
			err = fmt.Errorf("leader %q", l)
		}
		newLeader = l
		return err
	})
	failover := time.Since(killed)
	t.Logf("SIGKILL of leader %s (%s): new leader %s after %s", victim.name, leader, newLeader, failover.Round(time.Millisecond))
	if failover > 5*time.Second {
		t.Errorf("new leader after %s, want ≤ 5s", failover)
	}
	elected := ackedCount()
	waitFor(t, 15*time.Second, "writes after the failover", func() error {
		if n := ackedCount() - elected; n < 20 {
			return fmt.Errorf("%d acknowledged since the new leader", n)
		}
		return nil
	})
	close(stop)
	<-stopped
	mu.Lock()
	resumed := ackedAt[beforeKill].Sub(killed)
	t.Logf("writer: %d acknowledged (%d before the kill), %d failed; the first write after the kill was acknowledged %s after it",
		len(acked), beforeKill, failed, resumed.Round(time.Millisecond))
	if failed > 0 {
		t.Logf("  the last failure came %s after the kill", lastFail.Sub(killed).Round(time.Millisecond))
	}
	for e, n := range errSeen {
		t.Logf("  %d× %s", n, e)
	}
	want := append([]string(nil), acked...)
	mu.Unlock()

	// Every acknowledged write is there, read from the leader.
	checkAll := func(c *consulapi.Client, opts *consulapi.QueryOptions) error {
		pairs, _, err := c.KV().List("w/", opts)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, p := range pairs {
			have[p.Key] = true
		}
		var missing []string
		for _, k := range want {
			if !have[k] {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d of %d acknowledged writes missing: %.300v", len(missing), len(want), missing)
		}
		return nil
	}
	if err := checkAll(c, &consulapi.QueryOptions{RequireConsistent: true}); err != nil {
		failWithLogs(t, gw, "after the failover: %v", err)
	}

	// The killed replica restarts from its data directory and catches up:
	// a stale read through a gateway that reaches only it sees the latest
	// write.
	victim.start(t)
	restarted := time.Now()
	_, gw2Addr := startGateway(t, "gw2", victim)
	c2 := clusterClient(t, gw2Addr)
	if _, err := c.KV().Put(&consulapi.KVPair{Key: "latest", Value: []byte("after-restart")}, nil); err != nil {
		t.Fatalf("write after the restart: %v", err)
	}
	waitFor(t, 20*time.Second, "the restarted replica has the latest write", func() error {
		p, meta, err := c2.KV().Get("latest", &consulapi.QueryOptions{AllowStale: true})
		if err != nil {
			return err
		}
		if p == nil || string(p.Value) != "after-restart" {
			return fmt.Errorf("latest = %+v", p)
		}
		if !meta.KnownLeader {
			return fmt.Errorf("the restarted replica knows no leader")
		}
		return nil
	})
	t.Logf("the restarted replica served the latest write %s after it was started", time.Since(restarted).Round(time.Millisecond))
	if err := checkAll(c2, &consulapi.QueryOptions{AllowStale: true}); err != nil {
		failWithLogs(t, victim.p, "on the restarted replica: %v", err)
	}
	if peers, err := c.Status().Peers(); err != nil || len(peers) != 3 {
		t.Errorf("peers after the restart = %v, %v; want 3", peers, err)
	}
}
