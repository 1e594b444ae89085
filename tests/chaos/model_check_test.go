package chaos

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// These tests keep the checkers honest: each feeds a small hand-made
// history with a known verdict, the negative controls of the plan (§8): a
// checker that accepts a stale read or a lost write is blind.

func read(client int, key, mode, value string, idx uint64, call, ret int64) op {
	return op{Client: client, Gateway: "gw0", In: kvInput{Kind: opRead, Key: key, Mode: mode},
		Out: kvOutput{Outcome: outOK, Value: value, ModifyIndex: idx, Index: idx, Status: 200}, Call: call, Return: ret}
}

func put(client int, key, value string, o outcome, call, ret int64) op {
	return op{Client: client, Gateway: "gw0", In: kvInput{Kind: opPut, Key: key, Value: value},
		Out: kvOutput{Outcome: o, Status: 200}, Call: call, Return: ret}
}

func cas(client int, key, expect, value string, o outcome, call, ret int64) op {
	return op{Client: client, Gateway: "gw0", In: kvInput{Kind: opCAS, Key: key, Value: value, Expect: expect},
		Out: kvOutput{Outcome: o, Status: 200}, Call: call, Return: ret}
}

func linearizable(ops []op) porcupine.CheckResult {
	return porcupine.CheckOperationsTimeout(kvModel, porcupineOps(ops, 4), 10*time.Second)
}

func TestModelAcceptsLinearizableHistory(t *testing.T) {
	ops := []op{
		put(0, "k", "a", outOK, 0, 10),
		read(1, "k", modeConsistent, "a", 5, 11, 20),
		cas(2, "k", "a", "b", outOK, 21, 30),
		cas(3, "k", "a", "c", outFail, 31, 40), // a is gone: CAS false
		read(1, "k", modeDefault, "b", 6, 41, 50),
	}
	if r := linearizable(ops); r != porcupine.Ok {
		t.Fatalf("check = %v, want Ok", r)
	}
}

func TestModelRejectsStaleRead(t *testing.T) {
	ops := []op{
		put(0, "k", "a", outOK, 0, 10),
		put(0, "k", "b", outOK, 11, 20),
		read(1, "k", modeConsistent, "a", 5, 21, 30), // b was acknowledged before the read began
	}
	if r := linearizable(ops); r != porcupine.Illegal {
		t.Fatalf("check = %v, want Illegal", r)
	}
}

func TestModelRejectsCASThatShouldHaveFailed(t *testing.T) {
	ops := []op{
		put(0, "k", "a", outOK, 0, 10),
		put(0, "k", "b", outOK, 11, 20),
		cas(1, "k", "a", "c", outOK, 21, 30),
	}
	if r := linearizable(ops); r != porcupine.Illegal {
		t.Fatalf("check = %v, want Illegal", r)
	}
}

// An indeterminate write may take effect at any later time or never; both
// must be accepted.
func TestModelIndeterminateWrite(t *testing.T) {
	never := []op{
		put(0, "k", "a", outOK, 0, 10),
		put(1, "k", "x", outUnknown, 11, 20),
		read(2, "k", modeConsistent, "a", 5, 21, 30),
	}
	late := []op{
		put(0, "k", "a", outOK, 0, 10),
		put(1, "k", "x", outUnknown, 11, 20),
		read(2, "k", modeConsistent, "a", 5, 21, 30),
		read(2, "k", modeConsistent, "x", 7, 100, 110), // took effect long after its timeout
	}
	for name, ops := range map[string][]op{"never": never, "late": late} {
		if r := linearizable(ops); r != porcupine.Ok {
			t.Errorf("%s: check = %v, want Ok", name, r)
		}
	}
	// But once seen, it cannot be unseen.
	flicker := append(late, read(2, "k", modeConsistent, "a", 5, 120, 130))
	if r := linearizable(flicker); r != porcupine.Illegal {
		t.Errorf("flicker: check = %v, want Illegal", r)
	}
}

func TestCheckNoLostWrite(t *testing.T) {
	ops := []op{
		put(0, "k", "a", outOK, 0, 10),
		put(1, "k", "b", outOK, 20, 30),
		put(2, "k", "c", outUnknown, 25, 200),
	}
	for final, wantLost := range map[string]bool{"b": false, "c": false, "a": true, "": true} {
		errs := checkNoLostWrite(ops, map[string]string{"k": final})
		if (len(errs) > 0) != wantLost {
			t.Errorf("final %q: errors %q, want lost=%v", final, errs, wantLost)
		}
	}
}

func TestCheckIndexMapping(t *testing.T) {
	ops := []op{
		put(0, "k", "a", outOK, 0, 10),
		read(1, "k", modeStale, "a", 5, 11, 20),
		read(2, "k", modeStale, "a", 6, 21, 30), // same value, other index
		read(2, "k", modeStale, "zz", 7, 31, 40),
	}
	errs := checkIndexMapping(ops)
	if len(errs) != 2 || !strings.Contains(errs[0], "applied twice") || !strings.Contains(errs[1], "no client wrote") {
		t.Errorf("errors = %q, want an index mismatch and a phantom value", errs)
	}
}

func TestCheckStaleMonotonic(t *testing.T) {
	stale := func(key string, index uint64, at int64) op {
		o := read(1, key, modeStale, "", 0, at, at+5)
		o.Out.Index = index
		return o
	}
	spread := func(o op) op {
		o.Gateway, o.Replica = "gw-all", -1
		return o
	}
	tests := []struct {
		name string
		ops  []op
		want int
	}{
		{"same key backwards", []op{stale("k", 9, 0), stale("k", 8, 10)}, 1},
		{"same key forwards", []op{stale("k", 8, 0), stale("k", 9, 10), stale("k", 9, 20)}, 0},
		// X-Consul-Index is per key: k2's lower index is no regression.
		{"other key lower", []op{stale("k", 9, 0), stale("k2", 3, 10), stale("k", 9, 20)}, 0},
		// The case the first runs found: a restarted replica answering
		// before it caught up.
		{"restart answered from empty state", []op{stale("k2", 104, 0), stale("k2", 1, 10)}, 1},
		// The case a later run found: a gateway spread over every replica
		// reaching one just healed from a partition.
		{"spread gateway reaches a lagging replica", []op{spread(stale("k2", 1374, 0)), spread(stale("k2", 1070, 10))}, 1},
		// Each gateway keeps its own floor.
		{"other gateway lower", []op{stale("k", 9, 0), spread(stale("k", 8, 10))}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if errs := checkStaleMonotonic(tt.ops); len(errs) != tt.want {
				t.Errorf("errors = %q, want %d", errs, tt.want)
			}
		})
	}
}

// checkKey leaves unobserved indeterminate writes out, then puts back the
// ones that may explain a failed CAS: a history that needs one is accepted
// without checking the whole key, and one no write can explain is still
// rejected.
func TestCheckKeyRestoresSpareWrites(t *testing.T) {
	deadline := time.Now().Add(10 * time.Second)
	// Unknown puts x0..x5 before the CAS and y0..y5 after it, never seen:
	// any one of the x can explain the failed CAS, none of the y can.
	unknowns := func() []op {
		var u []op
		for i := range 6 {
			u = append(u, put(1, "k", fmt.Sprintf("x%d", i), outUnknown, int64(11+i), int64(12+i)))
			u = append(u, put(1, "k", fmt.Sprintf("y%d", i), outUnknown, int64(41+i), int64(42+i)))
		}
		return u
	}
	tests := []struct {
		name string
		ops  []op
		want porcupine.CheckResult
	}{
		{"failed CAS explained by an unseen write", append([]op{
			put(0, "k", "a", outOK, 0, 10),
			cas(2, "k", "a", "b", outFail, 21, 30), // fails only if some x took effect
			put(0, "k", "c", outOK, 31, 40),
			read(3, "k", modeConsistent, "c", 9, 50, 60),
		}, unknowns()...), porcupine.Ok},
		{"failed CAS no write explains", append([]op{
			put(0, "k", "a", outOK, 0, 10),
			cas(2, "k", "a", "b", outFail, 21, 30),
			read(3, "k", modeConsistent, "a", 5, 50, 60), // a was still there
		}, unknowns()...), porcupine.Illegal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pops := porcupineOps(tt.ops, 4)
			spare := 0
			for _, o := range pops {
				if o.Metadata.(opInfo).spare {
					spare++
				}
			}
			if spare != 12 {
				t.Fatalf("%d spare writes, want 12", spare)
			}
			v := checkKey(pops, deadline)
			if v.Result != tt.want {
				t.Fatalf("checkKey = %v after %d rounds, want %v", v.Result, v.Rounds, tt.want)
			}
			if tt.want == porcupine.Ok && (v.Restored == 0 || v.Restored == v.Spare) {
				t.Errorf("put back %d of %d spare writes, want some but not all", v.Restored, v.Spare)
			}
		})
	}
}

// A long history with many unknown writes nobody saw, and a failed CAS in
// its middle that only the unknown write just before it explains: the
// writes put back to explain it must not leave the search to consider
// them against the whole rest of the history.
func TestCheckKeyLongHistoryStaysFast(t *testing.T) {
	// Each operation takes effect at its point (10 apart, in the order
	// built) and spans a random interval around it, so that neighbours
	// overlap as concurrent clients' do.
	rng := rand.New(rand.NewPCG(1, 2))
	var ops []op
	var at int64
	step := func(o func(call, ret int64) op) {
		ops = append(ops, o(at-rng.Int64N(25), at+1+rng.Int64N(25)))
		at += 10
	}
	idx := uint64(0)
	for i := range 300 {
		v := fmt.Sprintf("v%d", i)
		step(func(c, r int64) op { return put(0, "k", v, outOK, c, r) })
		idx++
		step(func(c, r int64) op { return read(1, "k", modeConsistent, v, idx, c, r) })
		if i%30 == 15 {
			// One after the other: the CAS fails only if the unknown
			// write took effect, and the rest of the history follows.
			h := fmt.Sprintf("hidden%d", i)
			at += 50
			ops = append(ops,
				put(0, "k", v, outOK, at, at+5),
				put(2, "k", h, outUnknown, at+10, at+15),
				cas(3, "k", v, "next", outFail, at+20, at+25))
			at += 80
			continue
		}
		if i%10 == 5 {
			u := fmt.Sprintf("u%d", i)
			step(func(c, r int64) op { return put(2, "k", u, outUnknown, c, r) })
			// An unknown write that did take effect is overwritten unseen.
			step(func(c, r int64) op { return put(0, "k", v+"'", outOK, c, r) })
			step(func(c, r int64) op { return read(1, "k", modeConsistent, v+"'", idx, c, r) })
		}
	}

	pops := porcupineOps(ops, 4)
	start := time.Now()
	v := checkKey(pops, time.Now().Add(30*time.Second))
	if v.Result != porcupine.Ok {
		t.Fatalf("checkKey = %v after %d rounds (%d of %d spare writes put back), want Ok", v.Result, v.Rounds, v.Restored, v.Spare)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("checkKey took %v over %d operations", took, len(pops))
	}
	t.Logf("Ok over %d operations: %d of %d spare writes put back, %d rounds, %v", len(pops), v.Restored, v.Spare, v.Rounds, time.Since(start))
}
