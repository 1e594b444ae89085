package main

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"testing"
)

// serveTCPFloor is a minimal in-test copy of bench/tcpfloor's protocol.
func serveTCPFloor(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var hdr [9]byte
				if _, err := io.ReadFull(c, hdr[:1]); err != nil {
					return
				}
				if hdr[0] == 'B' {
					_, _ = io.ReadFull(c, hdr[1:])
					_, _ = io.Copy(io.Discard, io.LimitReader(c, int64(binary.BigEndian.Uint64(hdr[1:]))))
					_, _ = c.Write([]byte{'k'})
					return
				}
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestTCPOps(t *testing.T) {
	addr := serveTCPFloor(t)
	if r, err := tcpBulk(addr, 3<<20, nil); err != nil || r.Bytes != 3<<20 || r.Rate <= 0 || r.ProcCPUSeconds != 0 {
		t.Fatalf("bulk: %+v %v", r, err)
	}
	// The test serves the transfer itself: watching its own process, the
	// bulk sees the CPU both ends spent (well over one 10 ms tick for
	// 256 MiB through loopback).
	if r, err := tcpBulk(addr, 256<<20, []int{os.Getpid()}); err != nil || r.ProcCPUSeconds <= 0 {
		t.Fatalf("bulk watching this process: %+v %v", r, err)
	}
	if _, err := tcpBulk(addr, 1<<20, []int{1 << 30}); err == nil {
		t.Fatal("bulk watching a process that does not exist: no error")
	}
	rs, err := tcpRTT([]string{addr, serveTCPFloor(t)}, 100, 64)
	if err != nil || len(rs) != 2 {
		t.Fatalf("rtt: %+v %v", rs, err)
	}
	for _, r := range rs {
		if r.Total != 100 || r.P50ms <= 0 || r.P99ms < r.P50ms || r.Seconds <= 0 {
			t.Fatalf("rtt: %+v", r)
		}
	}
	if r, err := tcpConns(addr, 20); err != nil || r.Errors != 0 || r.Rate <= 0 {
		t.Fatalf("conns: %+v %v", r, err)
	}
}
