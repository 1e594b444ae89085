package logging

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
)

// Monitor fans a process's log records out to watchers, for Consul's
// `consul monitor` (GET /v1/agent/monitor): each watcher gets the records
// at or above its own level, formatted as text or JSON, whatever level the
// process itself logs at. A watcher that does not keep up loses lines
// rather than slowing the process down; it is told how many.
type Monitor struct {
	mu       sync.Mutex
	watchers map[*Watcher]struct{}
	min      atomic.Int64 // the lowest level a watcher wants; MaxInt64 when none
}

// Watcher is one attached watcher; its lines arrive on C.
type Watcher struct {
	C       chan []byte
	level   slog.Level
	json    bool
	dropped atomic.Int64
	out     bytes.Buffer // the line being formatted, under Monitor.mu
}

// formatter is a new handler writing w's lines, in w's format, to w.out.
func (w *Watcher) formatter() slog.Handler {
	opts := &slog.HandlerOptions{Level: w.level}
	if w.json {
		return slog.NewJSONHandler(&w.out, opts)
	}
	return slog.NewTextHandler(&w.out, opts)
}

// Dropped returns how many lines were dropped because C was full, and
// resets the count.
func (w *Watcher) Dropped() int64 { return w.dropped.Swap(0) }

// NewMonitor returns a monitor without watchers.
func NewMonitor() *Monitor {
	m := &Monitor{watchers: map[*Watcher]struct{}{}}
	m.min.Store(math.MaxInt64)
	return m
}

// Watch attaches a watcher of the records at level and above, holding up
// to buffer lines that have not been read yet.
func (m *Monitor) Watch(level slog.Level, json bool, buffer int) *Watcher {
	w := &Watcher{C: make(chan []byte, buffer), level: level, json: json}
	m.mu.Lock()
	m.watchers[w] = struct{}{}
	m.setMinLocked()
	m.mu.Unlock()
	return w
}

// Stop detaches w; no line is sent on w.C after it returns.
func (m *Monitor) Stop(w *Watcher) {
	m.mu.Lock()
	delete(m.watchers, w)
	m.setMinLocked()
	m.mu.Unlock()
}

func (m *Monitor) setMinLocked() {
	lowest := int64(math.MaxInt64)
	for w := range m.watchers {
		lowest = min(lowest, int64(w.level))
	}
	m.min.Store(lowest)
}

func (m *Monitor) wants(l slog.Level) bool { return int64(l) >= m.min.Load() }

// Logger returns a logger that logs through l and also sends each record
// to m's watchers.
func (m *Monitor) Logger(l *slog.Logger) *slog.Logger { return slog.New(m.Handler(l.Handler())) }

// Handler returns a handler that logs through base and also sends each
// record to m's watchers.
func (m *Monitor) Handler(base slog.Handler) slog.Handler {
	return &monitorHandler{base: base, m: m}
}

// monitorHandler is base plus the monitor. ops are the WithAttrs and
// WithGroup calls made on it, replayed once on each watcher's formatter,
// which the handler then keeps for the watcher's next records.
type monitorHandler struct {
	base slog.Handler
	m    *Monitor
	ops  []func(slog.Handler) slog.Handler

	formatters map[*Watcher]slog.Handler // under m.mu
}

func (h *monitorHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.base.Enabled(ctx, l) || h.m.wants(l)
}

func (h *monitorHandler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.base.Enabled(ctx, r.Level) {
		err = h.base.Handle(ctx, r)
	}
	if h.m.wants(r.Level) {
		h.publish(ctx, r)
	}
	return err
}

// publish formats r for each watcher that wants it and sends it without
// blocking.
func (h *monitorHandler) publish(ctx context.Context, r slog.Record) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	for w := range h.m.watchers {
		if r.Level < w.level {
			continue
		}
		f := h.formatters[w]
		if f == nil {
			f = w.formatter()
			for _, op := range h.ops {
				f = op(f)
			}
			if h.formatters == nil {
				h.formatters = map[*Watcher]slog.Handler{}
			}
			h.formatters[w] = f
		}
		w.out.Reset()
		if f.Handle(ctx, r) != nil {
			continue
		}
		select {
		case w.C <- bytes.Clone(w.out.Bytes()):
		default:
			w.dropped.Add(1)
		}
	}
	// Forget the formatters of watchers that left.
	if len(h.formatters) > len(h.m.watchers) {
		for w := range h.formatters {
			if _, ok := h.m.watchers[w]; !ok {
				delete(h.formatters, w)
			}
		}
	}
}

func (h *monitorHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return h.with(h.base.WithAttrs(as), func(f slog.Handler) slog.Handler { return f.WithAttrs(as) })
}

func (h *monitorHandler) WithGroup(name string) slog.Handler {
	return h.with(h.base.WithGroup(name), func(f slog.Handler) slog.Handler { return f.WithGroup(name) })
}

func (h *monitorHandler) with(base slog.Handler, op func(slog.Handler) slog.Handler) slog.Handler {
	ops := make([]func(slog.Handler) slog.Handler, len(h.ops), len(h.ops)+1)
	copy(ops, h.ops)
	return &monitorHandler{base: base, m: h.m, ops: append(ops, op)}
}
