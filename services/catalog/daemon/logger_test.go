package daemon

import (
	"log/slog"
	"strings"
	"testing"
)

// testLogger routes a replica's logs to t.Log, prefixed with its name.
func testLogger(t *testing.T, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t: t, prefix: name}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct {
	t      *testing.T
	prefix string
}

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(w.prefix + ": " + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
