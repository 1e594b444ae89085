package proc

import (
	"os"
	"testing"
	"time"
)

func TestSelf(t *testing.T) {
	pid := os.Getpid()
	rss, err := RSSKiB(pid)
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 {
		t.Fatalf("RSSKiB(self) = %d, want > 0", rss)
	}
	before, err := CPUSeconds(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Burn 300 ms of CPU: the count (in 10 ms ticks) must grow.
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
	}
	after, err := CPUSecondsOf([]int{pid})
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Fatalf("CPU seconds went from %v to %v after 300 ms of work", before, after)
	}
}

func TestNoSuchProcess(t *testing.T) {
	// Pid numbers never reach 1<<30 on Linux (pid_max is at most 1<<22).
	if _, err := CPUSeconds(1 << 30); err == nil {
		t.Error("CPUSeconds of a process that does not exist: no error")
	}
	if _, err := RSSKiB(1 << 30); err == nil {
		t.Error("RSSKiB of a process that does not exist: no error")
	}
}
