package logging

import (
	"log/slog"
	"testing"
)

// BenchmarkMonitorWatched is a record logged through a logger with
// attributes while one watcher reads at debug level.
func BenchmarkMonitorWatched(b *testing.B) {
	m := NewMonitor()
	log := slog.New(m.Handler(slog.DiscardHandler)).With("service", "catalog", "node", "n1").WithGroup("raft")
	w := m.Watch(slog.LevelDebug, false, 1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-w.C:
			case <-done:
				return
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		log.Debug("heartbeat", "peer", "n2", "term", 7)
	}
	close(done)
	m.Stop(w)
}
