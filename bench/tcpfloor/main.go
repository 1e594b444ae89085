// Command tcpfloor is the server end of Beacon's proxy benchmarks (the
// client end is bench/loadgen -op bulk|rtt|conns): a first byte 'B' and an
// 8-byte big-endian length makes it read that many bytes and answer one
// byte; 'E' makes it echo until EOF. With -certs DIR it instead writes a
// throw-away ECDSA P-256 CA and two leaf certificates (for the two HAProxy
// sidecars of the mutual-TLS path) and exits. With -relay ADDR it is
// instead a plain TCP relay to ADDR (two goroutines copying, half-close
// passed on): two of them chained are the reference path for what any Go
// process costs per hop on this machine, without TLS or a proxy's logic.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9700", "TCP address to serve on")
	certs := flag.String("certs", "", "write ca.pem, a.pem and b.pem (certificate + key) into this directory and exit")
	relay := flag.String("relay", "", "relay each connection to this address instead of serving it")
	flag.Parse()
	if *certs != "" {
		if err := writeCerts(*certs); err != nil {
			fmt.Fprintln(os.Stderr, "tcpfloor:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := handle
	if *relay != "" {
		h = func(c net.Conn) error { return relayTo(c, *relay) }
	}
	if err := serve(ctx, *addr, h); err != nil {
		fmt.Fprintln(os.Stderr, "tcpfloor:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, addr string, handle func(net.Conn) error) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		go func() {
			if err := handle(c); err != nil && !errors.Is(err, io.EOF) {
				slog.Debug("connection", "err", err)
			}
		}()
	}
}

// handle serves one connection.
func handle(c net.Conn) error {
	defer c.Close()
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:1]); err != nil {
		return err
	}
	switch hdr[0] {
	case 'B':
		if _, err := io.ReadFull(c, hdr[1:]); err != nil {
			return err
		}
		n := int64(binary.BigEndian.Uint64(hdr[1:]))
		if _, err := io.CopyBuffer(io.Discard, io.LimitReader(c, n), make([]byte, 256<<10)); err != nil {
			return fmt.Errorf("bulk read: %w", err)
		}
		_, err := c.Write([]byte{'k'})
		return err
	case 'E':
		_, err := io.CopyBuffer(c, c, make([]byte, 32<<10))
		return err
	default:
		return fmt.Errorf("unknown mode %q", hdr[0])
	}
}

// relayTo copies c to a new connection to addr and back until both
// directions end, passing each side's half-close on to the other.
func relayTo(c net.Conn, addr string) error {
	defer c.Close()
	d, err := net.Dial("tcp", addr)
	if err != nil {
		return fmt.Errorf("relay dial %s: %w", addr, err)
	}
	defer d.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(d, c)
		_ = d.(*net.TCPConn).CloseWrite()
	}()
	_, err = io.Copy(c, d)
	_ = c.(*net.TCPConn).CloseWrite()
	<-done
	return err
}
