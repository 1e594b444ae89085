package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"
)

// lockKillGrace is how long a child that lost its lock gets between
// SIGTERM and SIGKILL. It stays well under the KV store's default lock
// delay (15 s), so the next holder cannot start while this child runs.
const lockKillGrace = 5 * time.Second

// lockCommand runs a child process while holding a lock (or, with -n above
// one, a semaphore slot) in the KV store. The lock itself is
// hashicorp/consul/api's Lock and Semaphore, so the keys, sessions and
// flags it uses are those of `consul lock`, and the two interoperate.
type lockCommand struct {
	clientCommand
	limit         int
	name          string
	passStdin     bool
	shell         bool
	timeout       time.Duration
	monitorRetry  int
	childExitCode bool
	verbose       bool
}

func newLock(m *Meta) *lockCommand {
	c := &lockCommand{}
	c.init(m, "lock", `
Usage: beacon lock [options] PREFIX CHILD...

  Acquires a lock (or a semaphore slot, with -n above 1) at PREFIX in the
  KV store and runs CHILD only while it is held, with CONSUL_LOCK_HELD=true
  in its environment. If the lock is lost, or on SIGINT/SIGTERM, the child
  gets SIGTERM, then SIGKILL after 5 s; then the lock is released. Every
  holder at one prefix must use the same -n.`, false)
	c.fs.IntVar(&c.limit, "n", 1, "how many holders at once: 1 is a lock, more a semaphore")
	c.fs.StringVar(&c.name, "name", "", "name of the session that holds the lock (default: one naming the child and PREFIX)")
	c.fs.BoolVar(&c.passStdin, "pass-stdin", false, "give the child this command's stdin")
	c.fs.BoolVar(&c.shell, "shell", true, "run CHILD through sh -c (false: exec CHILD's first word with the rest as arguments)")
	c.fs.DurationVar(&c.timeout, "timeout", 0, "give up if the lock is not acquired within this `duration` (0: wait for ever)")
	c.fs.IntVar(&c.monitorRetry, "monitor-retry", 3, "how many times to retry a failed check that the lock is still held (a server error) before giving it up")
	c.fs.BoolVar(&c.childExitCode, "child-exit-code", false, "exit 2 if the child fails (default: exit 0 once the child has run)")
	c.fs.BoolVar(&c.verbose, "verbose", false, "say on stderr what the lock and the child are doing")
	return c
}

func (c *lockCommand) Synopsis() string { return "Runs a command while holding a lock" }

// locker is what lock and semaphore have in common.
type locker struct {
	acquire func(stop <-chan struct{}) (<-chan struct{}, error)
	release func() error
	destroy func() error
	inUse   error // destroy's error while others still use the prefix
}

func (c *lockCommand) Run(args []string) int {
	if ok, code := c.parse(args); !ok {
		return code
	}
	rest := c.fs.Args()
	switch {
	case len(rest) < 2:
		return c.fail("Key prefix and child command must be specified (see beacon lock -h)")
	case c.limit < 1:
		return c.fail("Lock holder limit must be positive")
	case c.monitorRetry < 0:
		return c.fail("Number for 'monitor-retry' must be >= 0")
	case c.timeout < 0:
		return c.fail("Timeout must be positive")
	}
	prefix := strings.TrimPrefix(rest[0], "/")
	child := rest[1:]
	if prefix == "" {
		return c.fail("Key prefix must not be empty")
	}
	consul, ok := c.consulClient()
	if !ok {
		return 1
	}
	name := c.name
	if name == "" {
		name = fmt.Sprintf("Beacon lock for %q at %q", strings.Join(child, " "), prefix)
	}
	l, err := c.locker(consul, prefix, name)
	if err != nil {
		return c.fail("Error setting up the lock: %v", err)
	}

	ctx, stop := c.untilInterrupted()
	defer stop()
	c.info("Attempting lock acquisition")
	lost, err := l.acquire(ctx.Done())
	if err != nil {
		return c.fail("Lock acquisition failed: %v", err)
	}
	if lost == nil {
		return c.fail("Shutdown triggered or timeout during lock acquisition")
	}
	c.info("Lock acquired")
	childErr := c.runChild(ctx, child, lost)

	code := 0
	if c.childExitCode && childErr != nil {
		code = 2
	}
	c.info("Releasing the lock")
	if err := l.release(); err != nil && !errors.Is(err, api.ErrLockNotHeld) && !errors.Is(err, api.ErrSemaphoreNotHeld) {
		c.UI.Error(oneLine("Lock release failed: " + err.Error()))
		return 1
	}
	if err := l.destroy(); err != nil && !errors.Is(err, l.inUse) {
		c.info("Cleanup failed: " + err.Error())
	}
	return code
}

// locker builds the lock, or the semaphore for -n above 1.
func (c *lockCommand) locker(consul *api.Client, prefix, name string) (*locker, error) {
	try := c.timeout > 0
	if c.limit == 1 {
		lk, err := consul.LockOpts(&api.LockOptions{
			Key: path.Join(prefix, api.DefaultSemaphoreKey), SessionName: name,
			MonitorRetries: c.monitorRetry, MonitorRetryTime: time.Second,
			LockTryOnce: try, LockWaitTime: c.timeout,
		})
		if err != nil {
			return nil, err
		}
		return &locker{acquire: lk.Lock, release: lk.Unlock, destroy: lk.Destroy, inUse: api.ErrLockInUse}, nil
	}
	sem, err := consul.SemaphoreOpts(&api.SemaphoreOptions{
		Prefix: prefix, Limit: c.limit, SessionName: name,
		MonitorRetries: c.monitorRetry, MonitorRetryTime: time.Second,
		SemaphoreTryOnce: try, SemaphoreWaitTime: c.timeout,
	})
	if err != nil {
		return nil, err
	}
	return &locker{acquire: sem.Acquire, release: sem.Release, destroy: sem.Destroy, inUse: api.ErrSemaphoreInUse}, nil
}

// runChild runs the child until it exits, the lock is lost or ctx ends
// (a signal); in the last two cases it stops the child first. It returns
// the child's error, if any.
func (c *lockCommand) runChild(ctx context.Context, child []string, lost <-chan struct{}) error {
	// Not tied to ctx: stopping it takes SIGTERM first, then SIGKILL.
	cmd := childCommand(context.Background(), child, c.shell)
	cmd.Env = append(os.Environ(), "CONSUL_LOCK_HELD=true")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if c.passStdin {
		cmd.Stdin = c.Stdin
	}
	// Its own process group, so that stopping it reaches whatever the
	// shell started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		c.UI.Error(oneLine("Error starting the child: " + err.Error()))
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			c.info("Child failed: " + err.Error())
		} else {
			c.info("Child exited")
		}
		return err
	case <-lost:
		c.UI.Error("Lock lost, stopping the child")
	case <-ctx.Done():
		c.info("Shutdown triggered, stopping the child")
	}
	return stopGroup(cmd.Process.Pid, done)
}

// stopGroup sends SIGTERM to the process group pgid, then SIGKILL if it
// has not exited within lockKillGrace, and returns its exit error.
func stopGroup(pgid int, done <-chan error) error {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(lockKillGrace)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return <-done
	}
}

func (c *lockCommand) info(msg string) {
	if c.verbose {
		c.UI.Error(msg)
	}
}

// childCommand is the child of lock or the handler of watch: args joined
// and run by sh -c when shell is set, else args[0] exec'd with the rest.
func childCommand(ctx context.Context, args []string, shell bool) *exec.Cmd {
	if shell {
		return exec.CommandContext(ctx, "/bin/sh", "-c", strings.Join(args, " "))
	}
	return exec.CommandContext(ctx, args[0], args[1:]...)
}
