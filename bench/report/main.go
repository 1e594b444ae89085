// Command report turns the JSON lines of a bench run into the Markdown table
// of bench/RESULTS.md: the median, min and max of each figure over the runs,
// and each Beacon figure as a ratio to its floor or peer from the same run.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

type result struct {
	Name    string  `json:"name"`
	Rate    float64 `json:"rate"`
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
	Seconds float64 `json:"seconds"`
	Errors  int64   `json:"errors"`
}

// ratio compares a Beacon figure with its floor or peer.
type ratio struct{ beacon, peer, what string }

var ratios = []ratio{
	{"kv-put-c1-n1/beacon", "kv-put-c1-n1/etcd", "KV put, 1 client, 1 replica: Beacon gRPC / etcd"},
	{"kv-put-c64-n1/beacon", "kv-put-c64-n1/etcd", "KV put, 64 clients, 1 replica: Beacon gRPC / etcd (goal ≥ 1.0)"},
	{"kv-put-c1-n3/beacon", "kv-put-c1-n3/etcd", "KV put, 1 client, 3 replicas: Beacon gRPC / etcd"},
	{"kv-put-c64-n3/beacon", "kv-put-c64-n3/etcd", "KV put, 64 clients, 3 replicas: Beacon gRPC / etcd (goal ≥ 1.0)"},
}

func main() {
	in := flag.String("in", "", "JSON lines file")
	flag.Parse()
	f, err := os.Open(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	byName := map[string][]result{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Name == "" {
			continue
		}
		if _, ok := byName[r.Name]; !ok {
			order = append(order, r.Name)
		}
		byName[r.Name] = append(byName[r.Name], r)
	}
	var b strings.Builder
	fmt.Fprintln(&b, "| measurement | runs | rate/s median (min–max) | p50 ms | p99 ms | errors |")
	fmt.Fprintln(&b, "|---|---:|---|---:|---:|---:|")
	for _, name := range order {
		rs := byName[name]
		if strings.HasPrefix(name, "startup") {
			secs := med(rs, func(r result) float64 { return r.Seconds * 1000 })
			fmt.Fprintf(&b, "| %s (ms to leader) | %d | %.0f ms (%.0f–%.0f) | – | – | – |\n", name, len(rs), secs.m, secs.lo, secs.hi)
			continue
		}
		rate := med(rs, func(r result) float64 { return r.Rate })
		p50 := med(rs, func(r result) float64 { return r.P50ms })
		p99 := med(rs, func(r result) float64 { return r.P99ms })
		var errs int64
		for _, r := range rs {
			errs += r.Errors
		}
		fmt.Fprintf(&b, "| %s | %d | %.0f (%.0f–%.0f) | %.2f | %.2f | %d |\n", name, len(rs), rate.m, rate.lo, rate.hi, p50.m, p99.m, errs)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| ratio (median of per-run ratios) | value (min–max) |")
	fmt.Fprintln(&b, "|---|---|")
	for _, r := range ratios {
		bs, ps := byName[r.beacon], byName[r.peer]
		n := min(len(bs), len(ps))
		if n == 0 {
			continue
		}
		var per []result
		for i := range n {
			per = append(per, result{Rate: bs[i].Rate / ps[i].Rate})
		}
		v := med(per, func(r result) float64 { return r.Rate })
		fmt.Fprintf(&b, "| %s | %.2f× (%.2f–%.2f) |\n", r.what, v.m, v.lo, v.hi)
	}
	fmt.Print(b.String())
}

type stat struct{ m, lo, hi float64 }

func med(rs []result, f func(result) float64) stat {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	return stat{m: v[len(v)/2], lo: v[0], hi: v[len(v)-1]}
}
