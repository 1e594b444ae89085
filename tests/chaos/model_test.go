package chaos

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// kvModel is a register per key with Consul's CAS. The state is the key's
// value, "" when it is absent. Every written value is unique, so comparing
// values is comparing ModifyIndexes (checked separately by
// checkIndexMapping): ?cas=N succeeds iff the key's ModifyIndex is N iff its
// value is the one the CAS's base read returned.
var kvModel = porcupine.Model{
	Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, o := range ops {
			k := o.Input.(kvInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], o)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(string), input.(kvInput), output.(kvOutput)
		switch in.Kind {
		case opRead:
			return out.Value == s, s
		case opPut:
			// Only applied and indeterminate puts are in the history; an
			// indeterminate one returns at the end of time, so "never
			// happened" is the linearization that puts it last.
			return true, in.Value
		case opDelete:
			return true, ""
		case opCAS:
			switch out.Outcome {
			case outOK:
				return s == in.Expect, in.Value
			case outFail:
				return s != in.Expect, s
			default:
				if s == in.Expect {
					return true, in.Value
				}
				return true, s
			}
		}
		return false, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		switch in.Kind {
		case opRead:
			return fmt.Sprintf("get(%s)[%s] → %s @%d", in.Key, in.Mode, showValue(out.Value), out.ModifyIndex)
		case opPut:
			return fmt.Sprintf("put(%s, %s) → %s", in.Key, in.Value, out.Outcome)
		case opDelete:
			return fmt.Sprintf("delete(%s) → %s", in.Key, out.Outcome)
		default:
			return fmt.Sprintf("cas(%s, %s→%s, ?cas=%d) → %s", in.Key, showValue(in.Expect), in.Value, in.CASIndex, out.Outcome)
		}
	},
	DescribeState: func(state any) string { return showValue(state.(string)) },
	DescribeOperationMetadata: func(info any) string {
		return info.(opInfo).text
	},
}

func showValue(v string) string {
	if v == "" {
		return "∅"
	}
	return v
}

// opInfo is a porcupine operation's metadata: how the visualization
// describes it, and whether checkKey may leave it out.
type opInfo struct {
	text string
	// spare marks an indeterminate put or CAS whose unique value no
	// linearizable read or successful CAS ever observed.
	spare bool
}

// porcupineOps turns the history into porcupine's operations: linearizable
// reads (default and consistent) that answered, writes that were applied,
// CAS that definitely failed, and indeterminate writes. An indeterminate
// write's return is the end of the history (it may take effect any time
// after its call, or never), except when a linearizable read or a
// successful CAS observed its unique value: then it took effect before that
// observation returned. Stale reads are checked by other means.
//
// Unobserved indeterminate puts and CAS are marked spare (opInfo.spare):
// each could take effect at any point until the end, which is most of the
// search space, and only a CAS that failed can need one (no read saw its
// value, and no later CAS expected it). checkKey leaves them out first.
func porcupineOps(ops []op, clients int) []porcupine.Operation {
	var end int64
	for _, o := range ops {
		end = max(end, o.Return)
	}
	end++
	seen := map[[2]string]int64{} // {key, value} → earliest return of an observation
	observe := func(key, value string, at int64) {
		k := [2]string{key, value}
		if t, ok := seen[k]; !ok || at < t {
			seen[k] = at
		}
	}
	for _, o := range ops {
		switch {
		case o.In.Kind == opRead && o.In.Mode != modeStale && o.Out.Outcome == outOK && o.Out.Value != "":
			observe(o.In.Key, o.Out.Value, o.Return)
		case o.In.Kind == opCAS && o.Out.Outcome == outOK && o.In.Expect != "":
			observe(o.In.Key, o.In.Expect, o.Return)
		}
	}
	var out []porcupine.Operation
	for _, o := range ops {
		client, ret, spare := o.Client, o.Return, false
		switch {
		case o.In.Kind == opRead && (o.In.Mode == modeStale || o.Out.Outcome != outOK):
			continue
		case (o.In.Kind == opPut || o.In.Kind == opDelete) && o.Out.Outcome == outFail:
			continue
		case o.In.Kind == opCAS && o.Out.Outcome == outFail && o.Out.Status != 200:
			continue // rejected (4xx), not evaluated
		case o.isWrite() && o.Out.Outcome == outUnknown:
			ret = end
			t, observed := seen[[2]string{o.In.Key, o.In.Value}]
			if observed && o.In.Value != "" && t >= o.Call {
				ret = t
			}
			spare = !observed && o.In.Kind != opDelete
			// Its own row in the visualization: it overlaps the client's
			// later operations.
			client = clients + o.Client
		}
		out = append(out, porcupine.Operation{
			ClientId: client, Input: o.In, Output: o.Out, Call: o.Call, Return: ret,
			Metadata: opInfo{
				text:  fmt.Sprintf("client %d via %s; %s %s", o.Client, o.Gateway, o.Out.Outcome, describeAnswer(o.Out)),
				spare: spare,
			},
		})
	}
	return out
}

// keyVerdict is checkKey's answer for one key.
type keyVerdict struct {
	Result porcupine.CheckResult
	// Checked is the last history checked: the one that passed, or the
	// one to show when none did.
	Checked  []porcupine.Operation
	Restored int // spare writes put back
	Spare    int // spare writes in all
	Rounds   int
}

// restorePerRound bounds how many spare writes one round of checkKey puts
// back: the latest-called ones before the point where the check got stuck.
const restorePerRound = 4

// checkKey decides one key's history (porcupineOps' operations on one key)
// in rounds. It first checks the history without its spare writes. That is
// sound for a positive verdict: the left-out writes can all take effect at
// the end, after everything else (or never), which changes no answer. When
// that fails, the longest partial linearization shows where the check got
// stuck; the spare writes called latest before that operation returned,
// which may explain a CAS that failed there, are put back and the check
// runs again. A write put back takes effect, if at all, by the time that
// operation returned: that is when it would have to, to explain it, and an
// operation open to the end of the history leaves the search the whole
// rest of it to place the write in (in a long history with faults, that
// ran out of time; letting earlier writes stay open to later points was as
// slow). Narrowing a write's interval keeps a positive verdict sound: the
// same linearization fits the wider interval. When rounds run out, the
// whole history is checked as it is. The answer is Ok
// only if some check said so; anything else within deadline is not.
func checkKey(ops []porcupine.Operation, deadline time.Time) keyVerdict {
	var v keyVerdict
	var spare []porcupine.Operation
	for _, o := range ops {
		if o.Metadata.(opInfo).spare {
			spare = append(spare, o)
		} else {
			v.Checked = append(v.Checked, o)
		}
	}
	v.Spare = len(spare)
	slices.SortFunc(spare, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
	restored := make([]bool, len(spare))
	for v.Rounds = 1; v.Rounds <= 64; v.Rounds++ {
		res, info := porcupine.CheckOperationsVerbose(kvModel, v.Checked, time.Until(deadline))
		v.Result = res
		if res != porcupine.Illegal {
			return v // Ok, or Unknown: out of time
		}
		stuck, ok := stuckAt(v.Checked, info)
		if !ok {
			break
		}
		n := 0
		for i := len(spare) - 1; i >= 0 && n < restorePerRound; i-- {
			if !restored[i] && spare[i].Call < stuck {
				restored[i] = true
				o := spare[i]
				o.Return = min(o.Return, stuck)
				v.Checked = append(v.Checked, o)
				n++
			}
		}
		if n == 0 {
			break
		}
		v.Restored += n
	}
	// The narrowed writes make Illegal inconclusive: the whole history
	// decides.
	v.Checked, v.Restored = ops, len(spare)
	v.Result = porcupine.CheckOperationsTimeout(kvModel, ops, time.Until(deadline))
	return v
}

// stuckAt returns the return time of the earliest-returning operation that
// the longest partial linearization in info leaves out: the search could
// not linearize it before it returned.
func stuckAt(ops []porcupine.Operation, info porcupine.LinearizationInfo) (int64, bool) {
	var longest []int
	for _, part := range info.PartialLinearizations() {
		for _, l := range part {
			if len(l) > len(longest) {
				longest = l
			}
		}
	}
	in := make([]bool, len(ops))
	for _, id := range longest {
		in[id] = true
	}
	var at int64
	found := false
	for i, o := range ops {
		if !in[i] && (!found || o.Return < at) {
			at, found = o.Return, true
		}
	}
	return at, found
}

func describeAnswer(out kvOutput) string {
	var b strings.Builder
	if out.Status != 0 {
		fmt.Fprintf(&b, "HTTP %d", out.Status)
	}
	if out.Index != 0 {
		fmt.Fprintf(&b, " X-Consul-Index %d", out.Index)
	}
	if out.Err != "" {
		fmt.Fprintf(&b, " %s", out.Err)
	}
	return strings.TrimSpace(b.String())
}

// checkIndexMapping checks that every read, stale ones included, pairs a
// key's value with one ModifyIndex and a ModifyIndex with one value, and
// never returns a value no write produced (or one whose write definitely
// failed).
func checkIndexMapping(ops []op) []string {
	written := map[[2]string]outcome{}
	for _, o := range ops {
		if o.In.Kind == opPut || o.In.Kind == opCAS {
			written[[2]string{o.In.Key, o.In.Value}] = o.Out.Outcome
		}
	}
	byValue := map[[2]string]uint64{}
	byIndex := map[string]map[uint64]string{}
	var errs []string
	for _, o := range ops {
		if o.In.Kind != opRead || o.Out.Outcome != outOK || o.Out.Value == "" {
			continue
		}
		k, v, idx := o.In.Key, o.Out.Value, o.Out.ModifyIndex
		switch w, ok := written[[2]string{k, v}]; {
		case !ok:
			errs = append(errs, fmt.Sprintf("%s read %s=%q that no client wrote", opString(o), k, v))
		case w == outFail:
			errs = append(errs, fmt.Sprintf("%s read %s=%q whose write was answered as not applied", opString(o), k, v))
		}
		if prev, ok := byValue[[2]string{k, v}]; ok && prev != idx {
			errs = append(errs, fmt.Sprintf("%s: %s=%q has ModifyIndex %d, an earlier read saw %d (a write applied twice?)", opString(o), k, v, idx, prev))
		}
		byValue[[2]string{k, v}] = idx
		if byIndex[k] == nil {
			byIndex[k] = map[uint64]string{}
		}
		if prev, ok := byIndex[k][idx]; ok && prev != v {
			errs = append(errs, fmt.Sprintf("%s: %s@%d = %q, an earlier read saw %q at the same ModifyIndex", opString(o), k, idx, v, prev))
		}
		byIndex[k][idx] = v
	}
	return errs
}

// checkStaleMonotonic checks that a client's ?stale reads of one key
// through one gateway never see X-Consul-Index go backwards, whether the
// gateway is pinned to one replica or spread over all (each gateway's
// connection asks for states at least as new as it has seen). The comparison is per key: for a single-key GET Consul's
// X-Consul-Index is that key's ModifyIndex (the KV table's index when the
// key is absent), so reads of different keys legitimately differ.
func checkStaleMonotonic(ops []op) []string {
	type query struct {
		client       int
		gateway, key string
	}
	last := map[query]op{}
	var errs []string
	for _, o := range ops {
		if o.In.Kind != opRead || o.In.Mode != modeStale || o.Out.Outcome != outOK {
			continue
		}
		q := query{o.Client, o.Gateway, o.In.Key}
		if prev, ok := last[q]; ok && o.Out.Index < prev.Out.Index {
			errs = append(errs, fmt.Sprintf("client %d via %s: stale X-Consul-Index of %s went from %d (%s) to %d (%s)",
				o.Client, o.Gateway, o.In.Key, prev.Out.Index, opString(prev), o.Out.Index, opString(o)))
		}
		last[q] = o
	}
	return errs
}

// checkNoLostWrite checks that the final value of every key (read after
// healing) is the last acknowledged write or a write that may have come
// after it: one called before that write returned, or an indeterminate one.
func checkNoLostWrite(ops []op, final map[string]string) []string {
	var errs []string
	keys := make([]string, 0, len(final))
	for k := range final {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var last *op
		for i, o := range ops {
			if o.In.Key == k && o.isWrite() && o.Out.Outcome == outOK && (last == nil || o.Return > last.Return) {
				last = &ops[i]
			}
		}
		if last == nil {
			continue
		}
		allowed := map[string]bool{writtenValue(*last): true}
		for _, o := range ops {
			if o.In.Key != k || !o.isWrite() || o.Out.Outcome == outFail {
				continue
			}
			ret := o.Return
			if o.Out.Outcome == outUnknown {
				ret = math.MaxInt64
			}
			if ret >= last.Call {
				allowed[writtenValue(o)] = true
			}
		}
		if !allowed[final[k]] {
			errs = append(errs, fmt.Sprintf("%s: final value %s, but the last acknowledged write was %s and no later write could have replaced it: an acknowledged write was lost",
				k, showValue(final[k]), opString(*last)))
		}
	}
	return errs
}

func writtenValue(o op) string {
	if o.In.Kind == opDelete {
		return ""
	}
	return o.In.Value
}

// checkBounded checks that every request ended within its timeout plus
// grace: an outcome, never a hang.
func checkBounded(ops []op, limit time.Duration) []string {
	var errs []string
	for _, o := range ops {
		if d := time.Duration(o.Return - o.Call); d > limit {
			errs = append(errs, fmt.Sprintf("%s took %s (limit %s)", opString(o), d.Round(time.Millisecond), limit))
		}
	}
	return errs
}

func opString(o op) string {
	return fmt.Sprintf("[client %d via %s, %s..%s] %s (%s %s)", o.Client, o.Gateway, fmtNanos(o.Call), fmtNanos(o.Return),
		kvModel.DescribeOperation(o.In, o.Out), o.Out.Outcome, describeAnswer(o.Out))
}

func fmtNanos(ns int64) string {
	return (time.Duration(ns)).Round(time.Millisecond).String()
}

// writeHistory saves the history as text, one operation per line.
func writeHistory(ops []op, path string) error {
	var b strings.Builder
	for _, o := range ops {
		b.WriteString(opString(o))
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
