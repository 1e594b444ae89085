package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/health/config"
)

// Errors of Scheduler.SetTTL.
var (
	ErrUnknownCheck = errors.New("unknown check")
	ErrNotTTL       = errors.New("not a TTL check")
)

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	// Notifier receives every result.
	Notifier Notifier
	// Alias answers alias checks; without it they report critical.
	Alias AliasSource
	// Stagger returns the delay before a polled check's first run (default:
	// uniformly random in [0, interval), which spreads checks registered
	// together over their interval).
	Stagger func(interval time.Duration) time.Duration
	Logger  *slog.Logger
}

// Scheduler runs a set of checks, each in its own goroutine.
type Scheduler struct {
	cfg     SchedulerConfig
	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	runners map[string]*runner
}

type runner struct {
	cancel context.CancelFunc
	done   chan struct{}
	ttl    *ttlCheck
}

// NewScheduler returns a Scheduler with no checks.
func NewScheduler(cfg SchedulerConfig) *Scheduler {
	if cfg.Stagger == nil {
		cfg.Stagger = func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return rand.N(d)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{cfg: cfg, ctx: ctx, cancel: cancel, runners: map[string]*runner{}}
}

// Add starts running c (normalized), replacing a running check with the
// same ID. It does not report an initial status: the owner of the check
// has set it.
func (s *Scheduler) Add(c config.Check) error {
	c = *c.Clone()
	var start func(ctx context.Context)
	r := &runner{done: make(chan struct{})}
	switch c.Type() {
	case config.TypeHTTP, config.TypeTCP, config.TypeGRPC, config.TypeScript:
		p, err := newProber(&c)
		if err != nil {
			return err
		}
		th := newThreshold(c.SuccessBeforePassing, c.FailuresBeforeWarning, c.FailuresBeforeCritical)
		start = func(ctx context.Context) { s.poll(ctx, &c, p, th) }
	case config.TypeTTL:
		// started below, once the old runner is gone
	case config.TypeAlias:
		src := s.cfg.Alias
		if src == nil {
			return fmt.Errorf("check %q: alias checks are not available", c.ID)
		}
		start = func(ctx context.Context) { runAlias(ctx, c.ID, c.AliasNode, c.AliasService, src, s.cfg.Notifier) }
	default:
		return fmt.Errorf("check %q: nothing to run", c.ID)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return errors.New("scheduler stopped")
	}
	s.stopLocked(c.ID)
	ctx, cancel := context.WithCancel(s.ctx)
	r.cancel = cancel
	if c.Type() == config.TypeTTL {
		r.ttl = startTTL(c.ID, c.TTL, s.cfg.Notifier)
		close(r.done)
	} else {
		go func() {
			defer close(r.done)
			start(ctx)
		}()
	}
	s.runners[c.ID] = r
	return nil
}

// Remove stops a check; its goroutine has returned, and reports nothing
// more, when Remove returns.
func (s *Scheduler) Remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked(id)
}

func (s *Scheduler) stopLocked(id string) {
	r, ok := s.runners[id]
	if !ok {
		return
	}
	delete(s.runners, id)
	r.cancel()
	if r.ttl != nil {
		r.ttl.stop()
	}
	// The runner's goroutine only calls the Notifier, never the
	// Scheduler, so waiting here under s.mu cannot deadlock.
	<-r.done
}

// SetTTL reports the status of a TTL check and restarts its timer.
func (s *Scheduler) SetTTL(id string, status catalogv1.HealthStatus, output string) error {
	s.mu.Lock()
	r, ok := s.runners[id]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("check %q: %w", id, ErrUnknownCheck)
	}
	if r.ttl == nil {
		return fmt.Errorf("check %q: %w", id, ErrNotTTL)
	}
	r.ttl.set(status, TruncateOutput(output))
	return nil
}

// Running reports whether a check with this ID is running.
func (s *Scheduler) Running(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.runners[id]
	return ok
}

// Stop stops every check and waits for them.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancel()
	for id := range s.runners {
		s.stopLocked(id)
	}
}

// poll runs a polled check every interval, the first time after a
// stagger, until ctx ends.
func (s *Scheduler) poll(ctx context.Context, c *config.Check, p prober, th *threshold) {
	timer := time.NewTimer(s.cfg.Stagger(c.Interval))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timeout := c.Timeout
		if timeout <= 0 {
			timeout = config.DefaultTimeout
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		status, out := p.probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return // removed while running: the result is stale
		}
		if st, ok := th.next(status); ok {
			s.cfg.Notifier.UpdateCheck(c.ID, st, TruncateOutput(out))
		} else {
			s.cfg.Logger.Debug("check result below threshold", "check", c.ID, "status", StatusName(status))
		}
		timer.Reset(c.Interval)
	}
}
