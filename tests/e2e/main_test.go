package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	operatorv1 "github.com/beaconmesh/beacon/proto/beacon/operator/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

var (
	binDir  string
	repoDir string
)

// TestMain builds the binaries once for every test in the package: the dev
// agent, and the catalog replica, node agent and gateways for the tests
// that run them as separate processes.
func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoDir = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	dir, err := os.MkdirTemp("", "beacon-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-race", "-o", binDir+string(os.PathSeparator),
		"./cmd/beacon", "./services/catalog/cmd/beacon-catalog", "./services/httpgw/cmd/beacon-httpgw",
		"./services/health/cmd/beacon-health", "./services/dnsgw/cmd/beacon-dnsgw")
	cmd.Dir = repoDir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the binaries:", err)
		os.RemoveAll(binDir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// proc is a process started by a test: its output is kept for failure
// messages, and a line matching a pattern can be waited for.
type proc struct {
	name    string
	cmd     *exec.Cmd
	Started time.Time
	done    chan struct{} // closed when the process has exited
	err     error         // Wait's result, set before done is closed

	mu      sync.Mutex
	output  bytes.Buffer
	partial []byte
	watch   *regexp.Regexp
	found   chan []string
}

// startProc runs binDir/bin with args. If watch is set, it waits up to 30 s
// for an output line matching it and returns the submatches. The process is
// stopped with SIGTERM at cleanup unless it was stopped before.
func startProc(t *testing.T, name, bin string, watch *regexp.Regexp, args ...string) (*proc, []string) {
	t.Helper()
	p := &proc{
		name:  name,
		cmd:   exec.Command(filepath.Join(binDir, bin), args...),
		done:  make(chan struct{}),
		watch: watch,
		found: make(chan []string, 1),
	}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.Started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	if watch == nil {
		return p, nil
	}
	select {
	case m := <-p.found:
		return p, m
	case <-p.done:
		t.Fatalf("%s exited before printing %q: %v\n%s", name, watch, p.err, p.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s printed no %q within 30s:\n%s", name, watch, p.logs())
	}
	return nil, nil
}

// Write collects the process' stdout and stderr.
func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.output.Write(b)
	if p.watch == nil {
		return len(b), nil
	}
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		line := string(p.partial[:i])
		p.partial = p.partial[i+1:]
		if m := p.watch.FindStringSubmatch(line); m != nil {
			select {
			case p.found <- m:
			default:
			}
		}
	}
	return len(b), nil
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and expects a clean exit (status 0) within 5 s.
func (p *proc) stop(t *testing.T) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s exited with %v after SIGTERM\n%s", p.name, p.err, p.logs())
		}
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not exit within 5s of SIGTERM\n%s", p.name, p.logs())
	}
}

// kill stops the process with SIGKILL, as a crash would.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.done
}

// devAgent is a running `beacon agent -dev` process.
type devAgent struct {
	*proc
	HTTPAddr string
	GRPCAddr string
	DNSAddr  string
}

var bannerRE = regexp.MustCompile(`Client Addr: \[([^\]]+)\] \(HTTP: (\d+), gRPC: (\d+), DNS: (\d+)\)`)

// devNode is the node name the tests give the dev agent.
const devNode = "e2e-node"

// startDevAgent runs the dev agent on free ports and waits for its banner.
func startDevAgent(t *testing.T, args ...string) *devAgent {
	t.Helper()
	full := append([]string{"agent", "-dev", "-node", devNode, "-http-port", "0", "-grpc-port", "0", "-dns-port", "0", "-agent-port", "0"}, args...)
	p, m := startProc(t, "beacon agent -dev", "beacon", bannerRE, full...)
	return &devAgent{
		proc:     p,
		HTTPAddr: m[1] + ":" + m[2],
		GRPCAddr: m[1] + ":" + m[3],
		DNSAddr:  m[1] + ":" + m[4],
	}
}

// waitLeader waits until the agent's catalog reports a leader and returns
// how long after process start that was.
func (a *devAgent) waitLeader(t *testing.T) time.Duration {
	t.Helper()
	conn := a.grpcConn(t)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := operatorv1.NewStatusServiceClient(conn).Leader(ctx, &operatorv1.LeaderRequest{})
		cancel()
		if err == nil && resp.GetAddress() != "" {
			return time.Since(a.Started)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no leader within 10s\n%s", a.logs())
	return 0
}

func (a *devAgent) grpcConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(a.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// failWithLogs is t.Fatalf with the tail of a process' output appended.
func failWithLogs(t *testing.T, p *proc, format string, args ...any) {
	t.Helper()
	logs := p.logs()
	if len(logs) > 8000 {
		logs = "…" + logs[len(logs)-8000:]
	}
	t.Fatalf(format+"\n--- %s output ---\n%s", append(args, p.name, strings.TrimSpace(logs))...)
}
