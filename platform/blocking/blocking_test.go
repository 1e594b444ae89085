package blocking

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestLoopIndexes checks the min_index each call gets after each answer.
func TestLoopIndexes(t *testing.T) {
	type answer struct {
		index uint64
		err   error
	}
	for _, tt := range []struct {
		name    string
		answers []answer
		want    []uint64 // min_index passed to each call
	}{
		{"moves forward", []answer{{5, nil}, {7, nil}, {9, nil}}, []uint64{0, 5, 7, 9}},
		{"wait ended without change", []answer{{5, nil}, {5, nil}}, []uint64{0, 5, 5}},
		{"index went back: start over", []answer{{5, nil}, {3, nil}, {4, nil}}, []uint64{0, 5, 0, 4}},
		{"zero is never a wait", []answer{{0, nil}, {2, nil}}, []uint64{0, 1, 2}},
		{"an error keeps the index", []answer{{5, nil}, {0, errors.New("unavailable")}, {6, nil}}, []uint64{0, 5, 5, 6}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var got []uint64
			var errs int
			err := Loop(ctx, func(_ context.Context, minIndex uint64) (uint64, error) {
				got = append(got, minIndex)
				if len(got) > len(tt.answers) {
					cancel()
					return 0, ctx.Err()
				}
				a := tt.answers[len(got)-1]
				return a.index, a.err
			}, Options{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, OnError: func(error) { errs++ }})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Loop = %v, want context.Canceled", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("min indexes = %v, want %v", got, tt.want)
			}
			wantErrs := 0
			for _, a := range tt.answers {
				if a.err != nil {
					wantErrs++
				}
			}
			if errs != wantErrs {
				t.Fatalf("OnError called %d times, want %d (the cancellation is not an error)", errs, wantErrs)
			}
		})
	}
}

// TestLoopBacksOff checks that failures in a row wait longer and longer,
// and that a stop during the wait returns at once.
func TestLoopBacksOff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls []time.Time
	done := make(chan error, 1)
	go func() {
		done <- Loop(ctx, func(context.Context, uint64) (uint64, error) {
			calls = append(calls, time.Now())
			if len(calls) == 4 {
				cancel()
			}
			return 0, errors.New("down")
		}, Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: time.Second})
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Loop did not return after cancel")
	}
	// Waits are jittered in [b/2, b]: 10-20ms, 20-40ms, 40-80ms.
	for i, min := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond} {
		if d := calls[i+1].Sub(calls[i]); d < min {
			t.Errorf("wait %d = %v, want at least %v", i, d, min)
		}
	}
}
