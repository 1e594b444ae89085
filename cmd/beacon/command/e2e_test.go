package command

import (
	"context"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/cmd/beacon/agent"
	"github.com/beaconmesh/beacon/cmd/beacon/httpclient"
)

// testLog routes the agent's logs to t.Log until the test ends.
type testLog struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// startDevAgent runs `beacon agent -dev` in-process on free ports and
// returns its HTTP address once it has a leader.
func startDevAgent(t *testing.T) string {
	t.Helper()
	cfg := agent.DefaultConfig()
	cfg.Node = "cli-e2e"
	cfg.HTTPPort, cfg.DNSPort, cfg.GRPCPort, cfg.AgentPort = 0, 0, 0, 0
	logs := &testLog{t: t}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ls, err := agent.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx, cfg, ls) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("agent did not stop within 15s")
		}
		ls.Close()
		logs.mu.Lock()
		logs.done = true
		logs.mu.Unlock()
	})

	addr := ls.HTTP.Addr().String()
	cl, err := httpclient.New(httpclient.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "a leader", func() bool {
		var leader string
		_, err := cl.Get(context.Background(), "/v1/status/leader", nil, &leader)
		return err == nil && leader != ""
	})
	return addr
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, limit)
		}
		<-tick.C
	}
}

// TestAgainstDevAgent runs the commands against a real dev agent, in the
// order a tutorial user types them. The steps share the agent's state.
func TestAgainstDevAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dev agent")
	}
	addr := startDevAgent(t)
	env := map[string]string{"CONSUL_HTTP_ADDR": "http://" + addr}
	beacon := func(t *testing.T, stdin string, args ...string) result {
		t.Helper()
		return runCommand(t, env, stdin, args...)
	}
	expect := func(t *testing.T, args []string, code int, stdout string) result {
		t.Helper()
		got := beacon(t, "", args...)
		if got.code != code || got.stdout != stdout {
			t.Fatalf("beacon %s: code %d, stdout %q, stderr %q; want code %d, stdout %q",
				strings.Join(args, " "), got.code, got.stdout, got.stderr, code, stdout)
		}
		return got
	}

	var modifyIndex string
	t.Run("kv", func(t *testing.T) {
		expect(t, []string{"kv", "put", "redis/config/minconns", "1"}, 0, "Success! Data written to: redis/config/minconns\n")
		expect(t, []string{"kv", "get", "redis/config/minconns"}, 0, "1\n")
		got := beacon(t, "", "kv", "get", "-detailed", "redis/config/minconns")
		m := regexp.MustCompile(`(?m)^ModifyIndex +(\d+)$`).FindStringSubmatch(got.stdout)
		if got.code != 0 || m == nil || !strings.Contains(got.stdout, "Key              redis/config/minconns\n") {
			t.Fatalf("kv get -detailed: %+v", got)
		}
		modifyIndex = m[1]

		miss := beacon(t, "", "kv", "put", "-cas", "-modify-index", modifyIndex+"0", "redis/config/minconns", "2")
		if miss.code != 1 || miss.stderr != "Error! Did not write to redis/config/minconns: CAS failed\n" {
			t.Fatalf("CAS with a stale index: %+v", miss)
		}
		expect(t, []string{"kv", "put", "-cas", "-modify-index", modifyIndex, "redis/config/minconns", "2"}, 0, "Success! Data written to: redis/config/minconns\n")
		expect(t, []string{"kv", "put", "-flags", "7", "redis/config/maxconns", "25"}, 0, "Success! Data written to: redis/config/maxconns\n")
		expect(t, []string{"kv", "get", "-recurse", "redis"}, 0, "redis/config/maxconns:25\nredis/config/minconns:2\n")
		expect(t, []string{"kv", "get", "-keys", "redis/"}, 0, "redis/config/\n")

		exported := expect(t, []string{"kv", "export", "redis/"}, 0, "[\n"+
			"\t{\n\t\t\"key\": \"redis/config/maxconns\",\n\t\t\"flags\": 7,\n\t\t\"value\": \"MjU=\"\n\t},\n"+
			"\t{\n\t\t\"key\": \"redis/config/minconns\",\n\t\t\"flags\": 0,\n\t\t\"value\": \"Mg==\"\n\t}\n]\n")
		imported := beacon(t, exported.stdout, "kv", "import", "-prefix", "copy/", "-")
		if imported.code != 0 || imported.stdout != "Imported: copy/redis/config/maxconns\nImported: copy/redis/config/minconns\n" {
			t.Fatalf("kv import: %+v", imported)
		}
		got = beacon(t, "", "kv", "get", "-detailed", "copy/redis/config/maxconns")
		if got.code != 0 || !strings.Contains(got.stdout, "Flags            7\n") || !strings.HasSuffix(got.stdout, "Value            25\n") {
			t.Errorf("import lost the flags: %s", got.stdout)
		}

		del := beacon(t, "", "kv", "delete", "-cas", "-modify-index", "1", "copy/redis/config/minconns")
		if del.code != 1 || del.stderr != "Error! Did not delete key copy/redis/config/minconns: CAS failed\n" {
			t.Fatalf("delete with a stale index: %+v", del)
		}
		expect(t, []string{"kv", "delete", "-recurse", "copy"}, 0, "Success! Deleted keys with prefix: copy\n")
		gone := beacon(t, "", "kv", "get", "copy/redis/config/maxconns")
		if gone.code != 1 || gone.stderr != "Error! No key exists at: copy/redis/config/maxconns\n" {
			t.Fatalf("kv get after delete: %+v", gone)
		}
	})

	t.Run("catalog", func(t *testing.T) {
		expect(t, []string{"catalog", "datacenters"}, 0, "dc1\n")
		// The node registers itself as the agent starts: wait for it.
		var nodes result
		waitFor(t, 10*time.Second, "node in the catalog", func() bool {
			nodes = beacon(t, "", "catalog", "nodes")
			return nodes.code == 0 && strings.Contains(nodes.stdout, "cli-e2e")
		})
		lines := strings.Split(strings.TrimSpace(nodes.stdout), "\n")
		if !regexp.MustCompile(`^Node +ID +Address +DC$`).MatchString(lines[0]) ||
			!regexp.MustCompile(`(?m)^cli-e2e +[0-9a-f]{8} +127\.0\.0\.1 +dc1$`).MatchString(nodes.stdout) {
			t.Errorf("catalog nodes:\n%s", nodes.stdout)
		}
		if got := beacon(t, "", "catalog", "services"); got.code != 0 {
			t.Errorf("catalog services: %+v", got)
		}
	})

	t.Run("operator and info", func(t *testing.T) {
		got := beacon(t, "", "operator", "raft", "list-peers")
		if got.code != 0 || !regexp.MustCompile(`(?m)^Node +ID +Address +State +Voter +RaftProtocol\ncli-e2e +\S+ +\S+ +leader +true +\S+$`).MatchString(got.stdout) {
			t.Errorf("list-peers: %+v", got)
		}
		got = beacon(t, "", "info")
		for _, want := range []string{"consul:\n", "\tleader = true\n", "\tserver = true\n", "\tnode_name = cli-e2e\n", "raft:\n", "\tstate = Leader\n"} {
			if got.code != 0 || !strings.Contains(got.stdout, want) {
				t.Errorf("info lacks %q: %+v", want, got)
			}
		}
	})

	t.Run("snapshot", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "backup.snap")
		got := beacon(t, "", "snapshot", "save", file)
		if got.code != 0 || !regexp.MustCompile(`^Saved and verified snapshot to index [1-9]\d*\n$`).MatchString(got.stdout) {
			t.Fatalf("snapshot save: %+v", got)
		}
		expect(t, []string{"kv", "put", "redis/config/minconns", "99"}, 0, "Success! Data written to: redis/config/minconns\n")
		expect(t, []string{"snapshot", "restore", file}, 0, "Restored snapshot\n")
		waitFor(t, 10*time.Second, "restored value", func() bool {
			return beacon(t, "", "kv", "get", "redis/config/minconns").stdout == "2\n"
		})
	})

	// The node agent's /v1/agent/* routes are being wired into the
	// gateway: until they answer, the commands must fail with one line
	// that says what failed.
	notServed := func(t *testing.T, got result, prefix string) {
		t.Helper()
		if got.code != 1 || !strings.HasPrefix(got.stderr, prefix+": Unexpected response code: ") || strings.Count(got.stderr, "\n") != 1 {
			t.Errorf("want one line starting %q: %+v", prefix, got)
		}
		t.Logf("not available yet: %s", strings.TrimSpace(got.stderr))
	}
	t.Run("agent endpoints", func(t *testing.T) {
		if got := beacon(t, "", "members"); got.code == 0 {
			if !strings.HasPrefix(got.stdout, "Node ") || !strings.Contains(got.stdout, "cli-e2e") {
				t.Errorf("members: %+v", got)
			}
		} else {
			notServed(t, got, "Error retrieving members")
		}

		got := beacon(t, "", "services", "register", "-name", "e2e-web", "-port", "8080")
		if got.code != 0 {
			notServed(t, got, `Error registering service "e2e-web"`)
			return
		}
		if got.stdout != "Registered service: e2e-web\n" {
			t.Errorf("services register: %+v", got)
		}
		waitFor(t, 10*time.Second, "registered service in the catalog", func() bool {
			return strings.Contains(beacon(t, "", "catalog", "services").stdout, "e2e-web\n")
		})
		expect(t, []string{"services", "deregister", "-id", "e2e-web"}, 0, "Deregistered service: e2e-web\n")
		if got := beacon(t, "", "reload"); got.code != 0 || got.stdout != "Configuration reload triggered\n" {
			t.Errorf("reload: %+v", got)
		}
	})
}
