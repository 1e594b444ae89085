package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/beaconmesh/beacon/bench/internal/result"
)

// getBody makes one GET and reads its whole body.
func getBody(url string) (*http.Response, []byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return resp, body, nil
}

// fetch saves one response's body and headers, so a floor server can serve
// exactly the bytes Beacon served.
func fetch(url, out, headerOut string) error {
	resp, body, err := getBody(url)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if out != "" {
		if err := os.WriteFile(out, body, 0o644); err != nil {
			return err
		}
	}
	if headerOut != "" {
		var b strings.Builder
		keys := make([]string, 0, len(resp.Header))
		for k := range resp.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if k == "Date" || k == "Content-Length" {
				continue // the floor's own server writes these
			}
			for _, v := range resp.Header[k] {
				fmt.Fprintf(&b, "%s: %s\n", k, v)
			}
		}
		if err := os.WriteFile(headerOut, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// snapshot times GET /v1/snapshot and counts its bytes, saving them to
// out when it is set.
func snapshot(url, out string) (Result, error) {
	var w io.Writer = io.Discard
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return Result{}, fmt.Errorf("snapshot file: %w", err)
		}
		defer f.Close()
		w = f
	}
	start := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		return Result{}, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	took := time.Since(start)
	if err != nil {
		return Result{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Result{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return Result{Kind: result.KindSnapshot, Op: "snapshot", Bytes: n, Seconds: took.Seconds(), P50ms: ms(took)}, nil
}

// restore times PUT /v1/snapshot of a saved snapshot: until the catalog
// has installed it and answered.
func restore(url, in string) (Result, error) {
	data, err := os.ReadFile(in)
	if err != nil {
		return Result{}, fmt.Errorf("snapshot to restore: %w", err)
	}
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(data))
	if err != nil {
		return Result{}, err
	}
	hc := &http.Client{Timeout: 5 * time.Minute}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("PUT %s: %w", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return Result{}, fmt.Errorf("PUT %s: %s: %s", url, resp.Status, body)
	}
	return Result{Kind: result.KindRestore, Op: "restore", Bytes: int64(len(data)), Seconds: took.Seconds(), P50ms: ms(took)}, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
}

// freePorts prints n distinct loopback ports that were free for TCP and UDP
// at once (all held until every one is found, so none repeats).
func freePorts(n int) error {
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for len(held) < 2*n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("find a free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			ln.Close() // taken for UDP: try another
			continue
		}
		held = append(held, ln, pc)
		fmt.Println(port)
	}
	return nil
}
