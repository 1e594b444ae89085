package freeport

import (
	"net"
	"testing"
)

func TestAddrNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for range 300 {
		addr := MustAddr(t)
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s is not free: %v", addr, err)
		}
		ln.Close()
	}
	if p := MustPort(t); p <= 0 {
		t.Fatalf("port %d", p)
	}
}
