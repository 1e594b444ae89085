package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// linConfig sizes one linearizability run.
type linConfig struct {
	replicas  int
	clients   int
	keys      int
	duration  time.Duration // the fault phase, unless BEACON_CHAOS_DURATION
	minFaults int
}

// TestLinearizableKV is the plan's R1/R2 on loopback: three catalog
// replicas behind fault proxies, a gateway pinned to each and one spread
// over all, eight clients on eight keys doing default, consistent and stale
// reads, puts, CAS and deletes, while a nemesis kills (-9) and restarts,
// pauses (SIGSTOP) and partitions the leader or a follower. The history
// must be linearizable (porcupine), no acknowledged write may be lost, all
// replicas must converge, every request must end within its timeout, and a
// client's stale reads of a key from one replica must never see the index
// go back.
func TestLinearizableKV(t *testing.T) {
	runLinearizable(t, linConfig{replicas: 3, clients: 8, keys: 8, duration: 60 * time.Second, minFaults: 10})
}

// TestLinearizableKVFiveReplicas is the same with five replicas, which
// survive two faults at once in principle; the nemesis still injects one at
// a time, so every fault leaves a quorum of four.
func TestLinearizableKVFiveReplicas(t *testing.T) {
	runLinearizable(t, linConfig{replicas: 5, clients: 10, keys: 8, duration: 30 * time.Second, minFaults: 6})
}

func runLinearizable(t *testing.T, cfg linConfig) {
	const reqTimeout = 2 * time.Second
	keys := make([]string, cfg.keys)
	for i := range keys {
		keys[i] = fmt.Sprintf("chaos/k%d", i)
	}
	d := chaosDuration(t, cfg.duration)
	seed := chaosSeed(t)
	dir := workDir(t)
	c := startCluster(t, dir, cfg.replicas)
	clients, n := cfg.clients, cfg.replicas
	minFaults := cfg.minFaults

	h := newHistory()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range clients {
		// Most clients are pinned to one replica each (spread evenly), two
		// are spread over all replicas, as in etcd's traffic.
		gw := c.gws[i%n]
		if i >= clients-2 {
			gw = c.gws[n]
		}
		cl := newKVClient(i, gw, h, keys, reqTimeout, seed)
		wg.Go(func() { cl.run(ctx) })
	}
	clientsDone := make(chan struct{})
	go func() { wg.Wait(); close(clientsDone) }()
	t.Cleanup(func() { cancel(); <-clientsDone })
	// Traffic on a healthy cluster first: the run is void if the cluster
	// cannot carry real load before any fault.
	const warmup = 3 * time.Second
	sleepCtx(ctx, warmup)
	warm := len(h.snapshot())
	rate := float64(warm) / warmup.Seconds()
	t.Logf("warm-up: %d ops in %s (%.0f ops/s) before the first fault", warm, warmup, rate)
	if rate < 50 {
		t.Errorf("only %.0f ops/s before the first fault: the run is void (the plan asks ≥100 ops/s)", rate)
	}

	nem := newNemesis(c, h, seed, chaosFaults(t), t.Logf)
	if err := nem.run(ctx, d, minFaults, time.Now().Add(2*d+2*time.Minute)); err != nil {
		t.Errorf("nemesis stopped: %v", err)
	}
	if err := c.markLost(); err != nil {
		t.Errorf("a replica died by itself; the run goes on without it: %v", err)
	}
	if err := c.healAll(); err != nil {
		c.fatal("healing: %v", err)
	}
	if err := c.waitHealthy(30 * time.Second); err != nil {
		if lost := c.markLost(); lost != nil {
			t.Errorf("a replica died by itself after healing; the run goes on without it: %v", lost)
			err = c.waitHealthy(30 * time.Second)
		}
		if err != nil {
			c.fatal("cluster did not recover after the last fault: %v", err)
		}
	}
	sleepCtx(context.Background(), time.Second) // some traffic on the healed cluster
	cancel()
	select {
	case <-clientsDone:
	case <-time.After(reqTimeout + 5*time.Second):
		t.Errorf("clients did not stop within %s of the end: a request hangs", reqTimeout+5*time.Second)
	}

	// Final reads through every gateway after healing: they join the
	// history, so porcupine checks them too.
	final := map[string]string{}
	for g, gw := range c.gws {
		if p := gw.pinned(); p >= 0 && c.lost[p] != nil {
			continue
		}
		fc := newKVClient(clients+g, gw, h, keys, reqTimeout, seed)
		for _, k := range keys {
			var got op
			deadline := time.Now().Add(20 * time.Second)
			for {
				got = fc.do(kvInput{Kind: opRead, Key: k, Mode: modeConsistent})
				if got.Out.Outcome == outOK || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if got.Out.Outcome != outOK {
				t.Errorf("final consistent read of %s through %s: %s", k, gw.name, describeAnswer(got.Out))
				continue
			}
			if v, ok := final[k]; ok && v != got.Out.Value {
				t.Errorf("final reads disagree: %s = %s through one gateway, %s through %s", k, showValue(v), showValue(got.Out.Value), gw.name)
			}
			final[k] = got.Out.Value
		}
	}
	// Every replica's own (stale) state must converge on the same values.
	for _, gw := range c.gws[:n] {
		if c.lost[gw.pinned()] != nil {
			continue
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			diff := staleDiff(c, gw, final)
			if diff == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("replica %s did not converge within 10s of healing: %s", c.reps[gw.pinned()].node, diff)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	ops := h.snapshot()
	logRunSummary(t, ops, nem.faults, c)
	if len(nem.faults) < minFaults {
		t.Errorf("only %d faults injected, want ≥ %d", len(nem.faults), minFaults)
	}
	if err := c.crashed(); err != nil {
		t.Errorf("a process crashed: %v", err)
	}
	failAll := func(what string, errs []string) {
		for i, e := range errs {
			if i == 20 {
				t.Errorf("%s: … and %d more", what, len(errs)-20)
				break
			}
			t.Errorf("%s: %s", what, e)
		}
	}
	failAll("request not bounded by its timeout", checkBounded(ops, reqTimeout+time.Second))
	failAll("read/index mismatch", checkIndexMapping(ops))
	failAll("stale read went back in time", checkStaleMonotonic(ops))
	failAll("lost write", checkNoLostWrite(ops, final))
	checkLinearizable(t, ops, clients+len(c.gws), nem.faults, dir, checkTimeout(t))
}

// staleDiff compares a replica's own state (stale reads through its pinned
// gateway) with want, "" when equal.
func staleDiff(c *cluster, gw *gateway, want map[string]string) string {
	fc := newKVClient(0, gw, newHistory(), nil, 2*time.Second, 0)
	var diffs []string
	for k, v := range want {
		out := fc.send(kvInput{Kind: opRead, Key: k, Mode: modeStale})
		if out.Outcome != outOK {
			diffs = append(diffs, fmt.Sprintf("%s: %s", k, describeAnswer(out)))
		} else if out.Value != v {
			diffs = append(diffs, fmt.Sprintf("%s = %s, want %s", k, showValue(out.Value), showValue(v)))
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; ")
}

// checkTimeout bounds porcupine: 60 s, or BEACON_CHAOS_CHECK_TIMEOUT.
func checkTimeout(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("BEACON_CHAOS_CHECK_TIMEOUT")
	if v == "" {
		return 60 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("BEACON_CHAOS_CHECK_TIMEOUT=%q: want a positive Go duration", v)
	}
	return d
}

// checkLinearizable runs porcupine over the history key by key (checkKey:
// first without the unobserved indeterminate writes, which decides almost
// every passing run in well under a second, then putting back those that
// may explain where it got stuck, then the whole key). Anything but Ok
// within the timeout fails the test and keeps porcupine's visualization of
// the keys that failed (with the faults as annotations) and the history as
// text in dir.
func checkLinearizable(t *testing.T, ops []op, clients int, faults []fault, dir string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var failed []porcupine.Operation
	worst := porcupine.Ok
	for _, key := range kvModel.Partition(porcupineOps(ops, clients)) {
		start := time.Now()
		v := checkKey(key, deadline)
		t.Logf("porcupine %s: %v over %d operations (%d of %d unobserved indeterminate writes put back, %d rounds) in %s",
			key[0].Input.(kvInput).Key, v.Result, len(v.Checked), v.Restored, v.Spare, v.Rounds,
			time.Since(start).Round(time.Millisecond))
		if v.Result != porcupine.Ok {
			failed = append(failed, v.Checked...)
			if worst != porcupine.Illegal {
				worst = v.Result
			}
		}
	}
	if worst == porcupine.Ok {
		return
	}
	var notes []porcupine.Annotation
	for _, f := range faults {
		notes = append(notes, porcupine.Annotation{
			Tag: "nemesis", Start: f.Start, End: f.End,
			Description: fmt.Sprintf("%s c%d", f.Kind, f.Target), Details: f.String(),
			BackgroundColor: "#f8d7da",
		})
	}
	// The verbose run computes the partial linearizations the picture
	// shows; it gets its own bounded time.
	_, info := porcupine.CheckOperationsVerbose(kvModel, failed, 30*time.Second)
	info.AddAnnotations(notes)
	path := filepath.Join(dir, "history.html")
	if err := porcupine.VisualizePath(kvModel, info, path); err != nil {
		t.Errorf("writing the visualization: %v", err)
	}
	if worst == porcupine.Illegal {
		t.Errorf("history is NOT linearizable; visualization: %s", path)
	} else {
		t.Errorf("porcupine could not decide within %s (%v): treat as a failure; visualization: %s", timeout, worst, path)
	}
	if err := writeHistory(ops, filepath.Join(dir, "history.txt")); err != nil {
		t.Errorf("writing the history: %v", err)
	}
}

// logRunSummary logs what the run did: operations by kind and outcome,
// faults and failover figures.
func logRunSummary(t *testing.T, ops []op, faults []fault, c *cluster) {
	t.Helper()
	counts := map[string]int{}
	var last int64
	for _, o := range ops {
		name := [...]string{"read", "put", "cas", "delete"}[o.In.Kind]
		if o.In.Kind == opRead {
			name += "/" + o.In.Mode
		}
		counts[name+" "+o.Out.Outcome.String()]++
		last = max(last, o.Return)
	}
	var lines []string
	for k, n := range counts {
		lines = append(lines, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(lines)
	t.Logf("summary: %d ops in %s (%.0f ops/s), %d faults; proxy: %d connections, %d blackholed at accept, %d of unknown origin",
		len(ops), fmtNanos(last), float64(len(ops))/time.Duration(last).Seconds(), len(faults),
		c.net.accepted.Load(), c.net.holed.Load(), c.net.unknown.Load())
	t.Logf("outcomes: %s", strings.Join(lines, " "))
	t.Logf("failover:%s", faultSummary(faults, ops))
}
