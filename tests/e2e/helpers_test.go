package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/freeport"
	consulapi "github.com/hashicorp/consul/api"
)

// freeAddr returns a 127.0.0.1 address for a process of the test to listen on.
func freeAddr(t *testing.T) string { return freeport.MustAddr(t) }

// waitFor polls cond until it returns nil or d passes, and then fails the
// test with cond's last error.
func waitFor(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// consulClient returns the official Go client for the HTTP API at addr.
func consulClient(t *testing.T, addr string) *consulapi.Client {
	t.Helper()
	cfg := consulapi.DefaultNonPooledConfig()
	cfg.Address = addr
	cfg.Scheme = "http"
	cfg.Token = ""
	c, err := consulapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startAgent starts a dev agent and returns it with a client for its HTTP
// API once it is ready: a leader is elected and the agent's own node is in
// the catalog with its "consul" service (sessions need the node; writes
// made before it registers would move the indexes under a test's feet).
func startAgent(t *testing.T) (*devAgent, *consulapi.Client) {
	t.Helper()
	a := startDevAgent(t)
	a.waitLeader(t)
	c := consulClient(t, a.HTTPAddr)
	waitFor(t, 10*time.Second, "the agent's node registered", func() error {
		es, _, err := c.Health().Service("consul", "", true, nil)
		if err != nil {
			return err
		}
		if len(es) != 1 || es[0].Node.Node != devNode {
			return fmt.Errorf("consul service instances: %d", len(es))
		}
		return nil
	})
	return a, c
}

// httpResult is a raw HTTP answer.
type httpResult struct {
	status int
	header http.Header
	body   string
}

// do sends one request with a 30 s timeout and fails the test if it gets
// no answer. A nil body sends none.
func do(t *testing.T, method, url string, body io.Reader) httpResult {
	t.Helper()
	r, err := send(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send is do for goroutines other than the test's.
func send(method, url string, body io.Reader) (httpResult, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return httpResult{}, err
	}
	cl := &http.Client{Timeout: 30 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		return httpResult{}, fmt.Errorf("%s %.100s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return httpResult{}, fmt.Errorf("%s %.100s: reading the body: %w", method, url, err)
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

// metricValue sums the samples of a Prometheus metric at url whose labels
// include every one of want (`name="value"` strings).
func metricValue(t *testing.T, url, metric string, want ...string) float64 {
	t.Helper()
	r := do(t, http.MethodGet, url, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, r.status, r.body)
	}
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(r.body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		ok := true
		for _, w := range want {
			if !strings.Contains(line, w) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// inFlight is how many calls of a catalog gRPC method are being served
// right now, from the dev agent's /metrics.
func inFlight(t *testing.T, a *devAgent, method string) int {
	t.Helper()
	url := "http://" + a.HTTPAddr + "/metrics"
	m := `grpc_method="` + method + `"`
	started := metricValue(t, url, "grpc_server_started_total", m)
	handled := metricValue(t, url, "grpc_server_handled_total", m)
	return int(started - handled)
}

// waitBlocked waits until n calls of method are parked in the catalog, so
// that a write made next is sure to find them waiting.
func waitBlocked(t *testing.T, a *devAgent, method string, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d blocked %s calls", n, method), func() error {
		if got := inFlight(t, a, method); got < n {
			return fmt.Errorf("%d in flight", got)
		}
		return nil
	})
}

// percentile returns the p-th percentile (0..100, nearest rank) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// fmtDurations prints durations rounded to 0.1 ms.
func fmtDurations(ds []time.Duration) string {
	var b bytes.Buffer
	for i, d := range ds {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(d.Round(100 * time.Microsecond).String())
	}
	return b.String()
}
