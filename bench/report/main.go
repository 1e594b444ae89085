// Command report turns the JSON lines of a bench run into the Markdown of
// bench/RESULTS.md: one table per kind of measurement with the median, min
// and max over the runs, then each Beacon figure as a ratio to its floor or
// peer measured in the same run, against its goal.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/beaconmesh/beacon/bench/internal/result"
)

func main() {
	in := flag.String("in", "", "JSON lines file")
	flag.StringVar(&heading, "heading", "###", "Markdown heading of each table")
	flag.Parse()
	rs, err := result.ReadFile(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	fmt.Print(render(rs))
}

// heading prefixes each table's title.
var heading = "###"

// set is the runs of one measurement, in file order.
type set struct {
	name    string
	rs      []result.Result // measured
	missing string          // why it was not, if it never was
}

type table struct {
	byName map[string]*set
	order  []string
}

func index(rs []result.Result) *table {
	t := &table{byName: map[string]*set{}}
	for _, r := range rs {
		if r.Kind == "" {
			r.Kind = result.KindRate
			if strings.HasPrefix(r.Name, "startup") {
				r.Kind = result.KindStartup
			}
		}
		s, ok := t.byName[r.Name]
		if !ok {
			s = &set{name: r.Name}
			t.byName[r.Name] = s
			t.order = append(t.order, r.Name)
		}
		if r.Missing != "" {
			s.missing = r.Missing
			continue
		}
		s.rs = append(s.rs, r)
	}
	return t
}

// kind lists the measurements of one kind, missing ones included.
func (t *table) kind(k string, missingKind func(name string) bool) []*set {
	var out []*set
	for _, n := range t.order {
		s := t.byName[n]
		if len(s.rs) > 0 && s.rs[0].Kind == k || len(s.rs) == 0 && missingKind(n) {
			out = append(out, s)
		}
	}
	return out
}

func prefixed(p ...string) func(string) bool {
	return func(n string) bool {
		for _, x := range p {
			if strings.HasPrefix(n, x) {
				return true
			}
		}
		return false
	}
}

func render(rs []result.Result) string {
	t := index(rs)
	var b strings.Builder
	goals(&b, t)
	rates(&b, t)
	dnsTable(&b, t)
	httpTable(&b, t)
	scaleTable(&b, t)
	fanoutTable(&b, t)
	return b.String()
}

// ratio compares a Beacon figure with its floor or peer, run by run.
type ratio struct {
	beacon, peer, what string
	goal               float64 // 0: no goal
}

var ratios = []ratio{
	{"dns-A/dnsgw", "dns-A/floor", "DNS A q/s, 10k instances: beacon-dnsgw / miekg floor", 0.9},
	{"dns-SRV/dnsgw", "dns-SRV/floor", "DNS SRV q/s, 10k instances: beacon-dnsgw / miekg floor", 0.9},
	{"dns-A/knot", "dns-A/floor", "DNS A q/s: Knot / miekg floor (harness ceiling)", 0},
	{"dns-SRV/knot", "dns-SRV/floor", "DNS SRV q/s: Knot / miekg floor (harness ceiling)", 0},
	{"http-health/httpgw", "http-health/floor", "HTTP GET /v1/health/service/web?passing req/s: beacon-httpgw / net/http floor", 0.5},
	{"kv-http-put-c64-n1/httpgw", "kv-put-c64-n1/etcd", "KV put, 64 clients, 1 replica: Beacon HTTP (httpgw) / etcd gRPC", 1.0},
	{"kv-http-put-c64-n3/httpgw", "kv-put-c64-n3/etcd", "KV put, 64 clients, 3 replicas: Beacon HTTP (httpgw) / etcd gRPC", 1.0},
	{"kv-put-c1-n1/beacon", "kv-put-c1-n1/etcd", "KV put, 1 client, 1 replica: Beacon gRPC / etcd", 0},
	{"kv-put-c64-n1/beacon", "kv-put-c64-n1/etcd", "KV put, 64 clients, 1 replica: Beacon gRPC / etcd", 1.0},
	{"kv-put-c1-n3/beacon", "kv-put-c1-n3/etcd", "KV put, 1 client, 3 replicas: Beacon gRPC / etcd", 0},
	{"kv-put-c64-n3/beacon", "kv-put-c64-n3/etcd", "KV put, 64 clients, 3 replicas: Beacon gRPC / etcd", 1.0},
}

// limit is an absolute goal: a figure that must stay at or under max.
type limit struct {
	name, what, unit string
	max              float64
	f                func(result.Result) float64
}

var limits = []limit{
	{"fanout-10k/httpgw", "Blocking-query fan-out: p99 wake-up after one change (10k waiters)", "ms", 1000, func(r result.Result) float64 { return r.P99ms }},
	{"fanout-10k/httpgw", "Blocking-query fan-out: beacon-httpgw RSS per waiter", "KiB", 16, func(r result.Result) float64 { return r.PerWaiterKiB }},
}

func goals(b *strings.Builder, t *table) {
	fmt.Fprintln(b, heading+" Ratios and goals")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "| figure | value: median of per-run values (min–max) | goal | met |")
	fmt.Fprintln(b, "|---|---|---|---|")
	for _, r := range ratios {
		bs, ps := t.byName[r.beacon], t.byName[r.peer]
		goal := "–"
		if r.goal > 0 {
			goal = fmt.Sprintf("≥ %.1f×", r.goal)
		}
		if why := missingOf(bs, ps); why != "" {
			if bs != nil || ps != nil {
				fmt.Fprintf(b, "| %s | missing: %s | %s | – |\n", r.what, why, goal)
			}
			continue
		}
		var per []float64
		for _, p := range pairs(bs.rs, ps.rs) {
			if p[1].Rate > 0 {
				per = append(per, p[0].Rate/p[1].Rate)
			}
		}
		if len(per) == 0 {
			fmt.Fprintf(b, "| %s | missing: no run measured both | %s | – |\n", r.what, goal)
			continue
		}
		s := stats(per)
		met := "–"
		if r.goal > 0 {
			met = yesNo(s.m >= r.goal)
		}
		fmt.Fprintf(b, "| %s | %.2f× (%.2f–%.2f) | %s | %s |\n", r.what, s.m, s.lo, s.hi, goal, met)
	}
	for _, l := range limits {
		s := t.byName[l.name]
		if s == nil {
			continue
		}
		goal := fmt.Sprintf("≤ %g %s", l.max, l.unit)
		if len(s.rs) == 0 {
			fmt.Fprintf(b, "| %s | missing: %s | %s | – |\n", l.what, s.missing, goal)
			continue
		}
		v := statOf(s.rs, l.f)
		fmt.Fprintf(b, "| %s | %s %s (%s–%s) | %s | %s |\n", l.what, num(v.m), l.unit, num(v.lo), num(v.hi), goal, yesNo(v.m <= l.max))
	}
	fmt.Fprintln(b)
}

func missingOf(sets ...*set) string {
	for _, s := range sets {
		if s == nil {
			return "not measured"
		}
		if len(s.rs) == 0 {
			return s.missing
		}
	}
	return ""
}

// pairs matches the figures of the same run; files without run numbers
// (the first harness) pair by position.
func pairs(xs, ys []result.Result) [][2]result.Result {
	var out [][2]result.Result
	for i, x := range xs {
		if x.Run == 0 {
			if i < len(ys) {
				out = append(out, [2]result.Result{x, ys[i]})
			}
			continue
		}
		for _, y := range ys {
			if y.Run == x.Run {
				out = append(out, [2]result.Result{x, y})
				break
			}
		}
	}
	return out
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func rates(b *strings.Builder, t *table) {
	sets := append(t.kind(result.KindStartup, prefixed("startup")), t.kind(result.KindRate, prefixed("kv-"))...)
	if len(sets) == 0 {
		return
	}
	fmt.Fprintln(b, heading+" Start-up and KV writes (bench/loadgen)")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "| measurement | runs | rate/s median (min–max) | p50 ms | p99 ms | errors |")
	fmt.Fprintln(b, "|---|---:|---|---:|---:|---:|")
	for _, s := range sets {
		if len(s.rs) == 0 {
			fmt.Fprintf(b, "| %s | 0 | missing: %s | – | – | – |\n", s.name, s.missing)
			continue
		}
		if s.rs[0].Kind == result.KindStartup {
			v := statOf(s.rs, func(r result.Result) float64 { return r.Seconds * 1000 })
			fmt.Fprintf(b, "| %s (ms to leader) | %d | %.0f ms (%.0f–%.0f) | – | – | – |\n", s.name, len(s.rs), v.m, v.lo, v.hi)
			continue
		}
		rate := statOf(s.rs, func(r result.Result) float64 { return r.Rate })
		p50 := statOf(s.rs, func(r result.Result) float64 { return r.P50ms })
		p99 := statOf(s.rs, func(r result.Result) float64 { return r.P99ms })
		fmt.Fprintf(b, "| %s | %d | %.0f (%.0f–%.0f) | %.2f | %.2f | %d |\n", s.name, len(s.rs), rate.m, rate.lo, rate.hi, p50.m, p99.m, errs(s.rs))
	}
	fmt.Fprintln(b)
}

func dnsTable(b *strings.Builder, t *table) {
	sets := t.kind(result.KindDNS, prefixed("dns-"))
	if len(sets) == 0 {
		return
	}
	fmt.Fprintln(b, heading+" DNS (dnsperf -c 4 -q 100 -l 10, UDP, no EDNS0; `web.service.consul`)")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "| measurement | instances | runs | q/s median (min–max) | avg latency ms | lost | not NOERROR | response bytes |")
	fmt.Fprintln(b, "|---|---:|---:|---|---:|---:|---:|---:|")
	for _, s := range sets {
		if len(s.rs) == 0 {
			fmt.Fprintf(b, "| %s | – | 0 | missing: %s | – | – | – | – |\n", s.name, s.missing)
			continue
		}
		q := statOf(s.rs, func(r result.Result) float64 { return r.Rate })
		lat := statOf(s.rs, func(r result.Result) float64 { return r.AvgMs })
		size := statOf(s.rs, func(r result.Result) float64 { return r.RespBytes })
		var lost int64
		for _, r := range s.rs {
			lost += r.Lost
		}
		fmt.Fprintf(b, "| %s | %s | %d | %.0f (%.0f–%.0f) | %.2f | %d | %d | %.0f |\n", s.name, instances(s.rs[0]), len(s.rs), q.m, q.lo, q.hi, lat.m, lost, errs(s.rs), size.m)
	}
	fmt.Fprintln(b)
}

func httpTable(b *strings.Builder, t *table) {
	sets := t.kind(result.KindHTTP, prefixed("http-"))
	if len(sets) == 0 {
		return
	}
	fmt.Fprintln(b, heading+" HTTP reads (wrk -t2 -c64 -d10s --latency, keep-alive)")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "| measurement | runs | req/s median (min–max) | p50 ms | p99 ms | errors | bytes/response |")
	fmt.Fprintln(b, "|---|---:|---|---:|---:|---:|---:|")
	for _, s := range sets {
		if len(s.rs) == 0 {
			fmt.Fprintf(b, "| %s | 0 | missing: %s | – | – | – | – |\n", s.name, s.missing)
			continue
		}
		q := statOf(s.rs, func(r result.Result) float64 { return r.Rate })
		p50 := statOf(s.rs, func(r result.Result) float64 { return r.P50ms })
		p99 := statOf(s.rs, func(r result.Result) float64 { return r.P99ms })
		size := statOf(s.rs, func(r result.Result) float64 { return r.RespBytes })
		fmt.Fprintf(b, "| %s | %d | %.0f (%.0f–%.0f) | %.2f | %.2f | %d | %.0f |\n", s.name, len(s.rs), q.m, q.lo, q.hi, p50.m, p99.m, errs(s.rs), size.m)
	}
	fmt.Fprintln(b)
}

// scaleTable pivots the figures taken at each catalog size.
func scaleTable(b *strings.Builder, t *table) {
	type row struct{ load, dns, catRSS, dnsRSS, snap []result.Result }
	rows := map[int]*row{}
	get := func(n int) *row {
		if rows[n] == nil {
			rows[n] = &row{}
		}
		return rows[n]
	}
	for _, n := range t.order {
		for _, r := range t.byName[n].rs {
			if r.Instances == 0 {
				continue
			}
			switch {
			case r.Kind == result.KindLoad:
				get(r.Instances).load = append(get(r.Instances).load, r)
			case r.Kind == result.KindDNS && r.Target == "dnsgw" && strings.HasPrefix(r.Name, "dns-A"):
				get(r.Instances).dns = append(get(r.Instances).dns, r)
			case r.Kind == result.KindRSS && r.Target == "catalog":
				get(r.Instances).catRSS = append(get(r.Instances).catRSS, r)
			case r.Kind == result.KindRSS && r.Target == "dnsgw":
				get(r.Instances).dnsRSS = append(get(r.Instances).dnsRSS, r)
			case r.Kind == result.KindSnapshot:
				get(r.Instances).snap = append(get(r.Instances).snap, r)
			}
		}
	}
	if len(rows) == 0 {
		return
	}
	sizes := make([]int, 0, len(rows))
	for n := range rows {
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	fmt.Fprintln(b, heading+" Catalog scale (1 replica; instances registered in bulk through gRPC, 10 per service)")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "| instances | bulk register inst/s | dnsgw A q/s median (min–max) | catalog RSS MiB | dnsgw RSS MiB | snapshot KiB | snapshot save ms |")
	fmt.Fprintln(b, "|---:|---|---|---|---|---:|---|")
	for _, n := range sizes {
		r := rows[n]
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s | %s |\n", n,
			cell(r.load, func(r result.Result) float64 { return r.Rate }, "%.0f"),
			cell(r.dns, func(r result.Result) float64 { return r.Rate }, "%.0f"),
			cell(r.catRSS, func(r result.Result) float64 { return float64(r.RSSKiB) / 1024 }, "%.0f"),
			cell(r.dnsRSS, func(r result.Result) float64 { return float64(r.RSSKiB) / 1024 }, "%.0f"),
			median(r.snap, func(r result.Result) float64 { return float64(r.Bytes) / 1024 }, "%.0f"),
			cell(r.snap, func(r result.Result) float64 { return r.P50ms }, "%.0f"))
	}
	fmt.Fprintln(b)
}

func fanoutTable(b *strings.Builder, t *table) {
	sets := t.kind(result.KindFanout, prefixed("fanout"))
	if len(sets) == 0 {
		return
	}
	fmt.Fprintln(b, heading+" Blocking-query fan-out (`GET /v1/health/service/web?index=N&wait=60s`, one change through gRPC)")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "| measurement | runs | waiters | wake p50 ms | wake p99 ms (min–max) | all woken ms (min–max) | early / failed | httpgw RSS MiB before → waiting | httpgw KiB/waiter (min–max) | catalog KiB/waiter | setup s |")
	fmt.Fprintln(b, "|---|---:|---:|---:|---|---|---|---|---|---:|---:|")
	for _, s := range sets {
		if len(s.rs) == 0 {
			fmt.Fprintf(b, "| %s | 0 | – | – | missing: %s | – | – | – | – | – | – |\n", s.name, s.missing)
			continue
		}
		f := func(g func(result.Result) float64) stat { return statOf(s.rs, g) }
		p50 := f(func(r result.Result) float64 { return r.P50ms })
		p99 := f(func(r result.Result) float64 { return r.P99ms })
		mx := f(func(r result.Result) float64 { return r.MaxMs })
		before := f(func(r result.Result) float64 { return float64(r.RSSBeforeKiB) / 1024 })
		with := f(func(r result.Result) float64 { return float64(r.RSSKiB) / 1024 })
		per := f(func(r result.Result) float64 { return r.PerWaiterKiB })
		cat := f(func(r result.Result) float64 { return r.CatalogPerWaitKiB })
		setup := f(func(r result.Result) float64 { return r.SetupSeconds })
		var early int64
		for _, r := range s.rs {
			early += r.Early
		}
		fmt.Fprintf(b, "| %s | %d | %d | %.0f | %.0f (%.0f–%.0f) | %.0f (%.0f–%.0f) | %d / %d | %.0f → %.0f | %.1f (%.1f–%.1f) | %.1f | %.1f |\n",
			s.name, len(s.rs), s.rs[0].Waiters, p50.m, p99.m, p99.lo, p99.hi, mx.m, mx.lo, mx.hi, early, errs(s.rs),
			before.m, with.m, per.m, per.lo, per.hi, cat.m, setup.m)
	}
	fmt.Fprintln(b)
}

type stat struct{ m, lo, hi float64 }

func stats(v []float64) stat {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v) == 0 {
		return stat{math.NaN(), math.NaN(), math.NaN()}
	}
	// The median of an even count is the mean of the middle two.
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return stat{m: m, lo: v[0], hi: v[len(v)-1]}
}

func statOf(rs []result.Result, f func(result.Result) float64) stat {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	return stats(v)
}

func cell(rs []result.Result, f func(result.Result) float64, format string) string {
	if len(rs) == 0 {
		return "–"
	}
	s := statOf(rs, f)
	if len(rs) == 1 {
		return fmt.Sprintf(format, s.m)
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", s.m, s.lo, s.hi)
}

func median(rs []result.Result, f func(result.Result) float64, format string) string {
	if len(rs) == 0 {
		return "–"
	}
	return fmt.Sprintf(format, statOf(rs, f).m)
}

func errs(rs []result.Result) int64 {
	var n int64
	for _, r := range rs {
		n += r.Errors
	}
	return n
}

func instances(r result.Result) string {
	if r.Instances == 0 {
		return "–"
	}
	return fmt.Sprint(r.Instances)
}

func num(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
