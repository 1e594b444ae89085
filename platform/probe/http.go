package probe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// HTTPGet sends GET http://addr+path and returns the body of a 2xx answer;
// any other status is an error.
func HTTPGet(ctx context.Context, addr, path string) ([]byte, error) {
	url := "http://" + addr + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("get %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// HTTPCheck is healthy when GET path answers 2xx.
func HTTPCheck(path string) Check {
	return func(ctx context.Context, addr string) error {
		_, err := HTTPGet(ctx, addr, path)
		return err
	}
}

// LeaderCheck is healthy when the Consul-style HTTP API at addr names a
// Raft leader (GET /v1/status/leader answers a non-empty address): the API
// can then serve reads and writes.
func LeaderCheck() Check {
	return func(ctx context.Context, addr string) error {
		body, err := HTTPGet(ctx, addr, "/v1/status/leader")
		if err != nil {
			return err
		}
		if b := bytes.TrimSpace(body); len(b) == 0 || bytes.Equal(b, []byte(`""`)) {
			return fmt.Errorf("%s knows no leader", addr)
		}
		return nil
	}
}
