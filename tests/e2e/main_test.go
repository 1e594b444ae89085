package e2e

import (
	"bufio"
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

// TestMain builds the binaries once for every test in the package.
func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoDir = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	dir, err := os.MkdirTemp("", "beacon-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-race", "-o", binDir+string(os.PathSeparator), "./cmd/beacon")
	cmd.Dir = repoDir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building beacon:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// devAgent is a running `beacon agent -dev` process.
type devAgent struct {
	cmd      *exec.Cmd
	HTTPAddr string
	GRPCAddr string
	DNSAddr  string
	Started  time.Time
	exited   chan error
	mu       sync.Mutex
	output   strings.Builder
}

var bannerRE = regexp.MustCompile(`Client Addr: \[([^\]]+)\] \(HTTP: (\d+), gRPC: (\d+), DNS: (\d+)\)`)

// startDevAgent runs the dev agent on free ports and waits for its banner.
func startDevAgent(t *testing.T, args ...string) *devAgent {
	t.Helper()
	full := append([]string{"agent", "-dev", "-node", "e2e-node", "-http-port", "0", "-grpc-port", "0", "-dns-port", "0"}, args...)
	cmd := exec.Command(filepath.Join(binDir, "beacon"), full...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	a := &devAgent{cmd: cmd, exited: make(chan error, 1)}
	cmd.Stderr = &lockedWriter{a: a}
	a.Started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			a.mu.Lock()
			a.output.WriteString(line + "\n")
			a.mu.Unlock()
			if m := bannerRE.FindStringSubmatch(line); m != nil {
				found <- m
			}
		}
	}()
	go func() { a.exited <- cmd.Wait() }()
	t.Cleanup(func() { a.stop(t) })
	select {
	case m := <-found:
		a.HTTPAddr = m[1] + ":" + m[2]
		a.GRPCAddr = m[1] + ":" + m[3]
		a.DNSAddr = m[1] + ":" + m[4]
	case err := <-a.exited:
		t.Fatalf("agent exited before its banner: %v\n%s", err, a.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("no banner within 30s:\n%s", a.logs())
	}
	return a
}

type lockedWriter struct{ a *devAgent }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.a.mu.Lock()
	defer w.a.mu.Unlock()
	return w.a.output.Write(p)
}

func (a *devAgent) logs() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.output.String()
}

// stop sends SIGTERM and expects a clean exit (status 0) within 5 s.
func (a *devAgent) stop(t *testing.T) {
	if a.cmd.ProcessState != nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.exited:
		if err != nil {
			t.Errorf("agent exited with %v after SIGTERM\n%s", err, a.logs())
		}
	case <-time.After(5 * time.Second):
		_ = a.cmd.Process.Kill()
		t.Errorf("agent did not exit within 5s of SIGTERM\n%s", a.logs())
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
