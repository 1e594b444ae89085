package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCrashDurability is the plan's D1 with the figures: one
// durable replica (fsync before acknowledging), 64 clients writing unique
// keys through a gateway, kill -9 at a random moment, 20 times. After every
// restart each acknowledged write must be present, and the KV index must
// not have gone back.
func TestCrashDurability(t *testing.T) {
	const (
		writers    = 64
		cycles     = 20
		reqTimeout = 2 * time.Second
	)
	seed := chaosSeed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 0xd1))
	dir := workDir(t)
	c := startCluster(t, dir, 1)
	gw := c.gws[0]
	r := c.reps[0]

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
	)
	var total, unknown atomic.Int64
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: writers}}
	defer hc.CloseIdleConnections()
	put := func(key string) (ok bool, decided bool) {
		ctx, cancel := context.WithTimeout(context.Background(), reqTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, gw.url("/v1/kv/"+key), strings.NewReader(key))
		if err != nil {
			t.Error(err)
			return false, true
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.TrimSpace(string(b)) == "true", resp.StatusCode < 500
	}

	var lastIndex uint64
	var lastAcked int
	start := time.Now()
	for cycle := range cycles {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for seq := 0; ctx.Err() == nil; seq++ {
					key := fmt.Sprintf("dur/%02d/w%02d/%d", cycle, w, seq)
					ok, decided := put(key)
					total.Add(1)
					switch {
					case ok:
						mu.Lock()
						acked[key] = true
						mu.Unlock()
					case !decided:
						unknown.Add(1)
						sleepCtx(ctx, 10*time.Millisecond)
					}
				}
			})
		}
		// Kill at a random moment of the load, then let the writers see the
		// crash for a little while.
		sleepCtx(context.Background(), time.Duration(800+rng.IntN(1200))*time.Millisecond)
		r.proc.kill()
		sleepCtx(context.Background(), 200*time.Millisecond)
		cancel()
		wg.Wait()
		restarted := time.Now()
		if err := r.proc.start(); err != nil {
			t.Fatal(err)
		}
		if err := c.waitHealthy(30 * time.Second); err != nil {
			c.fatal("cycle %d: replica did not come back: %v", cycle, err)
		}
		recovery := time.Since(restarted)
		keys, index, err := listKeys(c, gw, "dur/")
		if err != nil {
			c.fatal("cycle %d: listing keys: %v", cycle, err)
		}
		present := map[string]bool{}
		for _, k := range keys {
			present[k] = true
		}
		mu.Lock()
		var lost []string
		for k := range acked {
			if !present[k] {
				lost = append(lost, k)
			}
		}
		n := len(acked)
		mu.Unlock()
		if len(lost) > 0 {
			c.fatal("cycle %d: %d of %d acknowledged writes lost after kill -9, e.g. %v", cycle, len(lost), n, lost[:min(5, len(lost))])
		}
		if index < lastIndex {
			t.Errorf("cycle %d: KV index went back from %d to %d across a restart", cycle, lastIndex, index)
		}
		t.Logf("cycle %2d: %d writes acknowledged this cycle, all %d present after restart (index %d, serving again %s after restart)",
			cycle, n-lastAcked, n, index, recovery.Round(time.Millisecond))
		lastIndex, lastAcked = index, n
	}
	t.Logf("crash durability: %d kill -9 cycles in %s, %d acknowledged writes all present, %d requests, %d indeterminate",
		cycles, time.Since(start).Round(time.Millisecond), lastAcked, total.Load(), unknown.Load())
	if lastAcked < cycles*100 {
		t.Errorf("only %d writes acknowledged over %d cycles: the load was too light to mean anything", lastAcked, cycles)
	}
}

// listKeys is a consistent GET /v1/kv/<prefix>?keys, retried for a while
// (the replica may still be electing itself), with X-Consul-Index.
func listKeys(c *cluster, gw *gateway, prefix string) ([]string, uint64, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		keys, index, err := listKeysOnce(gw, prefix)
		if err == nil || time.Now().After(deadline) {
			return keys, index, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func listKeysOnce(gw *gateway, prefix string) ([]string, uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw.url("/v1/kv/"+prefix+"?keys&consistent"), nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	index, _ := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	switch resp.StatusCode {
	case http.StatusNotFound:
		return nil, index, nil
	case http.StatusOK:
	default:
		return nil, 0, fmt.Errorf("GET %s keys: %d %s", prefix, resp.StatusCode, b)
	}
	var keys []string
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, 0, fmt.Errorf("GET %s keys: %q: %w", prefix, b, err)
	}
	return keys, index, nil
}
