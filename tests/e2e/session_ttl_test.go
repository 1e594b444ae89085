package e2e

import (
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// TestSessionTTLExpiry checks that a session with a 10 s TTL that nobody
// renews is gone within about 2×TTL (Consul's grace), while one renewed
// every TTL/2 stays. It takes about 20 s; it runs in parallel.
func TestSessionTTLExpiry(t *testing.T) {
	t.Parallel()
	_, c := startAgent(t)
	sess := c.Session()
	const ttl = 10 * time.Second

	created := time.Now()
	idle, _, err := sess.CreateNoChecks(&consulapi.SessionEntry{Name: "idle", TTL: ttl.String()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kept, _, err := sess.CreateNoChecks(&consulapi.SessionEntry{Name: "kept", TTL: ttl.String()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	renewErr := make(chan error, 1)
	go func() { renewErr <- sess.RenewPeriodic(ttl.String(), kept, nil, done) }()
	defer func() {
		close(done)
		<-renewErr
	}()

	// Watch the idle session with blocking queries, as a client would.
	var idx uint64
	deadline := created.Add(2*ttl + 5*time.Second)
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			t.Fatalf("session with TTL %s still there %s after it was created", ttl, time.Since(created).Round(time.Millisecond))
		}
		info, meta, err := sess.Info(idle, &consulapi.QueryOptions{WaitIndex: idx, WaitTime: wait})
		if err != nil {
			t.Fatal(err)
		}
		if info == nil {
			break
		}
		idx = meta.LastIndex
	}
	gone := time.Since(created)
	t.Logf("session with TTL %s was destroyed %s after creation", ttl, gone.Round(time.Millisecond))
	if gone < ttl {
		t.Errorf("session destroyed after %s, before its TTL of %s", gone, ttl)
	}
	if gone > 2*ttl+2*time.Second {
		t.Errorf("session destroyed after %s, later than 2×TTL (%s)", gone, 2*ttl)
	}
	if info, _, err := sess.Info(kept, nil); err != nil || info == nil {
		t.Errorf("the renewed session is gone after %s: %+v, %v", time.Since(created).Round(time.Millisecond), info, err)
	}
}

// TestDevAgentNodeStaysHealthy checks that the dev agent's own node keeps a
// passing serfHealth check for as long as it runs (here 15 s), and so that
// a session with the default checks, as api.Lock creates, stays valid.
func TestDevAgentNodeStaysHealthy(t *testing.T) {
	t.Parallel()
	a, c := startAgent(t)
	id, _, err := c.Session().Create(&consulapi.SessionEntry{Name: "default-checks", TTL: "15s"}, nil)
	if err != nil {
		t.Fatalf("session create: %v", err)
	}
	// Follow the node's checks with blocking queries until 15 s have gone.
	var idx uint64
	until := a.Started.Add(15 * time.Second)
	for time.Now().Before(until) {
		checks, meta, err := c.Health().Node(devNode, &consulapi.QueryOptions{WaitIndex: idx, WaitTime: time.Until(until)})
		if err != nil {
			t.Fatal(err)
		}
		if s := checkStatus(checks, "serfHealth"); s != consulapi.HealthPassing+" (Agent alive and reachable)" {
			t.Errorf("%s after start, the dev agent's own node has serfHealth %s", time.Since(a.Started).Round(time.Millisecond), s)
			break
		}
		idx = meta.LastIndex
	}
	if info, _, err := c.Session().Info(id, nil); err != nil || info == nil {
		t.Errorf("a session with the default serfHealth check was invalidated: %+v, %v", info, err)
	}
}

// TestSessionErrorsClientsRecognise checks the two answers lock clients
// (patroni) parse: a session TTL out of range, and an acquire with a
// session that is gone, both Consul's 500 with Consul's text, through the
// real catalog.
func TestSessionErrorsClientsRecognise(t *testing.T) {
	t.Parallel()
	_, c := startAgent(t)
	_, _, err := c.Session().CreateNoChecks(&consulapi.SessionEntry{TTL: "5s"}, nil)
	if err == nil || !strings.Contains(err.Error(), "500 (Invalid Session TTL '5000000000', must be between [10s=24h0m0s])") {
		t.Errorf("session with TTL 5s: %v", err)
	}
	const gone = "00000000-0000-0000-0000-000000000000"
	_, _, err = c.KV().Acquire(&consulapi.KVPair{Key: "leader", Session: gone}, nil)
	if err == nil || !strings.Contains(err.Error(), `500 (invalid session "`+gone+`")`) {
		t.Errorf("acquire with a session that is gone: %v", err)
	}
}
