package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/freeport"
)

// replica is one beacon-catalog process and the proxy peers reach it by.
type replica struct {
	idx      int
	node     string
	bind     string // the real server port (Raft + replica gRPC)
	grpcAddr string // the public gRPC API, used by the gateways
	proxy    *proxy // what the replica advertises
	proc     *proc
}

// gateway is one beacon-httpgw process.
type gateway struct {
	name     string
	addr     string // HTTP host:port
	replicas []int  // the catalog replicas it talks to
	proc     *proc
}

func (g *gateway) url(path string) string { return "http://" + g.addr + path }

// pinned is the replica the gateway talks to, -1 if it spreads over several.
func (g *gateway) pinned() int {
	if len(g.replicas) == 1 {
		return g.replicas[0]
	}
	return -1
}

// cluster is a three-replica catalog on loopback with a fault proxy in
// front of every replica, a gateway pinned to each replica and one gateway
// spread over all of them.
type cluster struct {
	t    *testing.T
	reps []*replica
	gws  []*gateway
	net  *network
	ctl  *http.Client // the harness' own requests (health, leader)
	// lost holds the replicas that died by themselves (a panic at
	// restart, say): reported once, then left out of health checks so the
	// rest of the run can still be checked on the surviving quorum.
	lost map[int]error
}

// freeAddr returns a loopback address for a process of the test to listen on.
func freeAddr(t *testing.T) string { return freeport.MustAddr(t) }

// startCluster starts the replicas and gateways and waits until a leader is
// known everywhere and every gateway answers a consistent read.
func startCluster(t *testing.T, dir string, n int) *cluster {
	t.Helper()
	c := &cluster{t: t, ctl: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}, lost: map[int]error{}}
	t.Cleanup(c.ctl.CloseIdleConnections)
	c.net = newNetwork(c.pids)
	for i := range n {
		r := &replica{idx: i, node: fmt.Sprintf("c%d", i), bind: freeAddr(t), grpcAddr: freeAddr(t)}
		p, err := c.net.listen(i, r.bind)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.close)
		r.proxy = p
		c.reps = append(c.reps, r)
	}
	for _, r := range c.reps {
		args := []string{"-node", r.node, "-data-dir", filepath.Join(dir, r.node),
			"-bind", r.bind, "-advertise", r.proxy.addr(), "-grpc-addr", r.grpcAddr,
			"-bootstrap-expect", fmt.Sprint(n), "-log-level", "warn"}
		for _, o := range c.reps {
			if o != r {
				args = append(args, "-retry-join", o.proxy.addr())
			}
		}
		r.proc = newProc(t, r.node, "beacon-catalog", filepath.Join(dir, r.node+".log"), args...)
	}
	for i := range n + 1 {
		g := &gateway{name: fmt.Sprintf("gw%d", i), addr: freeAddr(t)}
		var catalogs []string
		if i < n {
			g.replicas = []int{i}
			catalogs = []string{c.reps[i].grpcAddr}
		} else {
			g.name = "gw-all"
			for _, r := range c.reps {
				g.replicas = append(g.replicas, r.idx)
				catalogs = append(catalogs, r.grpcAddr)
			}
		}
		g.proc = newProc(t, g.name, "beacon-httpgw", filepath.Join(dir, g.name+".log"),
			"-http-addr", g.addr, "-catalog", strings.Join(catalogs, ","), "-datacenter", "dc1",
			"-node", "chaos-"+g.name, "-log-level", "warn")
		c.gws = append(c.gws, g)
	}
	for _, r := range c.reps {
		if err := r.proc.start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range c.gws {
		if err := g.proc.start(); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := c.waitHealthy(60 * time.Second); err != nil {
		c.fatal("cluster did not form: %v", err)
	}
	t.Logf("cluster of %d formed in %s, leader %s", n, time.Since(start).Round(time.Millisecond), c.reps[c.mustLeader()].node)
	return c
}

// pids is what the network needs to tell replicas apart.
func (c *cluster) pids() []int {
	out := make([]int, len(c.reps))
	for i, r := range c.reps {
		if r.proc != nil {
			out[i] = r.proc.pid()
		}
	}
	return out
}

// crashed reports any process that exited without the harness killing it,
// except replicas already marked lost.
func (c *cluster) crashed() error {
	var errs []error
	for _, r := range c.reps {
		if c.lost[r.idx] == nil {
			errs = append(errs, r.proc.crashed())
		}
	}
	for _, g := range c.gws {
		errs = append(errs, g.proc.crashed())
	}
	return errors.Join(errs...)
}

// markLost records the replicas that died by themselves and returns their
// errors; from then on the cluster is checked without them.
func (c *cluster) markLost() error {
	var errs []error
	for _, r := range c.reps {
		if err := r.proc.crashed(); err != nil && c.lost[r.idx] == nil {
			c.lost[r.idx] = err
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// live is the replicas not lost.
func (c *cluster) live() []int {
	var out []int
	for _, r := range c.reps {
		if c.lost[r.idx] == nil {
			out = append(out, r.idx)
		}
	}
	return out
}

// liveGateways is the gateways that talk to at least one live replica.
func (c *cluster) liveGateways() []*gateway {
	var out []*gateway
	for _, g := range c.gws {
		if p := g.pinned(); p < 0 || c.lost[p] == nil {
			out = append(out, g)
		}
	}
	return out
}

// fatal fails the test with the end of every process' log.
func (c *cluster) fatal(format string, args ...any) {
	c.t.Helper()
	var b strings.Builder
	for _, r := range c.reps {
		fmt.Fprintf(&b, "\n--- %s (last 3000 bytes) ---\n%s", r.node, r.proc.tail(3000))
	}
	for _, g := range c.gws {
		fmt.Fprintf(&b, "\n--- %s (last 1500 bytes) ---\n%s", g.name, g.proc.tail(1500))
	}
	c.t.Fatalf(format+"%s", append(args, b.String())...)
}

// get is one control request with its own timeout.
func (c *cluster) get(g *gateway, path string, timeout time.Duration) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url(path), nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.ctl.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// leaderSeenBy is the replica that replica g's gateway reports as leader,
// -1 for none.
func (c *cluster) leaderSeenBy(g *gateway) (int, error) {
	status, body, err := c.get(g, "/v1/status/leader", 500*time.Millisecond)
	if err != nil {
		return -1, err
	}
	if status != http.StatusOK {
		return -1, fmt.Errorf("%s: /v1/status/leader: %d %s", g.name, status, body)
	}
	var addr string
	if err := json.Unmarshal(body, &addr); err != nil {
		return -1, fmt.Errorf("%s: /v1/status/leader: %q: %w", g.name, body, err)
	}
	for _, r := range c.reps {
		if r.proxy.addr() == addr {
			return r.idx, nil
		}
	}
	if addr == "" {
		return -1, nil
	}
	return -1, fmt.Errorf("%s: leader %q is no replica's address", g.name, addr)
}

// leaderAmong is the leader reported by every pinned gateway of replicas
// in among, when they all agree on one.
func (c *cluster) leaderAmong(among []int) (int, error) {
	leader := -1
	for _, i := range among {
		l, err := c.leaderSeenBy(c.gws[i])
		if err != nil {
			return -1, err
		}
		if l < 0 {
			return -1, fmt.Errorf("%s knows no leader", c.reps[i].node)
		}
		if leader >= 0 && l != leader {
			return -1, fmt.Errorf("%s says %s leads, another says %s", c.reps[i].node, c.reps[l].node, c.reps[leader].node)
		}
		leader = l
	}
	return leader, nil
}

// mustLeader is the leader of a healthy cluster.
func (c *cluster) mustLeader() int {
	c.t.Helper()
	l, err := c.leaderAmong(c.live())
	if err != nil {
		c.fatal("leader: %v", err)
	}
	return l
}

// healthy says whether every live replica runs, all agree on a leader, and
// a consistent read through every gateway succeeds (so every replica
// reaches the leader and the leader serves reads).
func (c *cluster) healthy() error {
	if err := c.crashed(); err != nil {
		return err
	}
	for _, i := range c.live() {
		if r := c.reps[i]; !r.proc.running() || r.proc.isPaused() {
			return fmt.Errorf("%s is down or paused", r.node)
		}
	}
	if _, err := c.leaderAmong(c.live()); err != nil {
		return err
	}
	for _, g := range c.liveGateways() {
		status, body, err := c.get(g, "/v1/kv/chaos-health?consistent", time.Second)
		if err != nil {
			return fmt.Errorf("%s: %w", g.name, err)
		}
		if status != http.StatusOK && status != http.StatusNotFound {
			return fmt.Errorf("%s: consistent read: %d %s", g.name, status, body)
		}
	}
	return nil
}

// waitHealthy polls healthy until it holds or d passes.
func (c *cluster) waitHealthy(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := c.healthy()
		if err == nil {
			return nil
		}
		if crash := c.crashed(); crash != nil {
			return crash
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy within %s: %w", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
