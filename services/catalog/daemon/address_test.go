package daemon

import (
	"context"
	"testing"
)

func TestNodeAddress(t *testing.T) {
	tests := []struct {
		name       string
		advertised string
		grpcAddr   string
		want       string
	}{
		{"ip kept", "10.0.0.5", "0.0.0.0:8502", "10.0.0.5"},
		{"name resolved", "localhost", "0.0.0.0:8502", "127.0.0.1"},
		{"unspecified takes grpc host", "0.0.0.0", "127.0.0.9:8502", "127.0.0.9"},
		{"unspecified everywhere kept", "::", "[::]:8502", "::"},
		{"unresolvable falls back to grpc host", "no-such-host.invalid", "127.0.0.7:8502", "127.0.0.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := nodeAddress(context.Background(), tt.advertised, tt.grpcAddr)
			if tt.name == "name resolved" && got == "::1" {
				return // hosts files may list ::1 first
			}
			if got != tt.want {
				t.Fatalf("nodeAddress(%q, %q) = %q, want %q", tt.advertised, tt.grpcAddr, got, tt.want)
			}
		})
	}
}
