package logging

import (
	"log/slog"
	"testing"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{"trace", slog.LevelDebug, false}, {"DEBUG", slog.LevelDebug, false}, {"", slog.LevelInfo, false},
		{"info", slog.LevelInfo, false}, {"warn", slog.LevelWarn, false}, {"error", slog.LevelError, false},
		{"loud", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseLevel(%q) = %v, %v", tt.in, got, err)
		}
	}
}
