package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

type faultKind int

const (
	killLeader faultKind = iota
	killFollower
	pauseLeader
	pauseFollower
	isolateLeader
	isolateFollower
	numFaultKinds
)

func (k faultKind) String() string {
	return [...]string{"kill -9 leader", "kill -9 follower", "SIGSTOP leader", "SIGSTOP follower",
		"partition leader", "partition follower"}[k]
}

// allFaults is every fault kind.
var allFaults = []faultKind{killLeader, killFollower, pauseLeader, pauseFollower, isolateLeader, isolateFollower}

// chaosFaults is the fault kinds a cluster test draws from: all of them,
// or those BEACON_CHAOS_FAULTS names (comma-separated words matched against
// the kinds' names, e.g. "pause,partition" or "kill -9 leader"), to narrow
// down a failure.
func chaosFaults(t *testing.T) []faultKind {
	t.Helper()
	v := os.Getenv("BEACON_CHAOS_FAULTS")
	if v == "" {
		return allFaults
	}
	var out []faultKind
	for _, k := range allFaults {
		for w := range strings.SplitSeq(v, ",") {
			if w = strings.TrimSpace(w); w != "" && strings.Contains(k.String(), w) {
				out = append(out, k)
				break
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("BEACON_CHAOS_FAULTS=%q matches no fault kind (%v)", v, allFaults)
	}
	t.Logf("fault kinds limited to %v", out)
	return out
}

func (k faultKind) targetsLeader() bool {
	return k == killLeader || k == pauseLeader || k == isolateLeader
}

// fault is one injected fault and what followed. Times are nanoseconds on
// the history's clock, so faults line up with operations.
type fault struct {
	Kind   faultKind
	Target int
	Start  int64 // injected
	End    int64 // healed: restarted, SIGCONT or partition removed
	// Elected is when the other replicas first agreed on a new leader
	// (leader faults only; 0 if the old leader kept its role).
	Elected   int64
	NewLeader int
	Healthy   int64 // the whole cluster served consistent reads again
}

func (f fault) String() string {
	s := fmt.Sprintf("%-18s c%d at %7s, healed %7s", f.Kind, f.Target, fmtNanos(f.Start), fmtNanos(f.End))
	if f.Elected > 0 {
		s += fmt.Sprintf(", new leader c%d after %s", f.NewLeader, fmtNanos(f.Elected-f.Start))
	} else if f.Kind.targetsLeader() {
		s += ", no new leader"
	}
	return s + fmt.Sprintf(", healthy %s after heal", fmtNanos(f.Healthy-f.End))
}

// nemesis injects faults into a cluster on a seeded schedule, one at a time:
// inject, hold, heal, wait until the cluster is healthy, pause, repeat.
type nemesis struct {
	c      *cluster
	h      *history
	rng    *rand.Rand
	kinds  []faultKind // the fault kinds to draw from
	faults []fault
	logf   func(format string, args ...any)
}

func newNemesis(c *cluster, h *history, seed int64, kinds []faultKind, logf func(string, ...any)) *nemesis {
	return &nemesis{c: c, h: h, rng: rand.New(rand.NewPCG(uint64(seed), 0x6e656d)), kinds: kinds, logf: logf}
}

// run injects faults until at least d has passed and at least minFaults
// faults were injected, but never after hardStop. Kinds are drawn in
// shuffled rounds, so every kind occurs about equally often. It returns an
// error when the cluster does not recover from a fault.
func (n *nemesis) run(ctx context.Context, d time.Duration, minFaults int, hardStop time.Time) error {
	deadline := time.Now().Add(d)
	var order []faultKind
	for ctx.Err() == nil && time.Now().Before(hardStop) && (time.Now().Before(deadline) || len(n.faults) < minFaults) {
		if len(order) == 0 {
			order = slices.Clone(n.kinds)
			n.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		kind := order[0]
		order = order[1:]
		f, err := n.inject(kind)
		if err != nil {
			return err
		}
		n.faults = append(n.faults, f)
		n.logf("fault %2d: %s", len(n.faults), f)
		// A quiet gap, so some traffic runs on a healthy cluster between
		// faults.
		if !sleepCtx(ctx, time.Duration(300+n.rng.IntN(500))*time.Millisecond) {
			break
		}
	}
	return nil
}

func (n *nemesis) inject(kind faultKind) (fault, error) {
	c := n.c
	live := c.live()
	leader, err := c.leaderAmong(live)
	if err != nil {
		return fault{}, fmt.Errorf("before %s: %w", kind, err)
	}
	target := leader
	others := slices.DeleteFunc(slices.Clone(live), func(i int) bool { return i == leader })
	if !kind.targetsLeader() {
		target = others[n.rng.IntN(len(others))]
	}
	others = slices.DeleteFunc(slices.Clone(live), func(i int) bool { return i == target })
	r := c.reps[target]
	f := fault{Kind: kind, Target: target, NewLeader: -1}
	// Hold times: a killed replica stays down 1-2.5 s (often less than an
	// election takes, so the old leader may come back and win again);
	// pauses and partitions last 2-5 s, longer than it takes the others to
	// notice (heartbeat timeout 1-2 s, then pre-vote), so the victim usually
	// returns believing it still leads.
	var hold time.Duration
	switch kind {
	case killLeader, killFollower:
		hold = time.Duration(1000+n.rng.IntN(1500)) * time.Millisecond
		f.Start = n.h.now()
		r.proc.kill()
	case pauseLeader, pauseFollower:
		hold = time.Duration(2000+n.rng.IntN(2000)) * time.Millisecond
		f.Start = n.h.now()
		if err := r.proc.pause(); err != nil {
			return f, err
		}
	case isolateLeader, isolateFollower:
		hold = time.Duration(3000+n.rng.IntN(2000)) * time.Millisecond
		f.Start = n.h.now()
		c.net.isolate(target, len(c.reps))
	}
	watchLeader := func() {
		if kind.targetsLeader() && f.Elected == 0 {
			if l, err := c.leaderAmong(others); err == nil && l != leader {
				f.Elected, f.NewLeader = n.h.now(), l
			}
		}
	}
	for until := time.Now().Add(hold); time.Now().Before(until); {
		watchLeader()
		time.Sleep(25 * time.Millisecond)
	}
	switch kind {
	case killLeader, killFollower:
		if err := r.proc.start(); err != nil {
			return f, err
		}
	case pauseLeader, pauseFollower:
		if err := r.proc.resume(); err != nil {
			return f, err
		}
	case isolateLeader, isolateFollower:
		c.net.heal()
	}
	f.End = n.h.now()
	deadline := time.Now().Add(30 * time.Second)
	for {
		watchLeader()
		err := c.healthy()
		if err == nil {
			break
		}
		if crash := c.crashed(); crash != nil || time.Now().After(deadline) {
			if crash != nil {
				err = crash
			}
			return f, fmt.Errorf("after %s of %s: not healthy: %w", kind, r.node, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.Healthy = n.h.now()
	return f, nil
}

// healAll undoes every fault: continue paused replicas, start killed ones,
// remove partitions.
func (c *cluster) healAll() error {
	c.net.heal()
	for _, i := range c.live() {
		r := c.reps[i]
		switch {
		case r.proc.running():
			if r.proc.isPaused() {
				if err := r.proc.resume(); err != nil {
					return err
				}
			}
		default:
			if err := r.proc.start(); err != nil {
				return err
			}
		}
	}
	return nil
}

// sleepCtx waits d (a fault schedule's timer, not a wait for a condition)
// and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// faultSummary is a table of failover figures for the log and the docs.
func faultSummary(faults []fault, ops []op) string {
	var b strings.Builder
	byKind := map[faultKind][]time.Duration{}
	unavail := map[faultKind][]time.Duration{}
	for _, f := range faults {
		if f.Elected > 0 {
			byKind[f.Kind] = append(byKind[f.Kind], time.Duration(f.Elected-f.Start))
		}
		// Write unavailability: from the fault to the first write called
		// after it that was acknowledged.
		first := int64(-1)
		for _, o := range ops {
			if o.isWrite() && o.Out.Outcome == outOK && o.Call >= f.Start && (first < 0 || o.Return < first) {
				first = o.Return
			}
		}
		if first >= 0 {
			unavail[f.Kind] = append(unavail[f.Kind], time.Duration(first-f.Start))
		}
	}
	for k := range numFaultKinds {
		n := 0
		for _, f := range faults {
			if f.Kind == k {
				n++
			}
		}
		if n == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n  %-18s ×%-2d", k, n)
		if ds := byKind[k]; len(ds) > 0 {
			fmt.Fprintf(&b, "  new leader after: median %s max %s (%d of %d)", median(ds), slices.Max(ds).Round(time.Millisecond), len(ds), n)
		}
		if ds := unavail[k]; len(ds) > 0 {
			fmt.Fprintf(&b, "  first acked write after: median %s max %s", median(ds), slices.Max(ds).Round(time.Millisecond))
		}
	}
	return b.String()
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}
