package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func drain(w *Watcher) []string {
	var out []string
	for {
		select {
		case b := <-w.C:
			out = append(out, string(b))
		default:
			return out
		}
	}
}

func TestMonitorWatchersGetTheirLevelsAndFormats(t *testing.T) {
	var base bytes.Buffer
	m := NewMonitor()
	log := slog.New(m.Handler(slog.NewTextHandler(&base, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if log.Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("debug is enabled with no watcher and a warn base")
	}

	debugText := m.Watch(slog.LevelDebug, false, 16)
	errJSON := m.Watch(slog.LevelError, true, 16)
	sub := log.With("service", "catalog").WithGroup("raft")
	sub.Debug("heartbeat", "peer", "n2")
	sub.Error("lost leadership", "term", 7)

	if got := base.String(); strings.Contains(got, "heartbeat") || !strings.Contains(got, "lost leadership") {
		t.Errorf("the process's own log at warn = %q; want the error only", got)
	}
	text := drain(debugText)
	if len(text) != 2 || !strings.Contains(text[0], "level=DEBUG msg=heartbeat service=catalog raft.peer=n2") ||
		!strings.Contains(text[1], "level=ERROR") {
		t.Errorf("the debug text watcher got %q", text)
	}
	js := drain(errJSON)
	if len(js) != 1 {
		t.Fatalf("the error JSON watcher got %q, want one line", js)
	}
	var rec struct {
		Level   string
		Msg     string
		Service string `json:"service"`
		Raft    struct {
			Term int `json:"term"`
		} `json:"raft"`
	}
	if err := json.Unmarshal([]byte(js[0]), &rec); err != nil || rec.Level != "ERROR" || rec.Msg != "lost leadership" ||
		rec.Service != "catalog" || rec.Raft.Term != 7 {
		t.Errorf("the JSON line %q decodes to %+v, %v", js[0], rec, err)
	}

	m.Stop(debugText)
	sub.Debug("after stop")
	if got := drain(debugText); len(got) != 0 {
		t.Errorf("a stopped watcher got %q", got)
	}
	if log.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("debug is still enabled after the debug watcher stopped")
	}
	m.Stop(errJSON)
}

func TestMonitorDropsWhatASlowWatcherCannotTake(t *testing.T) {
	m := NewMonitor()
	log := slog.New(m.Handler(slog.DiscardHandler))
	w := m.Watch(slog.LevelInfo, false, 2)
	for range 5 {
		log.Info("line")
	}
	if got := len(drain(w)); got != 2 {
		t.Errorf("the watcher got %d lines, want the 2 its buffer holds", got)
	}
	if got := w.Dropped(); got != 3 {
		t.Errorf("Dropped() = %d, want 3", got)
	}
	if got := w.Dropped(); got != 0 {
		t.Errorf("Dropped() after a read = %d, want 0", got)
	}
}

// TestMonitorKeepsFormattersPerWatcher: a logger keeps one formatter per
// watcher across records, gives a watcher that comes later its own format,
// and forgets the formatters of watchers that left.
func TestMonitorKeepsFormattersPerWatcher(t *testing.T) {
	m := NewMonitor()
	log := slog.New(m.Handler(slog.DiscardHandler)).With("node", "n1")
	h := log.Handler().(*monitorHandler)

	text := m.Watch(slog.LevelInfo, false, 16)
	for i := range 3 {
		log.Info("tick", "i", i)
	}
	got := drain(text)
	if len(got) != 3 {
		t.Fatalf("the text watcher got %q, want 3 lines", got)
	}
	for i, line := range got {
		if want := "msg=tick node=n1 i=" + string(rune('0'+i)) + "\n"; !strings.HasSuffix(line, want) {
			t.Errorf("line %d = %q, want it to end in %q", i, line, want)
		}
	}
	m.Stop(text)

	js := m.Watch(slog.LevelInfo, true, 16)
	log.Info("tock")
	lines := drain(js)
	var rec struct{ Msg, Node string }
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &rec) != nil || rec.Msg != "tock" || rec.Node != "n1" {
		t.Fatalf("the JSON watcher that came later got %q", lines)
	}
	m.mu.Lock()
	_, stale := h.formatters[text]
	n := len(h.formatters)
	m.mu.Unlock()
	if stale || n != 1 {
		t.Errorf("the handler holds %d formatters (the stopped watcher's among them: %v), want the one watcher's", n, stale)
	}
	m.Stop(js)
}
