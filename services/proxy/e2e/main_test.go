// Package e2e runs Consul's Connect tutorial against real processes: a
// dev agent, sidecar and client proxies as `beacon connect proxy`, and an
// echo server, all on 127.0.0.1.
package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/freeport"
)

var binDir string

// TestMain builds beacon once, with the race detector.
func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
	dir, err := os.MkdirTemp("", "beacon-proxy-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-race", "-o", binDir+string(os.PathSeparator), "./cmd/beacon")
	cmd.Dir = repo
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building beacon:", err)
		os.RemoveAll(binDir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// proc is a child process whose output is kept and can be waited on.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error

	mu     sync.Mutex
	out    bytes.Buffer  // stdout and stderr, interleaved
	stdout bytes.Buffer  // stdout alone
	wrote  chan struct{} // signalled on each write
	closed bool
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(filepath.Join(binDir, "beacon"), args...), done: make(chan struct{}), wrote: make(chan struct{}, 1)}
	p.cmd.Stdout, p.cmd.Stderr = stdoutOf{p}, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	p.out.Write(b)
	p.mu.Unlock()
	select {
	case p.wrote <- struct{}{}:
	default:
	}
	return len(b), nil
}

// stdoutOf keeps what a process writes on stdout apart as well.
type stdoutOf struct{ p *proc }

func (s stdoutOf) Write(b []byte) (int, error) {
	s.p.mu.Lock()
	s.p.stdout.Write(b)
	s.p.mu.Unlock()
	return s.p.Write(b)
}

// stdoutText returns what the process has written on stdout.
func (p *proc) stdoutText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until the output matches re n times and returns the
// submatches of the last match.
func (p *proc) waitFor(t *testing.T, re *regexp.Regexp, n int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if all := re.FindAllStringSubmatch(p.logs(), -1); len(all) >= n {
			return all[n-1]
		}
		select {
		case <-p.wrote:
		case <-p.done:
			if all := re.FindAllStringSubmatch(p.logs(), -1); len(all) >= n {
				return all[n-1]
			}
			t.Fatalf("%s exited (%v) before printing %q:\n%s", p.name, p.err, re, p.logs())
		case <-deadline.C:
			t.Fatalf("%s printed %q fewer than %d times within %v:\n%s", p.name, re, n, timeout, p.logs())
		}
	}
}

// stop sends SIGTERM and expects a clean exit within 10 s.
func (p *proc) stop(t *testing.T) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	select {
	case <-p.done:
		t.Errorf("%s exited early: %v\n%s", p.name, p.err, p.logs())
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s exited with %v after SIGTERM\n%s", p.name, p.err, p.logs())
		}
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not exit within 10s of SIGTERM\n%s", p.name, p.logs())
	}
}

// freePort returns a port on 127.0.0.1 for a process of the test to
// listen on.
func freePort(t *testing.T) int { return freeport.MustPort(t) }

// echoServer accepts connections and writes back what it reads, until
// the test ends.
func echoServer(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						// Half-close: finish our side once the client has.
						if tc, ok := c.(*net.TCPConn); ok {
							tc.CloseWrite()
						}
						return
					}
				}
			})
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}
