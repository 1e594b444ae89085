package main

import (
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

	"github.com/beaconmesh/beacon/bench/internal/result"
	"github.com/beaconmesh/beacon/platform/rpcclient"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	operatorv1 "github.com/beaconmesh/beacon/proto/beacon/operator/v1"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

type putFunc func(ctx context.Context, key string, value []byte) error

func puts(target string, addrs []string, clients, conns, total, valueSize int) (Result, error) {
	conns = max(1, min(conns, clients))
	var fns []putFunc
	for range conns {
		switch target {
		case "beacon":
			cc, err := rpcclient.Dial(rpcclient.Config{Addrs: addrs})
			if err != nil {
				return Result{}, err
			}
			defer cc.Close()
			kv := kvv1.NewKVServiceClient(cc)
			fns = append(fns, func(ctx context.Context, k string, v []byte) error {
				_, err := kv.Put(ctx, &kvv1.PutRequest{Key: k, Value: v})
				return err
			})
		case "etcd":
			cli, err := clientv3.New(clientv3.Config{Endpoints: addrs, DialTimeout: 5 * time.Second})
			if err != nil {
				return Result{}, err
			}
			defer cli.Close()
			fns = append(fns, func(ctx context.Context, k string, v []byte) error {
				_, err := cli.Put(ctx, k, string(v))
				return err
			})
		default:
			return Result{}, fmt.Errorf("unknown target %q", target)
		}
	}
	return runPuts(target, fns, clients, total, valueSize)
}

// httpPuts is PUT /v1/kv/<key> through beacon-httpgw, with one keep-alive
// connection per client, as a Consul client library would.
func httpPuts(addr string, clients, total, valueSize int) (Result, error) {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        clients,
		MaxIdleConnsPerHost: clients,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	base := "http://" + addr + "/v1/kv/"
	put := func(ctx context.Context, k string, v []byte) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+k, strings.NewReader(string(v)))
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("PUT %s: %s: %s", k, resp.Status, body)
		}
		return nil
	}
	fns := make([]putFunc, clients)
	for i := range fns {
		fns[i] = put
	}
	return runPuts("http-put", fns, clients, total, valueSize)
}

func runPuts(target string, fns []putFunc, clients, total, valueSize int) (Result, error) {
	value := make([]byte, valueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	// Warm up every connection so dialing is not measured (for HTTP, open
	// one keep-alive connection per client at once).
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
		if err != nil {
			return Result{}, fmt.Errorf("warm-up put: %w", err)
		}
	}
	lat := make([]time.Duration, total)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			f := fns[c%len(fns)]
			for {
				i := next.Add(1) - 1
				if i >= int64(total) {
					return
				}
				t0 := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := f(ctx, fmt.Sprintf("k%08d", i%10000), value)
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
		logf("%s: %d errors, first: %s", target, errs.Load(), e)
	}
	slices.Sort(lat)
	return Result{
		Kind: result.KindRate, Target: target, Op: "put", Clients: clients, Total: total, Errors: errs.Load(),
		Seconds: elapsed.Seconds(), Rate: float64(total) / elapsed.Seconds(),
		P50ms: ms(lat[len(lat)/2]), P99ms: ms(lat[len(lat)*99/100]),
	}, nil
}

var bannerRE = regexp.MustCompile(`gRPC: (\d+)`)

// startup measures `beacon agent -dev` from exec to a known leader.
func startup(bin string) (Result, error) {
	start := time.Now()
	cmd := exec.Command(bin, "agent", "-dev", "-http-port", "0", "-grpc-port", "0", "-dns-port", "0", "-log-level", "warn")
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
	return Result{Kind: result.KindStartup, Target: "agent", Op: "startup", Total: 1, Seconds: took.Seconds(), P50ms: ms(took), P99ms: ms(took)}, nil
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
