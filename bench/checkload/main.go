// Command checkload measures what many health checks cost: it runs a
// catalog replica and one node agent (bin/beacon-catalog, bin/beacon-health)
// with N HTTP checks at one interval against a local HTTP server, then
// reports the catalog's Raft writes per second and the agent's CPU while
// nothing changes, and again while a fraction of the checks flap.
//
//	checkload -bin bin -checks 5000 -interval 10s -window 60s -flap 0.01
//
// It prints one JSON line per phase (see bench/internal/result: kind
// "checks"); run.sh appends them to the run's results.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/beaconmesh/beacon/bench/internal/proc"
	"github.com/beaconmesh/beacon/bench/internal/result"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding beacon-catalog and beacon-health")
	checks := flag.Int("checks", 5000, "number of HTTP checks on the agent")
	interval := flag.Duration("interval", 10*time.Second, "check interval")
	window := flag.Duration("window", 60*time.Second, "measurement window of each phase")
	flap := flag.Float64("flap", 0.01, "fraction of checks that flap in the second phase")
	run := flag.Int("run", 0, "run number recorded in the results")
	profileDir := flag.String("profile-dir", "", "write the agent's CPU and heap profiles here")
	floorTarget := flag.String("floor-poll", "", "internal: run as the floor, polling this URL prefix")
	flag.Parse()
	if *floorTarget != "" {
		floorPoll(*floorTarget, *checks, *interval)
		return
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := measure(ctx, logger, *bin, *checks, *interval, *window, *flap, *run, *profileDir); err != nil {
		logger.Error("checkload", "error", err)
		_ = result.Encode(os.Stdout, result.Result{Name: "checks-steady/beacon-health", Kind: result.KindChecks, Run: *run, Missing: err.Error()})
		os.Exit(1)
	}
}

func measure(ctx context.Context, logger *slog.Logger, bin string, n int, interval, window time.Duration, flapFrac float64, run int, profileDir string) error {
	// The checked server: /c/<i> answers 200, except that once flapping is
	// on the first flap×n of them alternate 500 and 200 per request.
	var flapping atomic.Bool
	var flips [1 << 16]atomic.Uint32
	mux := http.NewServeMux()
	mux.HandleFunc("/c/{i}", func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.PathValue("i"))
		if flapping.Load() && float64(i) < flapFrac*float64(n) {
			if flips[i%len(flips)].Add(1)%2 == 0 {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	})
	// The floor's own path, so that its polls do not move the flapping.
	mux.HandleFunc("/f/{i}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	dir, err := os.MkdirTemp("", "beacon-checkload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfgDir := filepath.Join(dir, "config")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		return err
	}
	var defs []map[string]any
	for i := range n {
		defs = append(defs, map[string]any{
			"id": fmt.Sprintf("c%d", i), "name": fmt.Sprintf("check %d", i),
			"http": fmt.Sprintf("http://%s/c/%d", ln.Addr(), i), "interval": interval.String(), "timeout": "5s",
		})
	}
	body, _ := json.Marshal(map[string]any{"checks": defs})
	if err := os.WriteFile(filepath.Join(cfgDir, "checks.json"), body, 0o644); err != nil {
		return err
	}

	grpcAddr, metricsAddr, agentAddr := freeAddr(), freeAddr(), freeAddr()
	catalog := exec.CommandContext(ctx, filepath.Join(bin, "beacon-catalog"), "-dev", "-node", "checkload-catalog",
		"-grpc-addr", grpcAddr, "-bind", freeAddr(), "-metrics-addr", metricsAddr, "-log-level", "warn")
	catalog.Stderr = os.Stderr
	if err := catalog.Start(); err != nil {
		return fmt.Errorf("start catalog: %w", err)
	}
	defer stop(catalog)
	if err := waitHTTP(ctx, "http://"+metricsAddr+"/metrics", 30*time.Second); err != nil {
		return fmt.Errorf("catalog metrics: %w", err)
	}
	agent := exec.CommandContext(ctx, filepath.Join(bin, "beacon-health"), "-node", "checkload-agent", "-catalog", grpcAddr,
		"-grpc-addr", agentAddr, "-config-dir", cfgDir, "-data-dir", filepath.Join(dir, "agent"), "-advertise", "127.0.0.1", "-log-level", "warn")
	agent.Stderr = os.Stderr
	if profileDir != "" {
		if err := os.MkdirAll(profileDir, 0o755); err != nil {
			return fmt.Errorf("profile dir: %w", err)
		}
		agent.Env = append(os.Environ(),
			"BEACON_CPUPROFILE="+filepath.Join(profileDir, "checkload-health.cpu.pprof"),
			"BEACON_MEMPROFILE="+filepath.Join(profileDir, "checkload-health.heap.pprof"))
	}
	if err := agent.Start(); err != nil {
		return fmt.Errorf("start agent: %w", err)
	}
	defer stop(agent)

	// The floor: this program polling the same URLs on the same schedule
	// with a bare net/http client (keep-alives off, as the agent's checks),
	// so the agent's CPU reads as a ratio to the least such polling costs.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	floor := exec.CommandContext(ctx, self, "-floor-poll", "http://"+ln.Addr().String()+"/f/",
		"-checks", strconv.Itoa(n), "-interval", interval.String())
	floor.Stderr = os.Stderr
	if err := floor.Start(); err != nil {
		return fmt.Errorf("start floor poller: %w", err)
	}
	defer stop(floor)

	// Let every check run at least twice and the first results settle.
	settle := 2*interval + 5*time.Second
	logger.Info("settling", "checks", n, "for", settle)
	if !sleep(ctx, settle) {
		return ctx.Err()
	}
	for _, phase := range []struct {
		name string
		flap bool
	}{{"checks-steady", false}, {"checks-flap", true}} {
		flapping.Store(phase.flap)
		if phase.flap && !sleep(ctx, interval) { // flapping checks start changing
			return ctx.Err()
		}
		idx0, err := appliedIndex(metricsAddr)
		if err != nil {
			return err
		}
		cpu0, err := proc.CPUSeconds(agent.Process.Pid)
		if err != nil {
			return err
		}
		floor0, err := proc.CPUSeconds(floor.Process.Pid)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if !sleep(ctx, window) {
			return ctx.Err()
		}
		idx1, err := appliedIndex(metricsAddr)
		if err != nil {
			return err
		}
		cpu1, err := proc.CPUSeconds(agent.Process.Pid)
		if err != nil {
			return err
		}
		floor1, err := proc.CPUSeconds(floor.Process.Pid)
		if err != nil {
			return err
		}
		secs := time.Since(t0).Seconds()
		rss, _ := proc.RSSKiB(agent.Process.Pid)
		r := result.Result{
			Name: phase.name + "/beacon-health", Kind: result.KindChecks, Run: run, Target: "beacon-health", Total: n, Seconds: secs,
			Rate: float64(idx1-idx0) / secs, CPUPercent: 100 * (cpu1 - cpu0) / secs, RSSKiB: rss,
		}
		f := result.Result{
			Name: phase.name + "/floor", Kind: result.KindChecks, Run: run, Target: "floor", Total: n, Seconds: secs,
			CPUPercent: 100 * (floor1 - floor0) / secs,
		}
		logger.Info("phase", "name", phase.name, "writes_per_s", r.Rate, "agent_cpu_percent", r.CPUPercent, "floor_cpu_percent", f.CPUPercent)
		for _, x := range []result.Result{r, f} {
			if err := result.Encode(os.Stdout, x); err != nil {
				return err
			}
		}
	}
	return nil
}

// floorPoll polls prefix+i for i < n, each every interval, spread over the
// interval, with a keep-alive-free client, until killed.
func floorPoll(prefix string, n int, interval time.Duration) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	for i := range n {
		go func() {
			time.Sleep(time.Duration(i) * interval / time.Duration(n))
			t := time.NewTicker(interval)
			for {
				if resp, err := client.Get(prefix + strconv.Itoa(i)); err == nil {
					_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
					resp.Body.Close()
				}
				<-t.C
			}
		}()
	}
	select {}
}

// appliedIndex reads the catalog's last applied Raft index from /metrics.
func appliedIndex(addr string) (uint64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("catalog metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("catalog metrics: %w", err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if name, val, ok := strings.Cut(line, " "); ok && name == "beacon_catalog_raft_commit_index" {
			f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			return uint64(f), err
		}
	}
	return 0, fmt.Errorf("catalog metrics have no beacon_catalog_raft_commit_index")
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitHTTP(ctx context.Context, url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
}

func stop(c *exec.Cmd) {
	_ = c.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.Process.Kill()
		<-done
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
