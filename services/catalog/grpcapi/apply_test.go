package grpcapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

// future is a Raft future answered by whatever is sent on done; with
// nothing sent it is one of those Raft leaves unanswered when it shuts down.
type future struct{ done chan error }

func (f future) Error() error { return <-f.done }

func TestWaitFutureEndsWithItsContext(t *testing.T) {
	answered := future{done: make(chan error, 1)}
	answered.done <- errors.New("leadership lost")
	if err := waitFuture(t.Context(), answered); err == nil || err.Error() != "leadership lost" {
		t.Errorf("answered future: %v, want its error", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := waitFuture(ctx, future{done: make(chan error)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("unanswered future: %v, want the context's error", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("waited %v for an unanswered future", waited)
	}
}
