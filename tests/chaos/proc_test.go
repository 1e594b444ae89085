package chaos

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one binary under test that the harness may kill -9, pause and
// start again with the same arguments (and so the same data dir). Its
// output, over every start, is appended to logPath.
type proc struct {
	name    string
	bin     string
	args    []string
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current process has exited
	err     error         // Wait's result, set before done is closed
	killed  bool          // the harness stopped it: its exit is expected
	paused  bool
	started time.Time
	starts  int
}

// newProc prepares binDir/bin (built on first use); t.Cleanup kills it with
// SIGKILL whatever state it is in (a stopped process dies of SIGKILL too).
func newProc(t *testing.T, name, bin, logPath string, args ...string) *proc {
	needBinaries(t)
	p := &proc{name: name, bin: filepath.Join(binDir, bin), args: args, logPath: logPath}
	t.Cleanup(p.kill)
	return p
}

// start runs the process; it must not be running.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isClosed(p.done) {
		return fmt.Errorf("%s is already running", p.name)
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(f, "=== start %d at %s: %s %v\n", p.starts, time.Now().Format(time.RFC3339Nano), p.bin, p.args)
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	// If the test binary dies, its children die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.done, p.err, p.killed, p.paused, p.started = cmd, make(chan struct{}), nil, false, false, time.Now()
	done := p.done
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// kill stops the process with SIGKILL, as a crash would, and waits for it.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	if cmd == nil || isClosed(done) {
		p.mu.Unlock()
		return
	}
	p.killed, p.paused = true, false
	_ = cmd.Process.Kill()
	p.mu.Unlock()
	<-done
}

// pause stops the process with SIGSTOP (a long GC pause, a stalled VM).
func (p *proc) pause() error { return p.signal(syscall.SIGSTOP, true) }

// resume continues a paused process.
func (p *proc) resume() error { return p.signal(syscall.SIGCONT, false) }

func (p *proc) signal(sig syscall.Signal, paused bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || isClosed(p.done) {
		return fmt.Errorf("%s is not running", p.name)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s: %v: %w", p.name, sig, err)
	}
	p.paused = paused
	return nil
}

func (p *proc) isPaused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// pid is the running process' id, 0 when it is not running.
func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || isClosed(p.done) {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *proc) running() bool { return p.pid() != 0 }

// crashed reports an exit the harness did not cause (a panic, a fatal
// error, a port it could not bind), with the end of the log.
func (p *proc) crashed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || !isClosed(p.done) || p.killed {
		return nil
	}
	return fmt.Errorf("%s exited by itself (%v):\n%s", p.name, p.err, tailFile(p.logPath, 4000))
}

// tail is the end of the process' log.
func (p *proc) tail(n int64) string { return tailFile(p.logPath, n) }

func tailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func isClosed(ch chan struct{}) bool {
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
