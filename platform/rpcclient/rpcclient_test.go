package rpcclient

import (
	"strings"
	"testing"
)

func TestDialValidatesAddresses(t *testing.T) {
	tests := []struct {
		addrs []string
		want  string
	}{
		{nil, "no address"},
		{[]string{"no-port"}, `address "no-port"`},
		{[]string{"127.0.0.1:8502", "bad"}, `address "bad"`},
	}
	for _, tt := range tests {
		_, err := Dial(Config{Addrs: tt.addrs})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Dial(%v) = %v, want an error containing %q", tt.addrs, err, tt.want)
		}
	}
	conn, err := Dial(Config{Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}
