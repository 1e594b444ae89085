// Command loadgen drives one benchmark measurement against Beacon or its
// floor or peer (etcd, a bare server, Knot) and prints the result as one
// JSON line (bench/internal/result), for bench/run.sh to collect: the same
// client code path measures both sides of every ratio.
//
// Operations (-op):
//
//	put        KV puts: -target beacon (gRPC), etcd, http-put (PUT /v1/kv through beacon-httpgw,
//	           a Go client per connection) or wrk-put (the same through wrk)
//	get        KV gets: -target etcd (-mode linearizable|serializable) or http-get (-mode default|consistent|stale)
//	startup    `beacon agent -dev` from exec to a known leader (-target agent), then its idle RSS
//	wait       wait for a catalog leader (no output)
//	ports      print -total free loopback TCP ports (also free for UDP), one per line
//	load       register catalog instances -from..-to through gRPC, in bulk
//	waitview   wait until beacon-dnsgw's view holds -instances instances (-url: its /metrics)
//	waitdns    wait until the DNS server at -addr answers -qname/-qtype
//	fetch      GET -url once and save the body (-out) and headers (-header-out)
//	snapshot   GET -url (/v1/snapshot), count the bytes and save them (-out)
//	restore    PUT -in to -url (/v1/snapshot) and time it
//	rss        resident memory of -pid
//	fanout     -waiters blocking GETs on -url, one change through gRPC, wake latencies
//	dnsperf    run dnsperf against -addr for -qname/-qtype and parse its statistics
//	wrk        run wrk against -url and parse its statistics
//	bulk       -total bytes through the TCP path at -addr (bench/tcpfloor at its end)
//	rtt        -total 64-byte echoes on one warm connection through each -addr
//	           (comma-separated, labelled by -target's entries), taking turns
//	conns      -total fresh connections through -addr, each dial + 16-byte echo + close
package main

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/beaconmesh/beacon/bench/internal/proc"
	"github.com/beaconmesh/beacon/bench/internal/result"
	"github.com/beaconmesh/beacon/platform/rpcclient"
)

// Result is one measurement.
type Result = result.Result

type options struct {
	name, target, op string
	addrs            []string
	clients, conns   int
	total, valueSize int
	bin              string
	url              string
	from, to         int
	out, headerOut   string
	pid, catalogPid  int
	instances        int
	waiters          int
	gzip             bool
	qname, qtype     string
	seconds          int
	threads          int
	timeout          time.Duration
	mode             string
	in               string
	latQPS           int
	latSeconds       int
	size             int
	pids             []int // processes whose CPU a bulk transfer reports
}

func main() {
	var o options
	flag.StringVar(&o.name, "name", "", "label of the measurement")
	flag.StringVar(&o.target, "target", "beacon", "beacon (gRPC), etcd, http-put or wrk-put (beacon-httpgw), or agent (startup); a free label for other ops")
	flag.StringVar(&o.op, "op", "put", "put, get, startup, wait, load, waitview, waitdns, fetch, snapshot, restore, rss, fanout, dnsperf, wrk, bulk, rtt or conns")
	addrs := flag.String("addr", "127.0.0.1:8502", "comma-separated server addresses (gRPC, etcd, HTTP host:port, or the DNS server)")
	flag.IntVar(&o.clients, "clients", 1, "concurrent clients (put, load, wrk connections, dnsperf clients)")
	flag.IntVar(&o.conns, "conns", 4, "connections shared by the clients")
	flag.IntVar(&o.total, "total", 2000, "operations in all")
	flag.IntVar(&o.valueSize, "value-size", 256, "value bytes")
	flag.StringVar(&o.bin, "bin", "bin/beacon", "beacon binary (startup)")
	run := flag.Int("run", 0, "run number, recorded so the report pairs figures of the same run")
	flag.StringVar(&o.url, "url", "", "URL (fetch, snapshot, wrk, waitview) or base URL of beacon-httpgw (fanout)")
	flag.IntVar(&o.from, "from", 0, "first instance to register (load)")
	flag.IntVar(&o.to, "to", 1000, "instance after the last one to register (load)")
	flag.StringVar(&o.out, "out", "", "file for the body (fetch)")
	flag.StringVar(&o.headerOut, "header-out", "", "file for the response headers, one 'Name: value' per line (fetch)")
	flag.IntVar(&o.pid, "pid", 0, "process whose RSS is measured (rss, fanout)")
	flag.IntVar(&o.catalogPid, "catalog-pid", 0, "catalog process, whose RSS growth fanout also reports")
	flag.IntVar(&o.instances, "instances", 0, "catalog size, recorded with the figure (and awaited by waitview)")
	flag.IntVar(&o.waiters, "waiters", 10000, "blocking queries in flight (fanout)")
	flag.BoolVar(&o.gzip, "gzip", false, "waiters ask for gzip, as Consul's Go client does, and decompress (fanout)")
	flag.StringVar(&o.qname, "qname", "web.service.consul", "question name (dnsperf)")
	flag.StringVar(&o.qtype, "qtype", "A", "question type (dnsperf)")
	flag.IntVar(&o.seconds, "seconds", 10, "duration (dnsperf, wrk; put and get stop at -total or after it)")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads")
	flag.StringVar(&o.mode, "mode", "", "read mode (get): linearizable|serializable (etcd), default|consistent|stale (http-get)")
	flag.StringVar(&o.in, "in", "", "snapshot file to restore (restore)")
	flag.IntVar(&o.latQPS, "lat-qps", 5000, "offered q/s of dnsperf's latency pass (0: none)")
	flag.IntVar(&o.latSeconds, "lat-seconds", 2, "length of dnsperf's latency pass")
	flag.IntVar(&o.size, "size", 64, "bytes per echo (rtt)")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "bound of waits (wait, waitview, fanout wake-up)")
	pids := flag.String("pids", "", "comma-separated processes (a path's proxies) whose CPU time over the transfer bulk reports")
	flag.Parse()
	o.addrs = strings.Split(*addrs, ",")
	for _, f := range strings.FieldsFunc(*pids, func(r rune) bool { return r == ',' }) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			fmt.Fprintf(os.Stderr, "loadgen: -pids: %q is not a process id\n", f)
			os.Exit(2)
		}
		o.pids = append(o.pids, pid)
	}

	results, err := dispatch(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", o.name, err)
		os.Exit(1)
	}
	for _, res := range results {
		res.Run = *run
		res.Name = cmp.Or(res.Name, o.name)
		res.Target = cmp.Or(res.Target, o.target)
		if res.Op == "" {
			res.Op = o.op
		}
		if o.instances > 0 && res.Instances == 0 {
			res.Instances = o.instances
		}
		_ = result.Encode(os.Stdout, res)
	}
}

// rtts runs -op rtt: one result per -addr, named -name/<target> after the
// matching entry of the comma-separated -target (or just -name, with one
// path).
func rtts(o options) ([]Result, error) {
	targets := strings.Split(o.target, ",")
	if len(targets) != len(o.addrs) {
		return nil, fmt.Errorf("-op rtt: %d targets (%q) for %d addresses", len(targets), o.target, len(o.addrs))
	}
	results, err := tcpRTT(o.addrs, o.total, o.size)
	for i := range results {
		results[i].Target, results[i].Name = targets[i], o.name
		if len(targets) > 1 {
			results[i].Name = o.name + "/" + targets[i]
		}
	}
	return results, err
}

// dispatch runs the -op: no result (an op that only waits or writes
// files), one, or one per path (rtt).
func dispatch(o options) ([]Result, error) {
	var res Result
	var err error
	switch o.op {
	case "rtt":
		return rtts(o)
	case "startup":
		res, err = startup(o.bin)
	case "wait":
		cc, derr := rpcclient.Dial(rpcclient.Config{Addrs: o.addrs})
		if derr != nil {
			return nil, derr
		}
		defer cc.Close()
		return nil, waitLeader(cc, o.timeout)
	case "put":
		res, err = kvOps(o)
	case "get":
		if err = preload(o); err != nil {
			return nil, fmt.Errorf("preload keys: %w", err)
		}
		res, err = kvOps(o)
	case "load":
		res, err = load(o.addrs, o.from, o.to, o.clients, o.conns)
	case "ports":
		return nil, freePorts(o.total)
	case "waitview":
		return nil, waitView(o.url, o.instances, o.timeout)
	case "waitdns":
		return nil, waitDNS(o.addrs[0], o.qname, o.qtype, o.timeout)
	case "fetch":
		return nil, fetch(o.url, o.out, o.headerOut)
	case "snapshot":
		res, err = snapshot(o.url, o.out)
	case "restore":
		res, err = restore(o.url, o.in)
	case "rss":
		var kib int64
		kib, err = proc.RSSKiB(o.pid)
		res = Result{Kind: result.KindRSS, RSSKiB: kib}
	case "fanout":
		res, err = fanout(o)
	case "dnsperf":
		res, err = dnsperf(o.addrs[0], o.qname, o.qtype, o.clients, o.seconds, o.latQPS, o.latSeconds)
	case "wrk":
		res, err = wrk(o.url, o.threads, o.clients, o.seconds)
	case "bulk":
		res, err = tcpBulk(o.addrs[0], int64(o.total), o.pids)
	case "conns":
		res, err = tcpConns(o.addrs[0], o.total)
	default:
		err = fmt.Errorf("unknown -op %q", o.op)
	}
	if err != nil {
		return nil, err
	}
	return []Result{res}, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
