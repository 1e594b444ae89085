package compose

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

var client = &http.Client{Timeout: 10 * time.Second}

// do sends one request to the gateway at addr and returns the response
// with its body read.
func do(ctx context.Context, method, addr, path string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// getJSON GETs path and decodes a 200 answer into v.
func getJSON(ctx context.Context, addr, path string, v any) (http.Header, error) {
	resp, body, err := do(ctx, http.MethodGet, addr, path, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.Header, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return resp.Header, fmt.Errorf("GET %s: %w: %q", path, err, body)
	}
	return resp.Header, nil
}

// kvPut writes key=value; it returns nil only for an acknowledged write
// (200 and body true).
func kvPut(ctx context.Context, addr, key, value string) error {
	resp, body, err := do(ctx, http.MethodPut, addr, "/v1/kv/"+key, []byte(value))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "true" {
		return fmt.Errorf("PUT %s: %s: %s", key, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// kvRead is one GET /v1/kv/<key>?raw answer.
type kvRead struct {
	status      int
	value       string
	knownLeader string
	lastContact int
	err         error
}

// kvGet reads key with extra query parameters ("stale", "consistent", or "").
func kvGet(ctx context.Context, addr, key, query string) kvRead {
	path := "/v1/kv/" + key + "?raw"
	if query != "" {
		path += "&" + query
	}
	resp, body, err := do(ctx, http.MethodGet, addr, path, nil)
	if err != nil {
		return kvRead{err: err}
	}
	lc, _ := strconv.Atoi(resp.Header.Get("X-Consul-LastContact"))
	return kvRead{status: resp.StatusCode, value: string(body), knownLeader: resp.Header.Get("X-Consul-KnownLeader"), lastContact: lc}
}

// writer writes unique keys through one gateway until stopped, keeping
// every acknowledged write and counting the failed ones.
type writer struct {
	prefix string
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	acked  map[string]string
	ackAt  []time.Time
	failed int
	errs   []string
}

func startWriter(addr, prefix string, pause time.Duration) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{prefix: prefix, cancel: cancel, done: make(chan struct{}), acked: map[string]string{}}
	go func() {
		defer close(w.done)
		for i := 0; ctx.Err() == nil; i++ {
			key, val := fmt.Sprintf("%s/%06d", prefix, i), fmt.Sprintf("v%d-%d", i, time.Now().UnixNano())
			rctx, rcancel := context.WithTimeout(ctx, 8*time.Second)
			err := kvPut(rctx, addr, key, val)
			rcancel()
			w.mu.Lock()
			if err == nil {
				w.acked[key] = val
				w.ackAt = append(w.ackAt, time.Now())
			} else if ctx.Err() == nil {
				w.failed++
				if len(w.errs) < 5 {
					w.errs = append(w.errs, err.Error())
				}
			}
			w.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
	}()
	return w
}

// ackedSince counts the writes acknowledged after t.
func (w *writer) ackedSince(t time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, at := range w.ackAt {
		if at.After(t) {
			n++
		}
	}
	return n
}

// stop stops the writer and returns what it saw.
func (w *writer) stop() (acked map[string]string, failed int, errs []string) {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acked, w.failed, w.errs
}

// missing reads every acknowledged key back with ?consistent through
// addr and returns those that are absent or hold another value.
func missing(ctx context.Context, addr string, acked map[string]string, query string) []string {
	var lost []string
	for key, val := range acked {
		var r kvRead
		for range 5 { // a read that fails is retried: only an answer counts
			if r = kvGet(ctx, addr, key, query); r.err == nil && r.status/100 != 5 {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if r.status != http.StatusOK || r.value != val {
			lost = append(lost, fmt.Sprintf("%s (want %q, got %d %q %v)", key, val, r.status, r.value, r.err))
		}
	}
	return lost
}

// eventually retries f every 200 ms until it returns nil or timeout passes.
func eventually(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
