package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beaconmesh/beacon/bench/internal/proc"
	"github.com/beaconmesh/beacon/bench/internal/result"
	"github.com/beaconmesh/beacon/platform/rpcclient"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	operatorv1 "github.com/beaconmesh/beacon/proto/beacon/operator/v1"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// opFunc is one KV operation on key; value is the value a put writes.
type opFunc func(ctx context.Context, key string, value []byte) error

// kvOps measures puts or gets: -target beacon (gRPC put), etcd (put, or get
// with -mode linearizable|serializable), http-put or http-get (through
// beacon-httpgw with a Go client; gets with -mode default|consistent|stale),
// or wrk-put (wrk's puts through beacon-httpgw, for seconds). Each client
// runs operations back to back until total are done or seconds have passed.
func kvOps(o options) (Result, error) {
	var fns []opFunc
	var cleanup []func()
	defer func() {
		for _, f := range cleanup {
			f()
		}
	}()
	get := o.op == "get"
	switch o.target {
	case "beacon":
		if get {
			return Result{}, fmt.Errorf("-op get: use -target http-get for Beacon")
		}
		for range max(1, min(o.conns, o.clients)) {
			cc, err := rpcclient.Dial(rpcclient.Config{Addrs: o.addrs})
			if err != nil {
				return Result{}, fmt.Errorf("dial %v: %w", o.addrs, err)
			}
			cleanup = append(cleanup, func() { cc.Close() })
			kv := kvv1.NewKVServiceClient(cc)
			fns = append(fns, func(ctx context.Context, k string, v []byte) error {
				_, err := kv.Put(ctx, &kvv1.PutRequest{Key: k, Value: v})
				return err
			})
		}
	case "etcd":
		var opts []clientv3.OpOption
		if o.mode == "serializable" {
			opts = append(opts, clientv3.WithSerializable())
		}
		for range max(1, min(o.conns, o.clients)) {
			cli, err := clientv3.New(clientv3.Config{Endpoints: o.addrs, DialTimeout: 5 * time.Second})
			if err != nil {
				return Result{}, fmt.Errorf("etcd client %v: %w", o.addrs, err)
			}
			cleanup = append(cleanup, func() { cli.Close() })
			fns = append(fns, func(ctx context.Context, k string, v []byte) error {
				if get {
					_, err := cli.Get(ctx, k, opts...)
					return err
				}
				_, err := cli.Put(ctx, k, string(v))
				return err
			})
		}
	case "wrk-put":
		if get {
			return Result{}, fmt.Errorf("-target wrk-put only puts")
		}
		return wrkPut(o.addrs[0], o.clients, o.valueSize, o.seconds)
	case "http-put", "http-get":
		f, closeIdle := httpKV(o.addrs[0], o.clients, get, o.mode)
		cleanup = append(cleanup, closeIdle)
		for range o.clients {
			fns = append(fns, f)
		}
	default:
		return Result{}, fmt.Errorf("unknown -target %q for -op %s", o.target, o.op)
	}
	return runOps(o.target, o.op, fns, o.clients, o.total, o.valueSize, time.Duration(o.seconds)*time.Second, get)
}

// httpKV is PUT or GET /v1/kv/<key> through beacon-httpgw, with one
// keep-alive connection per client, as a Consul client library would.
func httpKV(addr string, clients int, get bool, mode string) (opFunc, func()) {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        clients,
		MaxIdleConnsPerHost: clients,
		IdleConnTimeout:     time.Minute,
	}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	base := "http://" + addr + "/v1/kv/"
	query := ""
	if mode == "consistent" || mode == "stale" {
		query = "?" + mode
	}
	f := func(ctx context.Context, k string, v []byte) error {
		method, body := http.MethodPut, io.Reader(bytes.NewReader(v))
		if get {
			method, body = http.MethodGet, nil
		}
		req, err := http.NewRequestWithContext(ctx, method, base+k+query, body)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: %s: %s", method, k, resp.Status, b)
		}
		return nil
	}
	return f, tr.CloseIdleConnections
}

// putValue is the value every put writes: size bytes of a, b, ... z, a, ...
func putValue(size int) []byte {
	v := make([]byte, size)
	for i := range v {
		v[i] = 'a' + byte(i%26)
	}
	return v
}

const (
	// kvKeys is how many keys puts spread over.
	kvKeys = 10000
	// readKeys is how many keys reads spread over; they are written first.
	readKeys = 1000
)

func runOps(target, op string, fns []opFunc, clients, total, valueSize int, limit time.Duration, get bool) (Result, error) {
	value := putValue(valueSize)
	// Warm up every connection so dialing is not measured (for HTTP, open
	// one keep-alive connection per client at once); reads first get
	// keys to read, written through a plain put of the same store.
	var wg sync.WaitGroup
	warmErr := make([]error, len(fns))
	for i, f := range fns {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			warmErr[i] = f(ctx, fmt.Sprintf("warm/%d", i), value)
			cancel()
		})
	}
	wg.Wait()
	for _, err := range warmErr {
		if err != nil && !(get && strings.Contains(err.Error(), "404")) {
			return Result{}, fmt.Errorf("warm-up %s: %w", op, err)
		}
	}
	if limit <= 0 {
		limit = time.Hour
	}
	lat := make([]time.Duration, total)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	deadline := start.Add(limit)
	for c := range clients {
		wg.Go(func() {
			f := fns[c%len(fns)]
			for time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if i >= int64(total) {
					return
				}
				t0 := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				key := fmt.Sprintf("k%08d", i%kvKeys)
				if get {
					key = fmt.Sprintf("k%08d", i%readKeys)
				}
				err := f(ctx, key, value)
				cancel()
				lat[i] = time.Since(t0)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if e := firstErr.Load(); e != nil {
		logf("%s %s: %d errors, first: %s", target, op, errs.Load(), e)
	}
	done := min(int(next.Load()), total)
	if done == 0 {
		return Result{}, fmt.Errorf("%s %s: no operation completed", target, op)
	}
	lat = lat[:done]
	slices.Sort(lat)
	return Result{
		Kind: result.KindRate, Target: target, Op: op, Clients: clients, Total: done, Errors: errs.Load(),
		Seconds: elapsed.Seconds(), Rate: float64(done) / elapsed.Seconds(),
		P50ms: ms(lat[len(lat)/2]), P99ms: ms(lat[len(lat)*99/100]),
	}, nil
}

// preload writes the keys reads spread over, with put (a put of the same
// store as the reads').
func preload(o options) error {
	p := o
	p.op, p.total, p.seconds = "put", readKeys, 0
	p.clients = 16
	if p.target == "http-get" {
		p.target = "http-put"
	}
	_, err := kvOps(p)
	return err
}

var bannerRE = regexp.MustCompile(`gRPC: (\d+)`)

// startup measures `beacon agent -dev` from exec to a known leader.
func startup(bin string) (Result, error) {
	start := time.Now()
	cmd := exec.Command(bin, "agent", "-dev", "-http-port", "0", "-grpc-port", "0", "-dns-port", "0", "-agent-port", "0", "-log-level", "warn")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	buf := make([]byte, 4096)
	var seen strings.Builder
	var port string
	for port == "" {
		n, err := out.Read(buf)
		if err != nil {
			return Result{}, fmt.Errorf("reading banner: %w (%s)", err, seen.String())
		}
		seen.Write(buf[:n])
		if m := bannerRE.FindStringSubmatch(seen.String()); m != nil {
			port = m[1]
		}
	}
	cc, err := rpcclient.Dial(rpcclient.Config{Addrs: []string{"127.0.0.1:" + port}})
	if err != nil {
		return Result{}, err
	}
	defer cc.Close()
	if err := waitLeader(cc, 10*time.Second); err != nil {
		return Result{}, err
	}
	took := time.Since(start)
	// Idle RSS: after the start-up garbage has had a GC cycle to go.
	time.Sleep(2 * time.Second)
	rss, err := proc.RSSKiB(cmd.Process.Pid)
	if err != nil {
		return Result{}, fmt.Errorf("idle RSS: %w", err)
	}
	return Result{Kind: result.KindStartup, Target: "agent", Op: "startup", Total: 1, Seconds: took.Seconds(), P50ms: ms(took), P99ms: ms(took), RSSKiB: rss}, nil
}

func waitLeader(cc *grpc.ClientConn, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := operatorv1.NewStatusServiceClient(cc).Leader(ctx, &operatorv1.LeaderRequest{})
		cancel()
		if err == nil && resp.GetAddress() != "" {
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("no leader within %s", timeout)
}
