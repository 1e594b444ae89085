package compose

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The fault tests run in this order on the shared cluster; each one leaves
// every container running and healthy again.

// TestAgentKilled: a node agent killed with SIGKILL has no chance to leave,
// so its node must turn failed and its service leave DNS within 15 s;
// started again, the node is alive and the service back.
func TestAgentKilled(t *testing.T) {
	c := needCluster(t)
	c.restoreHealthy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	killed := time.Now()
	if _, err := docker("kill", "--signal", "KILL", c.ids["web-agent"]); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			docker("start", c.ids["web-agent"])
		}
	})
	if err := eventually(15*time.Second-time.Since(killed), func() error { return c.memberStatus(ctx, "node-2", statusFailed) }); err != nil {
		t.Fatalf("node-2 not failed within 15 s of the kill: %v", err)
	}
	if err := eventually(15*time.Second-time.Since(killed), func() error { return c.webInDNS(ctx, false) }); err != nil {
		t.Fatalf("web still in DNS 15 s after its agent was killed: %v", err)
	}
	t.Logf("node-2 failed and web out of DNS %s after the kill", time.Since(killed).Round(100*time.Millisecond))

	if _, err := docker("start", c.ids["web-agent"]); err != nil {
		t.Fatal(err)
	}
	restarted = true
	if err := eventually(30*time.Second, func() error { return c.memberStatus(ctx, "node-2", statusAlive) }); err != nil {
		t.Fatalf("node-2 not alive after its agent restarted: %v", err)
	}
	if err := eventually(30*time.Second, func() error { return c.webInDNS(ctx, true) }); err != nil {
		t.Fatalf("web not back in DNS: %v", err)
	}
}

// Serf's member status codes, as /v1/agent/members reports them.
const (
	statusAlive  = 1
	statusFailed = 4
)

func (c *cluster) memberStatus(ctx context.Context, name string, want int) error {
	var members []struct {
		Name   string
		Status int
	}
	if _, err := getJSON(ctx, c.http, "/v1/agent/members", &members); err != nil {
		return err
	}
	for _, m := range members {
		if m.Name == name {
			if m.Status != want {
				return fmt.Errorf("%s has status %d, want %d", name, m.Status, want)
			}
			return nil
		}
	}
	return fmt.Errorf("%s is not a member: %+v", name, members)
}

// webInDNS checks whether web.service.consul has an SRV record.
func (c *cluster) webInDNS(ctx context.Context, want bool) error {
	m := new(dns.Msg).SetQuestion("web.service.consul.", dns.TypeSRV)
	in, _, err := (&dns.Client{Timeout: 2 * time.Second}).ExchangeContext(ctx, m, c.dns)
	if err != nil {
		return err
	}
	if got := in.Rcode == dns.RcodeSuccess && len(in.Answer) > 0; got != want {
		return fmt.Errorf("web.service.consul SRV: %s %v; want present=%v", dns.RcodeToString[in.Rcode], in.Answer, want)
	}
	return nil
}

// TestReplicaPartitioned cuts one follower off the shared network: the
// majority keeps taking writes, the isolated replica takes none and its
// stale reads say it knows no leader (with a growing last contact) while
// its default reads fail; reconnected, it catches up.
func TestReplicaPartitioned(t *testing.T) {
	c := needCluster(t)
	c.restoreHealthy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	leader, err := c.waitLeader(ctx, c.http, "")
	if err != nil {
		t.Fatal(err)
	}
	var isolated string
	var majority []string
	for _, r := range catalogs {
		if r != leader && isolated == "" {
			isolated = r
		} else {
			majority = append(majority, r)
		}
	}
	if err := kvPut(ctx, c.http, "partition/key", "before"); err != nil {
		t.Fatal(err)
	}
	// The isolated replica has the value before the cut.
	if err := eventually(10*time.Second, func() error {
		if r := kvGet(ctx, c.gw[isolated], "partition/key", "stale"); r.value != "before" {
			return fmt.Errorf("stale read on %s: %+v", isolated, r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	t.Logf("disconnecting %s (leader %s)", isolated, leader)
	if _, err := docker("network", "disconnect", c.mesh, c.ids[isolated]); err != nil {
		t.Fatal(err)
	}
	connected := false
	reconnect := func() error {
		if connected {
			return nil
		}
		_, err := docker("network", "connect", "--alias", isolated, c.mesh, c.ids[isolated])
		connected = err == nil
		return err
	}
	t.Cleanup(func() { reconnect() })

	t.Run("majority takes writes", func(t *testing.T) {
		for i := range 10 {
			gw := c.gw[majority[i%2]]
			val := fmt.Sprintf("during-%d", i)
			if err := eventually(10*time.Second, func() error { return kvPut(ctx, gw, "partition/key", val) }); err != nil {
				t.Fatalf("write %d through %s's gateway: %v", i, majority[i%2], err)
			}
		}
		if r := kvGet(ctx, c.gw[majority[0]], "partition/key", "consistent"); r.status != http.StatusOK || r.value != "during-9" {
			t.Fatalf("consistent read on the majority: %+v", r)
		}
	})

	t.Run("isolated replica refuses writes", func(t *testing.T) {
		err := kvPut(ctx, c.gw[isolated], "partition/isolated", "must-not-be-acked")
		if err == nil {
			t.Fatal("the isolated replica acknowledged a write")
		}
		t.Logf("write on the isolated replica: %v", err)
	})

	t.Run("isolated replica reads are not false-current", func(t *testing.T) {
		var first kvRead
		if err := eventually(15*time.Second, func() error {
			first = kvGet(ctx, c.gw[isolated], "partition/key", "stale")
			if first.status != http.StatusOK || first.knownLeader != "false" {
				return fmt.Errorf("stale read: %+v", first)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if first.value != "before" {
			t.Fatalf("stale read on the isolated replica has %q, it cannot have seen anything after %q", first.value, "before")
		}
		time.Sleep(1500 * time.Millisecond)
		second := kvGet(ctx, c.gw[isolated], "partition/key", "stale")
		if second.knownLeader != "false" || second.lastContact <= first.lastContact {
			t.Fatalf("X-Consul-LastContact did not grow: %d then %d (known leader %q)", first.lastContact, second.lastContact, second.knownLeader)
		}
		for _, q := range []string{"", "consistent"} {
			r := kvGet(ctx, c.gw[isolated], "partition/key", q)
			if r.status == http.StatusOK {
				t.Errorf("read ?%s on the isolated replica answered 200 %q: a stale value presented as current", q, r.value)
			}
		}
	})

	if err := reconnect(); err != nil {
		t.Fatal(err)
	}
	t.Run("reconnected replica catches up", func(t *testing.T) {
		if err := eventually(30*time.Second, func() error {
			r := kvGet(ctx, c.gw[isolated], "partition/key", "stale")
			if r.value != "during-9" || r.knownLeader != "true" {
				return fmt.Errorf("stale read on %s: %+v", isolated, r)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if r := kvGet(ctx, c.http, "partition/isolated", "consistent"); r.status != http.StatusNotFound {
			t.Fatalf("the write refused during the partition exists: %+v", r)
		}
	})
}

// TestLeaderStopped stops the leader's container while a client writes
// through the HTTP gateway: a new leader within 10 s, writes go on, and
// every acknowledged write is still there.
func TestLeaderStopped(t *testing.T) {
	c := needCluster(t)
	c.restoreHealthy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	old, err := c.waitLeader(ctx, c.http, "")
	if err != nil {
		t.Fatal(err)
	}
	w := startWriter(c.http, "failover", 20*time.Millisecond)
	defer w.stop()
	if err := eventually(10*time.Second, func() error {
		if w.ackedSince(time.Time{}) < 20 {
			return errors.New("fewer than 20 writes acknowledged")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	stopped := time.Now()
	go docker("stop", "-t", "10", c.ids[old])
	t.Cleanup(func() { docker("start", c.ids[old]) })
	lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
	newLeader, err := c.waitLeader(lctx, c.http, old)
	lcancel()
	if err != nil {
		t.Fatalf("no new leader within 10 s of stopping %s: %v", old, err)
	}
	elected := time.Since(stopped)
	// The first write acknowledged after the stop marks the service back.
	if err := eventually(20*time.Second, func() error {
		if w.ackedSince(stopped.Add(elected)) < 20 {
			return errors.New("fewer than 20 writes acknowledged under the new leader")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	benchFigure("deploy-failover", elected.Seconds(), 0)
	acked, failed, errs := w.stop()
	t.Logf("leader %s stopped; %s leads %s later; %d writes acknowledged, %d failed %v",
		old, newLeader, elected.Round(10*time.Millisecond), len(acked), failed, errs)
	if lost := missing(ctx, c.http, acked, "consistent"); len(lost) > 0 {
		t.Fatalf("%d acknowledged writes lost, e.g. %v", len(lost), lost[:min(len(lost), 5)])
	}
	if _, err := docker("start", c.ids[old]); err != nil {
		t.Fatal(err)
	}
}

// TestRollingRestart restarts the replicas one by one under write load:
// no acknowledged write is lost, and every replica ends with all of them.
func TestRollingRestart(t *testing.T) {
	c := needCluster(t)
	c.restoreHealthy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	w := startWriter(c.http, "rolling", 20*time.Millisecond)
	defer w.stop()
	for _, r := range catalogs {
		if _, err := docker("restart", "-t", "10", c.ids[r]); err != nil {
			t.Fatal(err)
		}
		// The next replica goes only once this one serves again.
		if err := c.waitHealthy(2 * time.Minute); err != nil {
			t.Fatalf("after restarting %s: %v", r, err)
		}
	}
	acked, failed, errs := w.stop()
	t.Logf("%d writes acknowledged, %d failed %v", len(acked), failed, errs)
	if len(acked) < 50 {
		t.Fatalf("only %d writes acknowledged during the rolling restart", len(acked))
	}
	if lost := missing(ctx, c.http, acked, "consistent"); len(lost) > 0 {
		t.Fatalf("%d acknowledged writes lost, e.g. %v", len(lost), lost[:min(len(lost), 5)])
	}
	// Every replica has every write (stale reads are answered locally).
	for _, r := range catalogs {
		if err := eventually(30*time.Second, func() error {
			if lost := missing(ctx, c.gw[r], acked, "stale"); len(lost) > 0 {
				return fmt.Errorf("%s lacks %d writes, e.g. %v", r, len(lost), lost[:min(len(lost), 3)])
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAllReplicasRestarted kills every replica at once and starts them
// again: every key and every service is still there.
func TestAllReplicasRestarted(t *testing.T) {
	c := needCluster(t)
	c.restoreHealthy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	acked := map[string]string{}
	for i := range 20 {
		key, val := fmt.Sprintf("restart-all/%02d", i), fmt.Sprintf("v%d", i)
		if err := kvPut(ctx, c.http, key, val); err != nil {
			t.Fatal(err)
		}
		acked[key] = val
	}
	var before map[string][]string
	if _, err := getJSON(ctx, c.http, "/v1/catalog/services", &before); err != nil {
		t.Fatal(err)
	}

	ids := []string{"kill", "--signal", "KILL"}
	for _, r := range catalogs {
		ids = append(ids, c.ids[r])
	}
	if _, err := docker(ids...); err != nil {
		t.Fatal(err)
	}
	if _, err := docker(append([]string{"start"}, ids[3:]...)...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.waitLeader(ctx, c.http, ""); err != nil {
		t.Fatal(err)
	}
	if lost := missing(ctx, c.http, acked, "consistent"); len(lost) > 0 {
		t.Fatalf("%d keys lost, e.g. %v", len(lost), lost[:min(len(lost), 5)])
	}
	if err := eventually(30*time.Second, func() error {
		var after map[string][]string
		if _, err := getJSON(ctx, c.http, "/v1/catalog/services", &after); err != nil {
			return err
		}
		for name := range before {
			if _, ok := after[name]; !ok {
				return fmt.Errorf("service %s gone: %v", name, after)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
