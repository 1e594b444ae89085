package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// TestConsulAPILock runs api.Lock, the recipe behind `consul lock` and
// Vault's HA, with three contenders that each take the lock three times and
// do a read-modify-write of a counter while holding it: a second holder
// would show up both in the holder count and as a lost update.
func TestConsulAPILock(t *testing.T) {
	t.Parallel()
	_, c := startAgent(t)
	const (
		contenders = 3
		rounds     = 3
	)
	var (
		holders atomic.Int32
		wg      sync.WaitGroup
		errs    = make(chan error, contenders*rounds)
	)
	for i := range contenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := c.LockOpts(&consulapi.LockOptions{Key: "locks/counter", SessionName: fmt.Sprintf("contender-%d", i), SessionTTL: "10s"})
			if err != nil {
				errs <- err
				return
			}
			for range rounds {
				lost, err := l.Lock(nil)
				if err != nil || lost == nil {
					errs <- fmt.Errorf("contender %d: Lock = %v, %v", i, lost, err)
					return
				}
				if n := holders.Add(1); n != 1 {
					errs <- fmt.Errorf("contender %d: %d holders of the lock at once", i, n)
				}
				if err := increment(c, "counter"); err != nil {
					errs <- fmt.Errorf("contender %d: %w", i, err)
				}
				select {
				case <-lost:
					errs <- fmt.Errorf("contender %d lost the lock while holding it", i)
				default:
				}
				holders.Add(-1)
				if err := l.Unlock(); err != nil {
					errs <- fmt.Errorf("contender %d: Unlock: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	p, _, err := c.KV().Get("counter", nil)
	if err != nil || p == nil || string(p.Value) != strconv.Itoa(contenders*rounds) {
		t.Errorf("counter = %+v, %v; want %d (an update was lost, so two held the lock)", p, err, contenders*rounds)
	}
}

// increment adds one to the integer at key, without any CAS: only the lock
// keeps it correct.
func increment(c *consulapi.Client, key string) error {
	p, _, err := c.KV().Get(key, nil)
	if err != nil {
		return err
	}
	n := 0
	if p != nil {
		if n, err = strconv.Atoi(string(p.Value)); err != nil {
			return err
		}
	}
	_, err = c.KV().Put(&consulapi.KVPair{Key: key, Value: []byte(strconv.Itoa(n + 1))}, nil)
	return err
}

// TestConsulAPILockDelay checks that when a lock holder's session is
// invalidated, the lock cannot be taken again before its lock-delay ends,
// and that the holder is told it lost the lock.
func TestConsulAPILockDelay(t *testing.T) {
	t.Parallel()
	_, c := startAgent(t)
	const (
		key   = "locks/delayed"
		delay = 3 * time.Second
	)
	holder, err := c.LockOpts(&consulapi.LockOptions{Key: key, SessionTTL: "10s", LockDelay: delay})
	if err != nil {
		t.Fatal(err)
	}
	lost, err := holder.Lock(nil)
	if err != nil || lost == nil {
		t.Fatalf("Lock = %v, %v", lost, err)
	}
	p, _, err := c.KV().Get(key, nil)
	if err != nil || p == nil || p.Session == "" || p.Flags != consulapi.LockFlagValue {
		t.Fatalf("lock key = %+v, %v; want it held with the lock flags", p, err)
	}

	waiter, err := c.LockOpts(&consulapi.LockOptions{Key: key, SessionTTL: "10s"})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		at   time.Time
		lost <-chan struct{}
		err  error
	}
	got := make(chan result, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		lost, err := waiter.Lock(stop)
		got <- result{time.Now(), lost, err}
	}()

	// Invalidate the holder's session, as an operator or a failed health
	// check would.
	invalidated := time.Now()
	if _, err := c.Session().Destroy(p.Session, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Error("the holder was not told it lost the lock within 10s")
	}
	other, _, err := c.Session().CreateNoChecks(&consulapi.SessionEntry{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ok, _, err := c.KV().Acquire(&consulapi.KVPair{Key: key, Session: other, Flags: consulapi.LockFlagValue}, nil)
	if err != nil || (ok && time.Since(invalidated) < delay) {
		t.Errorf("Acquire %s after invalidation = %v, %v; want false during the %s lock-delay", time.Since(invalidated).Round(time.Millisecond), ok, err, delay)
	}

	select {
	case r := <-got:
		if r.err != nil || r.lost == nil {
			t.Fatalf("waiter: Lock = %v, %v", r.lost, r.err)
		}
		waited := r.at.Sub(invalidated)
		t.Logf("waiter got the lock %s after the holder's session was invalidated (lock-delay %s)", waited.Round(time.Millisecond), delay)
		if waited < delay {
			t.Errorf("waiter got the lock %s after invalidation, inside the %s lock-delay", waited, delay)
		}
		_ = waiter.Unlock()
	case <-time.After(20 * time.Second):
		t.Fatal("waiter did not get the lock within 20s of the holder's invalidation")
	}
}

// TestConsulAPISemaphore runs api.Semaphore with a limit of 2 and four
// contenders: two hold it, the other two wait until they let go.
func TestConsulAPISemaphore(t *testing.T) {
	t.Parallel()
	_, c := startAgent(t)
	const (
		prefix     = "service/sem"
		limit      = 2
		contenders = 4
	)
	var (
		holders  atomic.Int32
		acquired = make(chan int, contenders)
		release  = make([]chan struct{}, contenders)
		errs     = make(chan error, 4*contenders)
		wg       sync.WaitGroup
	)
	for i := range contenders {
		release[i] = make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := c.SemaphoreOpts(&consulapi.SemaphoreOptions{Prefix: prefix, Limit: limit, SessionName: fmt.Sprintf("sem-%d", i), SessionTTL: "10s"})
			if err != nil {
				errs <- err
				return
			}
			lost, err := s.Acquire(nil)
			if err != nil || lost == nil {
				errs <- fmt.Errorf("contender %d: Acquire = %v, %v", i, lost, err)
				acquired <- -1
				return
			}
			if n := holders.Add(1); n > limit {
				errs <- fmt.Errorf("contender %d: %d holders at once, limit %d", i, n, limit)
			}
			acquired <- i
			<-release[i]
			holders.Add(-1)
			if err := s.Release(); err != nil {
				errs <- fmt.Errorf("contender %d: Release: %w", i, err)
			}
		}()
	}
	semHolders := func() int {
		p, _, err := c.KV().Get(prefix+"/.lock", nil)
		if err != nil || p == nil {
			t.Fatalf("semaphore lock key: %+v, %v", p, err)
		}
		var lock struct {
			Limit   int
			Holders map[string]bool
		}
		if err := json.Unmarshal(p.Value, &lock); err != nil {
			t.Fatalf("semaphore lock value %q: %v", p.Value, err)
		}
		if lock.Limit != limit {
			t.Errorf("semaphore limit %d, want %d", lock.Limit, limit)
		}
		return len(lock.Holders)
	}
	next := func() int {
		select {
		case i := <-acquired:
			if i < 0 {
				t.FailNow()
			}
			return i
		case <-time.After(20 * time.Second):
			t.Fatalf("no contender acquired the semaphore within 20s")
		}
		return -1
	}
	first := []int{next(), next()}
	if n := semHolders(); n != limit {
		t.Errorf("the semaphore lists %d holders, want %d", n, limit)
	}
	if n := holders.Load(); n != limit {
		t.Errorf("%d holders, want %d", n, limit)
	}
	for _, i := range first {
		close(release[i])
	}
	second := []int{next(), next()}
	for _, i := range second {
		close(release[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("semaphore holders in order: %v then %v", first, second)
}
