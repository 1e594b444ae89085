package chaos

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// holding is one client's tenure of the lock, on the test's clock: from
// Lock returning to the moment the client stopped believing it held it
// (before it called Unlock, or when the lost channel closed).
type holding struct {
	client     int
	start, end time.Duration
	lost       bool
}

// TestLockMutualExclusion runs consul/api's api.Lock on one client per
// gateway (each pinned to a replica, one spread over all) while a nemesis
// kills (-9) and pauses the leader. Sessions have a 10 s TTL and a 2 s
// lock-delay. No two clients may ever believe they hold the lock at once.
// A holder whose monitor sees an error gives the lock up at once
// (MonitorRetries 0), which is what makes the property checkable: its
// tenure ends before anyone else can acquire.
func TestLockMutualExclusion(t *testing.T) {
	const key = "chaos/lock"
	d := chaosDuration(t, 30*time.Second)
	seed := chaosSeed(t)
	dir := workDir(t)
	c := startCluster(t, dir, 3)
	base := time.Now()

	var (
		mu    sync.Mutex
		held  []holding
		stats = map[string]int{}
	)
	count := func(what string) {
		mu.Lock()
		stats[what]++
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, gw := range c.gws {
		cfg := api.DefaultConfig()
		cfg.Address = gw.addr
		cfg.HttpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		client, err := api.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		node := "chaos-" + gw.name
		if err := retry(ctx, 20*time.Second, func() error {
			_, err := client.Catalog().Register(&api.CatalogRegistration{Node: node, Address: "127.0.0.1"}, nil)
			return err
		}); err != nil {
			c.fatal("registering node %s: %v", node, err)
		}
		wg.Go(func() {
			defer cfg.HttpClient.CloseIdleConnections()
			lockLoop(ctx, i, client, node, key, base, count, func(h holding) {
				mu.Lock()
				held = append(held, h)
				mu.Unlock()
			})
		})
	}

	nem := newNemesis(c, newHistory(), seed, []faultKind{killLeader, pauseLeader}, t.Logf)
	if err := nem.run(ctx, d, 5, time.Now().Add(2*d+time.Minute)); err != nil {
		t.Errorf("nemesis stopped: %v", err)
	}
	if err := c.healAll(); err != nil {
		c.fatal("healing: %v", err)
	}
	if err := c.waitHealthy(30 * time.Second); err != nil {
		c.fatal("cluster did not recover: %v", err)
	}
	// Acquisitions must resume on the healed cluster.
	mu.Lock()
	before := len(held)
	mu.Unlock()
	resumed := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(held)
		mu.Unlock()
		if n >= before+3 || time.Now().After(resumed) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("lock clients did not stop within 30s: a call hangs")
	}

	slices.SortFunc(held, func(a, b holding) int { return int(a.start - b.start) })
	lost := 0
	for i, h := range held {
		if h.lost {
			lost++
		}
		for _, o := range held[:i] {
			if o.end > h.start {
				t.Errorf("two holders at once: client %d held the lock %s..%s, client %d %s..%s",
					o.client, o.start.Round(time.Millisecond), o.end.Round(time.Millisecond),
					h.client, h.start.Round(time.Millisecond), h.end.Round(time.Millisecond))
			}
		}
	}
	t.Logf("locks: %d tenures (%d ended by a lost lock), %d faults; client events %v", len(held), lost, len(nem.faults), stats)
	if len(held) < 20 {
		t.Errorf("only %d lock tenures: too few to mean anything", len(held))
	}
	if len(held) < before+3 {
		t.Errorf("locking did not resume after healing: %d tenures before, %d after 30s", before, len(held))
	}
	if err := c.crashed(); err != nil {
		t.Errorf("a process crashed: %v", err)
	}
}

// lockLoop takes and releases the lock until ctx ends, reporting every
// tenure. Each session is created without checks (TTL 10 s, lock-delay
// 2 s) and renewed in the background; a session that is gone is replaced.
func lockLoop(ctx context.Context, id int, client *api.Client, node, key string, base time.Time,
	count func(string), report func(holding)) {
	for ctx.Err() == nil {
		sid, _, err := client.Session().CreateNoChecks(&api.SessionEntry{
			Name: fmt.Sprintf("chaos-lock-%d", id), Node: node, TTL: "10s", LockDelay: 2 * time.Second,
		}, nil)
		if err != nil {
			count("session create error")
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		renewDone := make(chan struct{})
		renewErr := make(chan error, 1)
		go func() { renewErr <- client.Session().RenewPeriodic("10s", sid, nil, renewDone) }()
		for ctx.Err() == nil {
			select {
			case <-renewErr:
				count("session lost")
			default:
			}
			lock, err := client.LockOpts(&api.LockOptions{Key: key, Session: sid, LockWaitTime: 2 * time.Second, MonitorRetries: 0})
			if err != nil {
				count("lock opts error")
				break
			}
			lostCh, err := lock.Lock(ctx.Done())
			if err != nil || lostCh == nil {
				if err != nil {
					count("lock error")
				}
				sleepCtx(ctx, 50*time.Millisecond)
				continue
			}
			h := holding{client: id, start: time.Since(base)}
			select {
			case <-lostCh:
				h.lost = true
			case <-time.After(time.Duration(50+id*40) * time.Millisecond):
			}
			h.end = time.Since(base)
			report(h)
			count("acquired")
			if err := lock.Unlock(); err != nil {
				count("unlock error")
			}
		}
		close(renewDone)
		_, _ = client.Session().Destroy(sid, nil)
	}
}

// retry calls f until it succeeds or d passes.
func retry(ctx context.Context, d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
