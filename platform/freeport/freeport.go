// Package freeport hands out loopback addresses for the processes a test
// starts to listen on. A port is found free by listening on port 0 and
// closing; the kernel may give the same port out again soon after, so a
// port is never handed out twice in one test binary (two processes of one
// test were once told to listen on the same port).
package freeport

import (
	"fmt"
	"net"
	"strconv"
	"sync"
)

var (
	mu   sync.Mutex
	used = map[int]bool{}
)

// Addr returns a 127.0.0.1 address whose port was free a moment ago and
// that this test binary has not handed out before.
func Addr() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("freeport: %w", err)
		}
		addr := ln.Addr().(*net.TCPAddr)
		ln.Close()
		if !used[addr.Port] {
			used[addr.Port] = true
			return addr.String(), nil
		}
	}
	return "", fmt.Errorf("freeport: no new free port after 1000 tries")
}

// TB is the part of testing.TB that MustAddr needs.
type TB interface {
	Helper()
	Fatal(args ...any)
}

// MustAddr is Addr that fails the test when no port can be found.
func MustAddr(t TB) string {
	t.Helper()
	addr, err := Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// MustPort is MustAddr's port.
func MustPort(t TB) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(MustAddr(t))
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
