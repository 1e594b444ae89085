package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/beaconmesh/beacon/bench/internal/proc"
	"github.com/beaconmesh/beacon/bench/internal/result"
)

// The TCP path measurements talk bench/tcpfloor's protocol through whatever
// sits between the client and it (nothing, two Beacon sidecars, two HAProxy
// sidecars): a first byte 'B' and an 8-byte big-endian length asks the
// server to read that many bytes and answer one byte; 'E' asks it to echo
// until EOF.

const bulkChunk = 256 << 10

// tcpBulk sends n bytes over one connection in 256 KiB writes and reports
// MiB/s from the first byte to the server's acknowledgement, and the CPU
// time the processes pids (the path's proxies) used meanwhile. That time
// is a steadier figure than the rate where the machine is shared: it is
// what the proxies cost per byte, whoever else wants the cores.
func tcpBulk(addr string, n int64, pids []int) (Result, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return Result{}, fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	hdr := make([]byte, 9)
	hdr[0] = 'B'
	binary.BigEndian.PutUint64(hdr[1:], uint64(n))
	buf := make([]byte, bulkChunk)
	cpu0, err := proc.CPUSecondsOf(pids)
	if err != nil {
		return Result{}, fmt.Errorf("bulk: proxies' CPU: %w", err)
	}
	start := time.Now()
	if _, err := c.Write(hdr); err != nil {
		return Result{}, fmt.Errorf("bulk header: %w", err)
	}
	for left := n; left > 0; {
		w := min(left, int64(len(buf)))
		if _, err := c.Write(buf[:w]); err != nil {
			return Result{}, fmt.Errorf("bulk write after %d bytes: %w", n-left, err)
		}
		left -= w
	}
	if _, err := io.ReadFull(c, hdr[:1]); err != nil {
		return Result{}, fmt.Errorf("bulk acknowledgement: %w", err)
	}
	took := time.Since(start)
	cpu1, err := proc.CPUSecondsOf(pids)
	if err != nil {
		return Result{}, fmt.Errorf("bulk: proxies' CPU: %w", err)
	}
	return Result{Kind: result.KindTCP, Op: "bulk", Bytes: n, Total: 1, Seconds: took.Seconds(),
		Rate: float64(n) / (1 << 20) / took.Seconds(), ProcCPUSeconds: cpu1 - cpu0}, nil
}

// rttTurn is how many round trips one path makes in a row before the next
// path takes its turn: enough to measure a path in its steady state (its
// processes awake), few enough that every path is sampled across the whole
// measurement.
const rttTurn = 250

// tcpRTT times n round trips of size bytes on one warm connection per
// address, the paths taking turns of rttTurn round trips each, so that the
// machine's drift (a shared host's steal, another tenant's burst) falls on
// all of them alike and their ratios hold even when the absolute figures
// move. It returns one result per address, in order.
func tcpRTT(addrs []string, n, size int) ([]Result, error) {
	type path struct {
		c   net.Conn
		lat []time.Duration
	}
	paths := make([]*path, len(addrs))
	for i, addr := range addrs {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", addr, err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
		if _, err := c.Write([]byte{'E'}); err != nil {
			return nil, fmt.Errorf("%s: %w", addr, err)
		}
		paths[i] = &path{c: c, lat: make([]time.Duration, n)}
	}
	msg, back := make([]byte, size), make([]byte, size)
	echo := func(c net.Conn) error {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		_, err := io.ReadFull(c, back)
		return err
	}
	for i, p := range paths {
		for range 200 { // warm: handshakes, buffers, the path's own connections
			if err := echo(p.c); err != nil {
				return nil, fmt.Errorf("%s: warm-up echo: %w", addrs[i], err)
			}
		}
	}
	for from := 0; from < n; from += rttTurn {
		for i, p := range paths {
			for j := from; j < min(from+rttTurn, n); j++ {
				t0 := time.Now()
				if err := echo(p.c); err != nil {
					return nil, fmt.Errorf("%s: echo %d: %w", addrs[i], j, err)
				}
				p.lat[j] = time.Since(t0)
			}
		}
	}
	out := make([]Result, len(paths))
	for i, p := range paths {
		lat := p.lat
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		slices.Sort(lat)
		out[i] = Result{Kind: result.KindTCP, Op: "rtt", Total: n, Seconds: sum.Seconds(), Rate: float64(n) / sum.Seconds(),
			P50ms: ms(lat[n/2]), P99ms: ms(lat[n*99/100]), MaxMs: ms(lat[n-1])}
	}
	return out, nil
}

// tcpConns makes n fresh connections one after another, each dial + one
// 16-byte echo + close, and reports connections/s and the p50/p99 of one.
func tcpConns(addr string, n int) (Result, error) {
	msg := append([]byte{'E'}, make([]byte, 16)...)
	back := make([]byte, 16)
	one := func() error {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(msg); err != nil {
			return err
		}
		_, err = io.ReadFull(c, back)
		return err
	}
	if err := one(); err != nil {
		return Result{}, fmt.Errorf("first connection through %s: %w", addr, err)
	}
	lat := make([]time.Duration, 0, n)
	var errs int64
	start := time.Now()
	for range n {
		t0 := time.Now()
		if err := one(); err != nil {
			errs++
			continue
		}
		lat = append(lat, time.Since(t0))
	}
	took := time.Since(start)
	if len(lat) == 0 {
		return Result{}, fmt.Errorf("no connection through %s succeeded", addr)
	}
	slices.Sort(lat)
	return Result{Kind: result.KindTCP, Op: "conns", Total: n, Errors: errs, Seconds: took.Seconds(),
		Rate: float64(len(lat)) / took.Seconds(), P50ms: ms(lat[len(lat)/2]), P99ms: ms(lat[len(lat)*99/100])}, nil
}
