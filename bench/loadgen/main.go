// Command loadgen drives one benchmark measurement against Beacon or a peer
// (etcd) and prints the result as one JSON line, for bench/run.sh to
// collect: the same client code path measures both sides of every ratio.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beaconmesh/beacon/platform/rpcclient"
	kvv1 "github.com/beaconmesh/beacon/proto/beacon/kv/v1"
	operatorv1 "github.com/beaconmesh/beacon/proto/beacon/operator/v1"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// Result is one measurement.
type Result struct {
	Name    string  `json:"name"`
	Target  string  `json:"target"`
	Op      string  `json:"op"`
	Clients int     `json:"clients"`
	Total   int     `json:"total"`
	Errors  int64   `json:"errors"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"rate"`
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
}

func main() {
	name := flag.String("name", "", "label of the measurement")
	target := flag.String("target", "beacon", "beacon (gRPC), etcd, or agent (startup)")
	op := flag.String("op", "put", "put, wait (for a leader), or startup (with -target agent)")
	addrs := flag.String("addr", "127.0.0.1:8502", "comma-separated server addresses")
	clients := flag.Int("clients", 1, "concurrent clients")
	conns := flag.Int("conns", 4, "connections shared by the clients")
	total := flag.Int("total", 2000, "operations in all")
	valueSize := flag.Int("value-size", 256, "value bytes")
	bin := flag.String("bin", "bin/beacon", "beacon binary (startup)")
	flag.Parse()

	var res Result
	var err error
	switch {
	case *target == "agent" && *op == "startup":
		res, err = startup(*bin)
	case *op == "wait":
		cc, derr := rpcclient.Dial(rpcclient.Config{Addrs: strings.Split(*addrs, ",")})
		if derr != nil {
			err = derr
			break
		}
		err = waitLeader(cc, 60*time.Second)
		cc.Close()
		if err == nil {
			return
		}
	case *op == "put":
		res, err = puts(*target, strings.Split(*addrs, ","), *clients, *conns, *total, *valueSize)
	default:
		err = fmt.Errorf("unknown -target %q -op %q", *target, *op)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	res.Name = *name
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

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
	value := make([]byte, valueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	// Warm up every connection so dialing is not measured.
	for i, f := range fns {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := f(ctx, fmt.Sprintf("warm/%d", i), value)
		cancel()
		if err != nil {
			return Result{}, fmt.Errorf("warm-up put: %w", err)
		}
	}
	lat := make([]time.Duration, total)
	var next, errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
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
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return Result{
		Target: target, Op: "put", Clients: clients, Total: total, Errors: errs.Load(),
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
	return Result{Target: "agent", Op: "startup", Total: 1, Seconds: took.Seconds(), P50ms: ms(took), P99ms: ms(took)}, nil
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

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
