// Package hostile sends hostile HTTP to a real beacon-httpgw in front of a
// real one-replica beacon-catalog on loopback: slowloris, oversize headers
// and bodies, deeply nested JSON, invalid UTF-8, absurd ?wait and ?index
// values and thousands of concurrent connections. The gateway must not
// panic, must not answer 5xx because of its input, and must keep its memory
// bounded. See docs/reliability.md.
package hostile

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/freeport"
)

var (
	repoDir string
	gw      *gateway
	// gwPlain is a second gateway, built without -race, for the
	// connection-count test: the race detector multiplies a goroutine's
	// memory several times over and slows 2 cores to a crawl, which would
	// measure the detector rather than the gateway.
	gwPlain *gateway
)

// gateway is the process under test.
type gateway struct {
	addr    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

func (g *gateway) url(path string) string { return "http://" + g.addr + path }

// rssKiB is the gateway's resident set size.
func (g *gateway) rssKiB() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", g.cmd.Process.Pid)
}

// alive fails the test if the gateway exited or its log shows a panic.
func (g *gateway) alive(t *testing.T) {
	t.Helper()
	select {
	case <-g.done:
		t.Fatalf("the gateway exited:\n%s", tail(g.logPath))
	default:
	}
	if b, _ := os.ReadFile(g.logPath); strings.Contains(string(b), "panic") {
		t.Fatalf("the gateway logged a panic:\n%s", tail(g.logPath))
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// TestMain raises the file limit (the connection test needs thousands of
// descriptors, in this process and in the gateway, which inherits it),
// builds the binaries and starts a catalog and a gateway for every test.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoDir = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	dir, err := os.MkdirTemp("", "beacon-hostile-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	args := []string{"build"}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "-o", dir+string(os.PathSeparator), "./services/catalog/cmd/beacon-catalog", "./services/httpgw/cmd/beacon-httpgw")
	plainDir := filepath.Join(dir, "plain")
	for _, args := range [][]string{args, {"build", "-o", plainDir + string(os.PathSeparator), "./services/httpgw/cmd/beacon-httpgw"}} {
		build := exec.Command("go", args...)
		build.Dir = repoDir
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go %v: %v\n%s", args, err, out)
			return 1
		}
	}
	bind, grpcAddr := freeAddr(), freeAddr()
	catalog, _, err := start(dir, "catalog", filepath.Join(dir, "beacon-catalog"), "-node", "h0", "-data-dir", filepath.Join(dir, "data"),
		"-bind", bind, "-grpc-addr", grpcAddr, "-bootstrap-expect", "1", "-log-level", "warn")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer kill(catalog)
	// startGateway runs the beacon-httpgw in binDir as name, on a new port.
	startGateway := func(name, binDir string) (*gateway, error) {
		addr := freeAddr()
		cmd, done, err := start(dir, name, filepath.Join(binDir, "beacon-httpgw"), "-http-addr", addr, "-catalog", grpcAddr,
			"-datacenter", "dc1", "-node", "hostile-"+strings.TrimPrefix(name, "http"), "-log-level", "warn")
		if err != nil {
			return nil, err
		}
		return &gateway{addr: addr, cmd: cmd, logPath: filepath.Join(dir, name+".log"), done: done}, nil
	}
	if gw, err = startGateway("httpgw", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer kill(gw.cmd)
	if gwPlain, err = startGateway("httpgw-plain", plainDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer kill(gwPlain.cmd)
	if err := waitLeader(30 * time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "catalog and gateway not ready: %v\n%s\n%s", err, tail(filepath.Join(dir, "catalog.log")), tail(gw.logPath))
		return 1
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- gateway log ---\n%s\n--- catalog log ---\n%s\n", tail(gw.logPath), tail(filepath.Join(dir, "catalog.log")))
	}
	return code
}

func start(dir, name, bin string, args ...string) (*exec.Cmd, chan struct{}, error) {
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	return cmd, done, nil
}

func kill(cmd *exec.Cmd) {
	_ = cmd.Process.Kill()
}

// freeAddr returns a 127.0.0.1 address for a process of the test to listen on.
func freeAddr() string {
	addr, err := freeport.Addr()
	if err != nil {
		panic(err)
	}
	return addr
}

// waitLeader waits until a consistent KV read through the gateway answers.
func waitLeader(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get(gw.url("/v1/kv/ready?consistent"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// raw sends bytes as they are on a new connection and reads one response.
func raw(t *testing.T, req string, timeout time.Duration) (*http.Response, []byte, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", gw.addr, time.Second)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte(req)); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for b.Len() < 1<<20 {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, []byte(b.String()), nil
}

// do is an ordinary request with a timeout.
func do(ctx context.Context, method, path string, body string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, gw.url(path), strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
