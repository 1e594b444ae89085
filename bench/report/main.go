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
	brief := flag.Bool("brief", false, "only the table of ratios and goals (for the history)")
	flag.Parse()
	rs, err := result.ReadFile(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	if *brief {
		var b strings.Builder
		goals(&b, index(rs))
		fmt.Print(b.String())
		return
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
	checksTable(&b, t)
	tcpTable(&b, t)
	deployTable(&b, t)
	return b.String()
}

// ratio compares a Beacon figure with its floor or peer, run by run: of
// their rates, or of what f picks when it is set.
type ratio struct {
	beacon, peer, what string
	goal               float64 // 0: no goal
	f                  func(result.Result) float64
}

var ratios = []ratio{
	{beacon: "dns-A/dnsgw", peer: "dns-A/floor", what: "DNS A q/s: beacon-dnsgw / miekg floor", goal: 0.9},
	{beacon: "dns-SRV/dnsgw", peer: "dns-SRV/floor", what: "DNS SRV q/s: beacon-dnsgw / miekg floor", goal: 0.9},
	{beacon: "dns-A/knot", peer: "dns-A/floor", what: "DNS A q/s: Knot / miekg floor (harness ceiling)"},
	{beacon: "dns-SRV/knot", peer: "dns-SRV/floor", what: "DNS SRV q/s: Knot / miekg floor (harness ceiling)"},
	{beacon: "http-health/httpgw", peer: "http-health/floor", what: "HTTP GET /v1/health/service/web?passing req/s: beacon-httpgw / net/http floor", goal: 0.5},
	{beacon: "kv-http-put-c1-n1/httpgw", peer: "kv-put-c1-n1/etcd", what: "KV put, 1 client, 1 replica: Beacon HTTP / etcd"},
	{beacon: "kv-http-put-c16-n1/httpgw", peer: "kv-put-c16-n1/etcd", what: "KV put, 16 clients, 1 replica: Beacon HTTP / etcd"},
	{beacon: "kv-http-put-c64-n1/httpgw", peer: "kv-put-c64-n1/etcd", what: "KV put, 64 clients, 1 replica: Beacon HTTP / etcd", goal: 1.0},
	{beacon: "kv-http-put-c1-n3/httpgw", peer: "kv-put-c1-n3/etcd", what: "KV put, 1 client, 3 replicas: Beacon HTTP / etcd"},
	{beacon: "kv-http-put-c16-n3/httpgw", peer: "kv-put-c16-n3/etcd", what: "KV put, 16 clients, 3 replicas: Beacon HTTP / etcd"},
	{beacon: "kv-http-put-c64-n3/httpgw", peer: "kv-put-c64-n3/etcd", what: "KV put, 64 clients, 3 replicas: Beacon HTTP / etcd", goal: 1.0},
	{beacon: "kv-http-put-go-c1-n1/httpgw", peer: "kv-put-c1-n1/etcd", what: "KV put, 1 client, 1 replica: Beacon HTTP, Go client / etcd"},
	{beacon: "kv-http-put-go-c64-n1/httpgw", peer: "kv-put-c64-n1/etcd", what: "KV put, 64 clients, 1 replica: Beacon HTTP, Go client / etcd"},
	{beacon: "kv-http-put-go-c64-n3/httpgw", peer: "kv-put-c64-n3/etcd", what: "KV put, 64 clients, 3 replicas: Beacon HTTP, Go client / etcd"},
	{beacon: "kv-put-c1-n1/beacon", peer: "kv-put-c1-n1/etcd", what: "KV put, 1 client, 1 replica: Beacon gRPC / etcd"},
	{beacon: "kv-put-c64-n1/beacon", peer: "kv-put-c64-n1/etcd", what: "KV put, 64 clients, 1 replica: Beacon gRPC / etcd", goal: 1.0},
	{beacon: "kv-put-c1-n3/beacon", peer: "kv-put-c1-n3/etcd", what: "KV put, 1 client, 3 replicas: Beacon gRPC / etcd"},
	{beacon: "kv-put-c64-n3/beacon", peer: "kv-put-c64-n3/etcd", what: "KV put, 64 clients, 3 replicas: Beacon gRPC / etcd", goal: 1.0},
	{beacon: "kv-http-get-default-c16-n1/httpgw", peer: "kv-get-ser-c16-n1/etcd", what: "KV get, 16 clients, 1 replica: Beacon HTTP default / etcd serializable"},
	{beacon: "kv-http-get-consistent-c16-n1/httpgw", peer: "kv-get-lin-c16-n1/etcd", what: "KV get, 16 clients, 1 replica: Beacon HTTP ?consistent / etcd linearizable"},
	{beacon: "kv-http-get-default-c16-n3/httpgw", peer: "kv-get-ser-c16-n3/etcd", what: "KV get, 16 clients, 3 replicas: Beacon HTTP default / etcd serializable"},
	{beacon: "kv-http-get-consistent-c16-n3/httpgw", peer: "kv-get-lin-c16-n3/etcd", what: "KV get, 16 clients, 3 replicas: Beacon HTTP ?consistent / etcd linearizable"},
	{beacon: "tcp-bulk/beacon-mtls2", peer: "tcp-bulk/direct", what: "Proxy bulk MiB/s: Beacon two mTLS sidecars / direct"},
	{beacon: "tcp-bulk/haproxy-mtls2", peer: "tcp-bulk/direct", what: "Proxy bulk MiB/s: HAProxy two mTLS sidecars / direct"},
	{beacon: "tcp-bulk/beacon-mtls2", peer: "tcp-bulk/haproxy-mtls2", what: "Proxy bulk MiB/s: Beacon / HAProxy (both two mTLS sidecars)", goal: 1.5},
	{beacon: "tcp-bulk/beacon-mtls2", peer: "tcp-bulk/haproxy-mtls2", what: "Proxy bulk, CPU per GiB of the two sidecars: Beacon / HAProxy (lower is better)", f: cpuPerGiB},
	{beacon: "tcp-rtt/beacon-mtls2", peer: "tcp-rtt/haproxy-mtls2", what: "Proxy 64-byte round trip p50: Beacon / HAProxy (lower is better)", f: func(r result.Result) float64 { return r.P50ms }},
	{beacon: "tcp-conns/beacon-mtls2", peer: "tcp-conns/haproxy-mtls2", what: "Proxy new connections/s: Beacon / HAProxy"},
	{beacon: "tcp-rtt/beacon-mtls2", peer: "tcp-rtt/gorelay2", what: "Proxy 64-byte round trip p50: Beacon mTLS sidecars / two plain Go relays (lower is better)", f: func(r result.Result) float64 { return r.P50ms }},
	{beacon: "checks-steady/beacon-health", peer: "checks-steady/floor", what: "Health checks, steady: beacon-health CPU / bare HTTP poller CPU (lower is better)", f: cpu},
	{beacon: "checks-flap/beacon-health", peer: "checks-flap/floor", what: "Health checks, 1% flapping: beacon-health CPU / bare HTTP poller CPU (lower is better)", f: cpu},
}

func cpu(r result.Result) float64 { return r.CPUPercent }

// cpuPerGiB is the CPU a bulk transfer cost the path's proxies, in seconds
// per GiB carried; 0 when they were not watched.
func cpuPerGiB(r result.Result) float64 {
	if r.Bytes == 0 {
		return 0
	}
	return r.ProcCPUSeconds / (float64(r.Bytes) / (1 << 30))
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
	{"fanout-10k-gzip/httpgw", "Blocking-query fan-out, waiters asking for gzip as Consul's Go client does: p99 wake-up (10k waiters)", "ms", 1000, func(r result.Result) float64 { return r.P99ms }},
	{"tcp-rtt/beacon-mtls2", "Proxy 64-byte round trip p50 through two Beacon sidecars", "µs", 200, func(r result.Result) float64 { return r.P50ms * 1000 }},
	{"deploy-failover", "Compose: a new leader after the leader's container stops", "s", 5, func(r result.Result) float64 { return r.Seconds }},
	{"checks-steady/beacon-health", "Health checks, nothing changing: catalog writes/s", "writes/s", 1, func(r result.Result) float64 { return r.Rate }},
	{"checks-steady/beacon-health", "Health checks, nothing changing: beacon-health CPU", "% of a core", 10, cpu},
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
		f := r.f
		if f == nil {
			f = func(r result.Result) float64 { return r.Rate }
		}
		var per []float64
		for _, p := range pairs(bs.rs, ps.rs) {
			if f(p[1]) > 0 {
				per = append(per, f(p[0])/f(p[1]))
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
	section{
		title:   "Start-up and KV (bench/loadgen; each client runs operations back to back)",
		header:  "| measurement | runs | rate/s median (min–max) | p50 ms | p99 ms | errors |",
		align:   "|---|---:|---|---:|---:|---:|",
		missing: "| %s | 0 | missing: %s | – | – | – |",
	}.write(b, append(t.kind(result.KindStartup, prefixed("startup")), t.kind(result.KindRate, prefixed("kv-"))...), func(s *set) {
		if s.rs[0].Kind == result.KindStartup {
			v := statOf(s.rs, func(r result.Result) float64 { return r.Seconds * 1000 })
			fmt.Fprintf(b, "| %s (ms to leader) | %d | %.0f ms (%.0f–%.0f) | – | – | – |\n", s.name, len(s.rs), v.m, v.lo, v.hi)
			if rss := statOf(s.rs, func(r result.Result) float64 { return float64(r.RSSKiB) / 1024 }); rss.m > 0 {
				fmt.Fprintf(b, "| %s (idle RSS, 2 s after leader) | %d | %.1f MiB (%.1f–%.1f) | – | – | – |\n", s.name, len(s.rs), rss.m, rss.lo, rss.hi)
			}
			return
		}
		rate := statOf(s.rs, func(r result.Result) float64 { return r.Rate })
		p50 := statOf(s.rs, func(r result.Result) float64 { return r.P50ms })
		p99 := statOf(s.rs, func(r result.Result) float64 { return r.P99ms })
		fmt.Fprintf(b, "| %s | %d | %.0f (%.0f–%.0f) | %.2f | %.2f | %d |\n", s.name, len(s.rs), rate.m, rate.lo, rate.hi, p50.m, p99.m, errs(s.rs))
	})
}

// section is the frame of a table with a row per measurement: its title,
// an optional paragraph under it, the header and alignment rows, and the
// row of a measurement never taken (a format of its name and why).
type section struct {
	title, intro, header, align, missing string
}

// write writes the section for sets, row writing each measured set's
// rows; nothing when there are no sets.
func (sec section) write(b *strings.Builder, sets []*set, row func(s *set)) {
	if len(sets) == 0 {
		return
	}
	fmt.Fprintln(b, heading+" "+sec.title)
	fmt.Fprintln(b)
	if sec.intro != "" {
		fmt.Fprintln(b, sec.intro)
		fmt.Fprintln(b)
	}
	fmt.Fprintln(b, sec.header)
	fmt.Fprintln(b, sec.align)
	for _, s := range sets {
		if len(s.rs) == 0 {
			fmt.Fprintf(b, sec.missing+"\n", s.name, s.missing)
			continue
		}
		row(s)
	}
	fmt.Fprintln(b)
}

func dnsTable(b *strings.Builder, t *table) {
	section{
		title:   "DNS (dnsperf -c 4 -q 100, UDP, no EDNS0; `web.service.consul`)",
		intro:   "q/s and average latency at saturation; p50/p99 from a second, rate-limited pass (`-Q 5000 -v`), the same offered load for every server.",
		header:  "| measurement | instances | runs | q/s median (min–max) | avg latency ms | p50 ms @5k q/s | p99 ms @5k q/s | lost | not NOERROR | response bytes |",
		align:   "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
		missing: "| %s | – | 0 | missing: %s | – | – | – | – | – | – |",
	}.write(b, t.kind(result.KindDNS, prefixed("dns-")), func(s *set) {
		p50 := statOf(s.rs, func(r result.Result) float64 { return r.P50ms })
		p99 := statOf(s.rs, func(r result.Result) float64 { return r.P99ms })
		q := statOf(s.rs, func(r result.Result) float64 { return r.Rate })
		lat := statOf(s.rs, func(r result.Result) float64 { return r.AvgMs })
		size := statOf(s.rs, func(r result.Result) float64 { return r.RespBytes })
		var lost int64
		for _, r := range s.rs {
			lost += r.Lost
		}
		fmt.Fprintf(b, "| %s | %s | %d | %.0f (%.0f–%.0f) | %.2f | %.3f | %.3f | %d | %d | %.0f |\n", s.name, instances(s.rs[0]), len(s.rs), q.m, q.lo, q.hi, lat.m, p50.m, p99.m, lost, errs(s.rs), size.m)
	})
}

func httpTable(b *strings.Builder, t *table) {
	section{
		title:   "HTTP reads (wrk -t2 -c64 --latency, keep-alive)",
		header:  "| measurement | runs | req/s median (min–max) | p50 ms | p99 ms | errors | bytes/response |",
		align:   "|---|---:|---|---:|---:|---:|---:|",
		missing: "| %s | 0 | missing: %s | – | – | – | – |",
	}.write(b, t.kind(result.KindHTTP, prefixed("http-")), func(s *set) {
		q := statOf(s.rs, func(r result.Result) float64 { return r.Rate })
		p50 := statOf(s.rs, func(r result.Result) float64 { return r.P50ms })
		p99 := statOf(s.rs, func(r result.Result) float64 { return r.P99ms })
		size := statOf(s.rs, func(r result.Result) float64 { return r.RespBytes })
		fmt.Fprintf(b, "| %s | %d | %.0f (%.0f–%.0f) | %.2f | %.2f | %d | %.0f |\n", s.name, len(s.rs), q.m, q.lo, q.hi, p50.m, p99.m, errs(s.rs), size.m)
	})
}

// scaleTable pivots the figures taken at each catalog size.
func scaleTable(b *strings.Builder, t *table) {
	type row struct{ load, dns, http, catRSS, dnsRSS, snap, restore []result.Result }
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
			case r.Kind == result.KindHTTP && r.Target == "httpgw" && strings.HasPrefix(r.Name, "http-health"):
				get(r.Instances).http = append(get(r.Instances).http, r)
			case r.Kind == result.KindSnapshot:
				get(r.Instances).snap = append(get(r.Instances).snap, r)
			case r.Kind == result.KindRestore:
				get(r.Instances).restore = append(get(r.Instances).restore, r)
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
	fmt.Fprintln(b, "| instances | bulk register inst/s | dnsgw A q/s median (min–max) | httpgw health req/s | catalog RSS MiB | dnsgw RSS MiB | snapshot KiB | snapshot save ms | restore ms |")
	fmt.Fprintln(b, "|---:|---|---|---|---|---|---:|---|---|")
	for _, n := range sizes {
		r := rows[n]
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", n,
			cell(r.load, func(r result.Result) float64 { return r.Rate }, "%.0f"),
			cell(r.dns, func(r result.Result) float64 { return r.Rate }, "%.0f"),
			cell(r.http, func(r result.Result) float64 { return r.Rate }, "%.0f"),
			cell(r.catRSS, func(r result.Result) float64 { return float64(r.RSSKiB) / 1024 }, "%.0f"),
			cell(r.dnsRSS, func(r result.Result) float64 { return float64(r.RSSKiB) / 1024 }, "%.0f"),
			median(r.snap, func(r result.Result) float64 { return float64(r.Bytes) / 1024 }, "%.0f"),
			cell(r.snap, func(r result.Result) float64 { return r.P50ms }, "%.0f"),
			cell(r.restore, func(r result.Result) float64 { return r.P50ms }, "%.0f"))
	}
	fmt.Fprintln(b)
}

func fanoutTable(b *strings.Builder, t *table) {
	section{
		title:   "Blocking-query fan-out (`GET /v1/health/service/web?index=N&wait=60s`, one change through gRPC)",
		header:  "| measurement | runs | waiters | wake p50 ms | wake p99 ms (min–max) | all woken ms (min–max) | early / failed | httpgw RSS MiB before → waiting | httpgw KiB/waiter (min–max) | catalog KiB/waiter | setup s |",
		align:   "|---|---:|---:|---:|---|---|---|---|---|---:|---:|",
		missing: "| %s | 0 | – | – | missing: %s | – | – | – | – | – | – |",
	}.write(b, t.kind(result.KindFanout, prefixed("fanout")), func(s *set) {
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
	})
}

// checksTable shows what one agent's health checks cost: the catalog
// writes they cause and the agent's CPU beside a bare poller's.
func checksTable(b *strings.Builder, t *table) {
	section{
		title:   "Health checks on one agent (bench/checkload: HTTP checks against a local server; the floor polls the same URLs with net/http)",
		header:  "| measurement | runs | checks | catalog writes/s median (min–max) | CPU % of a core median (min–max) | RSS MiB |",
		align:   "|---|---:|---:|---|---|---:|",
		missing: "| %s | 0 | – | missing: %s | – | – |",
	}.write(b, t.kind(result.KindChecks, prefixed("checks-")), func(s *set) {
		writes := "–"
		rss := "–"
		if s.rs[0].Target != "floor" {
			writes = cell(s.rs, func(r result.Result) float64 { return r.Rate }, "%.2f")
			rss = median(s.rs, func(r result.Result) float64 { return float64(r.RSSKiB) / 1024 }, "%.0f")
		}
		fmt.Fprintf(b, "| %s | %d | %d | %s | %s | %s |\n", s.name, len(s.rs), s.rs[0].Total, writes, cell(s.rs, cpu, "%.1f"), rss)
	})
}

// deployTable shows the compose deployment's figures (bench/run.sh runs
// tests/compose for them): cold start to healthy, failover, image sizes.
func deployTable(b *strings.Builder, t *table) {
	section{
		title:   "Docker Compose deployment (tests/compose against deploy/docker-compose.yml)",
		header:  "| measurement | runs | value median (min–max) | goal |",
		align:   "|---|---:|---|---|",
		missing: "| %s | 0 | missing: %s | – |",
	}.write(b, t.kind(result.KindDeploy, prefixed("deploy-")), func(s *set) {
		seconds := func(r result.Result) float64 { return r.Seconds }
		switch s.name {
		case "deploy-up":
			fmt.Fprintf(b, "| cold start (static binaries, images, `up`) to all healthy, s | %d | %s | – |\n", len(s.rs), cell(s.rs, seconds, "%.0f"))
		case "deploy-failover":
			fmt.Fprintf(b, "| leader's container stopped → new leader, s | %d | %s | ≤ 5 s |\n", len(s.rs), cell(s.rs, seconds, "%.2f"))
		default:
			v := statOf(s.rs, func(r result.Result) float64 { return float64(r.Bytes) / 1e6 })
			fmt.Fprintf(b, "| image %s, MB | %d | %.1f | ≤ 25 MB: %s |\n", strings.TrimPrefix(s.name, "deploy-image/"), len(s.rs), v.m, yesNo(v.m <= 25))
		}
	})
}

// tcpTable shows each proxy path's three measurements on one row.
func tcpTable(b *strings.Builder, t *table) {
	paths := []struct{ name, what string }{
		{"direct", "direct loopback (the floor)"},
		{"gorelay2", "two plain Go relays, no TLS: app → relay → relay → server"},
		{"beacon-mtls2", "Beacon: app → sidecar ==mTLS==> sidecar → server"},
		{"haproxy-mtls2", "HAProxy 2.6, 1 thread each: app → A ==mTLS==> B → server"},
	}
	seen := false
	for _, p := range paths {
		seen = seen || t.byName["tcp-bulk/"+p.name] != nil
	}
	if !seen {
		return
	}
	fmt.Fprintln(b, heading+" Proxy paths (bench/tcpfloor server, bench/loadgen client; one connection each)")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "| path | bulk MiB/s median (min–max) | proxies' CPU, ms per GiB | 64-byte RTT p50 µs (min–max) | RTT p99 µs | new conns/s median (min–max) | dial+echo p50 µs |")
	fmt.Fprintln(b, "|---|---|---|---|---:|---|---:|")
	for _, p := range paths {
		bulk, rtt, conns := t.byName["tcp-bulk/"+p.name], t.byName["tcp-rtt/"+p.name], t.byName["tcp-conns/"+p.name]
		if bulk == nil && rtt == nil && conns == nil {
			continue // a path this run did not have (the Go relays came later)
		}
		if why := missingOf(bulk, rtt, conns); why != "" {
			fmt.Fprintf(b, "| %s | missing: %s | – | – | – | – | – |\n", p.what, why)
			continue
		}
		us := func(r result.Result) float64 { return r.P50ms * 1000 }
		proxyCPU := "–" // the direct path has no proxies; older runs did not watch them
		if statOf(bulk.rs, cpuPerGiB).lo > 0 {
			proxyCPU = cell(bulk.rs, func(r result.Result) float64 { return 1000 * cpuPerGiB(r) }, "%.0f")
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", p.what,
			cell(bulk.rs, func(r result.Result) float64 { return r.Rate }, "%.0f"),
			proxyCPU,
			cell(rtt.rs, us, "%.0f"),
			median(rtt.rs, func(r result.Result) float64 { return r.P99ms * 1000 }, "%.0f"),
			cell(conns.rs, func(r result.Result) float64 { return r.Rate }, "%.0f"),
			median(conns.rs, us, "%.0f"))
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
