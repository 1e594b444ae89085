// Package blocking runs a Consul-style blocking query in a loop: each call
// waits on the catalog until the answer's index passes the last one seen,
// so a watcher learns of a change as soon as it is committed, and backs off
// when the catalog fails.
package blocking

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Query runs one blocking read that returns once the answer's index
// exceeds minIndex (or the server's wait ends) and reports that index.
type Query func(ctx context.Context, minIndex uint64) (index uint64, err error)

// Options tune a Loop; the zero value is usable.
type Options struct {
	// Logger receives one line per failed query (default: discarded).
	Logger *slog.Logger
	// OnError is called after each failed query.
	OnError func(error)
	// MinBackoff and MaxBackoff bound the wait after failures
	// (defaults 100ms and 5s); it doubles with each failure in a row.
	MinBackoff, MaxBackoff time.Duration
}

// Loop calls q until ctx ends, passing the index of the last answer, and
// returns ctx's error. Indexes follow Consul's rules for blocking clients:
// an index that went backwards (a restored snapshot, another replica)
// restarts from 0, and 0 is never passed back as a wait.
func Loop(ctx context.Context, q Query, opts Options) error {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	minB, maxB := opts.MinBackoff, opts.MaxBackoff
	if minB <= 0 {
		minB = 100 * time.Millisecond
	}
	if maxB < minB {
		maxB = max(5*time.Second, minB)
	}
	var index uint64
	backoff := minB
	for ctx.Err() == nil {
		got, err := q(ctx, index)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if opts.OnError != nil {
				opts.OnError(err)
			}
			// Jitter keeps a fleet of proxies from retrying in step.
			wait := backoff/2 + rand.N(backoff/2+1)
			logger.Warn("catalog query failed; retrying", "error", err, "retry_in", wait)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			backoff = min(backoff*2, maxB)
			continue
		}
		backoff = minB
		switch {
		case got < index:
			index = 0
		case got == 0:
			index = 1
		default:
			index = got
		}
	}
	return ctx.Err()
}
