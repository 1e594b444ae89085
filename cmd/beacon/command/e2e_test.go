package command

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/cmd/beacon/agent"
	"github.com/beaconmesh/beacon/cmd/beacon/httpclient"
	"github.com/beaconmesh/beacon/platform/logging"
	"github.com/beaconmesh/beacon/platform/rpcclient"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	consulapi "github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/types/known/durationpb"
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
	addr, _ := startDevAgentAddrs(t)
	return addr
}

// startDevAgentAddrs is startDevAgent, returning the catalog's gRPC
// address too.
func startDevAgentAddrs(t *testing.T) (httpAddr, grpcAddr string) {
	t.Helper()
	cfg := agent.DefaultConfig()
	cfg.Node = "cli-e2e"
	cfg.HTTPPort, cfg.DNSPort, cfg.GRPCPort, cfg.AgentPort = 0, 0, 0, 0
	logs := &testLog{t: t}
	cfg.Logs = logging.NewMonitor()
	cfg.Logger = cfg.Logs.Logger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
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
	return addr, ls.GRPC.Addr().String()
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
	addr, grpcAddr := startDevAgentAddrs(t)
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

		// A definition file goes through the agent's loader, and the body
		// sent for it is one the agent takes, sidecar included.
		def := filepath.Join(t.TempDir(), "file.hcl")
		hcl := `service {
  name = "e2e-file"
  port = 8082
  check {
    ttl = "30s"
  }
  connect {
    sidecar_service {
      proxy {
        upstreams = [{ destination_name = "db", local_bind_port = 9191 }]
      }
    }
  }
}
`
		if err := os.WriteFile(def, []byte(hcl), 0o600); err != nil {
			t.Fatal(err)
		}
		expect(t, []string{"services", "register", def}, 0, "Registered service: e2e-file\n")
		waitFor(t, 10*time.Second, "registered service and its sidecar in the catalog", func() bool {
			out := beacon(t, "", "catalog", "services").stdout
			return strings.Contains(out, "e2e-file\n") && strings.Contains(out, "e2e-file-sidecar-proxy\n")
		})
		expect(t, []string{"services", "deregister", def}, 0, "Deregistered service: e2e-file\n")
		waitFor(t, 10*time.Second, "deregistered service and sidecar gone from the catalog", func() bool {
			out := beacon(t, "", "catalog", "services").stdout
			return !strings.Contains(out, "e2e-file")
		})
		if got := beacon(t, "", "reload"); got.code != 0 || got.stdout != "Configuration reload triggered\n" {
			t.Errorf("reload: %+v", got)
		}
	})

	t.Run("lock", func(t *testing.T) {
		dir := t.TempDir()
		file := func(name string) string { return filepath.Join(dir, name) }
		exists := func(name string) bool { _, err := os.Stat(file(name)); return err == nil }
		// The child sees CONSUL_LOCK_HELD.
		expect(t, []string{"lock", "locks/e2e", "echo $CONSUL_LOCK_HELD >" + file("held")}, 0, "")
		if b, _ := os.ReadFile(file("held")); string(b) != "true\n" {
			t.Errorf("child saw CONSUL_LOCK_HELD=%q", b)
		}
		// While one holder runs, a second gives up at its timeout, and a
		// semaphore at the same prefix is refused (the two would conflict).
		holder := make(chan result, 1)
		go func() {
			holder <- beacon(t, "", "lock", "locks/e2e", "touch "+file("a.started")+"; while [ ! -e "+file("a.stop")+" ]; do sleep 0.05; done")
		}()
		waitFor(t, 10*time.Second, "the first holder's child", func() bool { return exists("a.started") })
		got := beacon(t, "", "lock", "-timeout", "300ms", "locks/e2e", "touch "+file("b"))
		if got.code != 1 || got.stderr != "Shutdown triggered or timeout during lock acquisition\n" || exists("b") {
			t.Errorf("second holder while the lock is held: %+v", got)
		}
		if err := os.WriteFile(file("a.stop"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := <-holder; got.code != 0 {
			t.Errorf("first holder: %+v", got)
		}
		expect(t, []string{"lock", "-timeout", "5s", "locks/e2e", "touch " + file("b")}, 0, "")
		if !exists("b") {
			t.Error("the second holder's child did not run once the lock was free")
		}
		// -child-exit-code passes a failure on as exit 2; without it the
		// command succeeds once the child has run.
		expect(t, []string{"lock", "-child-exit-code", "locks/e2e", "exit 3"}, 2, "")
		expect(t, []string{"lock", "locks/e2e", "exit 3"}, 0, "")
		// A semaphore of two lets two holders in at once.
		go func() {
			holder <- beacon(t, "", "lock", "-n", "2", "locks/sem", "touch "+file("s1")+"; while [ ! -e "+file("s.stop")+" ]; do sleep 0.05; done")
		}()
		waitFor(t, 10*time.Second, "the first semaphore holder", func() bool { return exists("s1") })
		expect(t, []string{"lock", "-n", "2", "-timeout", "5s", "locks/sem", "touch " + file("s2")}, 0, "")
		if err := os.WriteFile(file("s.stop"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := <-holder; got.code != 0 || !exists("s2") {
			t.Errorf("semaphore holders: %+v, second ran: %v", got, exists("s2"))
		}
		// A holder whose session is destroyed loses the lock: its child is
		// stopped (SIGTERM to its process group) and the command returns.
		go func() {
			holder <- beacon(t, "", "lock", "-child-exit-code", "locks/lost",
				"trap 'touch "+file("l.term")+"; exit 1' TERM; touch "+file("l.started")+"; while true; do sleep 0.05; done")
		}()
		waitFor(t, 10*time.Second, "the holder's child", func() bool { return exists("l.started") })
		var sessions []struct{ ID, Name string }
		resp, err := http.Get("http://" + addr + "/v1/session/list")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&sessions)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, se := range sessions {
			if strings.Contains(se.Name, `"locks/lost"`) {
				req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/v1/session/destroy/"+se.ID, nil)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}
		select {
		case got := <-holder:
			if got.code != 2 || !strings.Contains(got.stderr, "Lock lost, stopping the child\n") || !exists("l.term") {
				t.Errorf("holder that lost its lock: %+v; child got SIGTERM: %v", got, exists("l.term"))
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the holder did not notice it lost the lock")
		}
		got = beacon(t, "", "lock", "-n", "0", "locks/sem", "true")
		if got.code != 1 || got.stderr != "Lock holder limit must be positive\n" {
			t.Errorf("-n 0: %+v", got)
		}
	})

	t.Run("watch", func(t *testing.T) {
		expect(t, []string{"kv", "put", "w/one", "1"}, 0, "Success! Data written to: w/one\n")
		// Without a handler: the view once, as JSON.
		got := beacon(t, "", "watch", "-type", "key", "-key", "w/one")
		if got.code != 0 || !strings.Contains(got.stdout, `"Key": "w/one"`) || !strings.Contains(got.stdout, `"Value": "MQ=="`) {
			t.Fatalf("watch -type key: %+v", got)
		}
		// With a handler: run on the first view and on every change, the
		// view on stdin, until the command is stopped.
		out := filepath.Join(t.TempDir(), "views")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan result, 1)
		go func() {
			done <- runCommandContext(t, ctx, env, "", "watch", "-type", "keyprefix", "-prefix", "w/",
				`(echo "index=$CONSUL_INDEX"; cat) >>`+out)
		}()
		seen := func(s string) bool { b, _ := os.ReadFile(out); return strings.Contains(string(b), s) }
		waitFor(t, 10*time.Second, "the handler's first run", func() bool { return seen(`"Key": "w/one"`) })
		expect(t, []string{"kv", "put", "w/two", "2"}, 0, "Success! Data written to: w/two\n")
		waitFor(t, 10*time.Second, "the handler's run after a change", func() bool { return seen(`"Key": "w/two"`) })
		if b, _ := os.ReadFile(out); !regexp.MustCompile(`index=[1-9]\d*\n`).Match(b) {
			t.Errorf("the handler did not get CONSUL_INDEX:\n%s", b)
		}
		cancel()
		select {
		case got := <-done:
			if got.code != 0 {
				t.Errorf("watch with a handler: %+v", got)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the watch did not stop")
		}
		got = beacon(t, "", "watch", "-type", "bogus")
		if got.code != 1 || got.stderr != "Error parsing the watch: Unsupported watch type: bogus\n" {
			t.Errorf("unknown type: %+v", got)
		}
		got = beacon(t, "", "watch")
		if got.code != 1 || got.stderr != "-type is required (see beacon watch -h)\n" {
			t.Errorf("no type: %+v", got)
		}
	})

	t.Run("maint", func(t *testing.T) {
		expect(t, []string{"services", "register", "-name", "e2e-maint", "-port", "8081"}, 0, "Registered service: e2e-maint\n")
		expect(t, []string{"maint"}, 0, "")
		expect(t, []string{"maint", "-enable", "-reason", "disk swap"}, 0, "Node entered maintenance mode\n")
		expect(t, []string{"maint", "-enable", "-service", "e2e-maint", "-reason", "upgrade"}, 0, "Service entered maintenance mode\n")
		expect(t, []string{"maint"}, 0, "Node:\n  Name:   cli-e2e\n  Reason: disk swap\n\nService:\n  ID:     e2e-maint\n  Reason: upgrade\n")
		// In maintenance, the instance has a critical check: ?passing
		// leaves it out once the agent has synced the check.
		passing := func() string {
			resp, err := http.Get("http://" + addr + "/v1/health/service/e2e-maint?passing")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return strings.TrimSpace(string(b))
		}
		waitFor(t, 10*time.Second, "the instance out of ?passing", func() bool { return passing() == "[]" })
		expect(t, []string{"maint", "-disable"}, 0, "Node left maintenance mode\n")
		expect(t, []string{"maint", "-disable", "-service", "e2e-maint"}, 0, "Service left maintenance mode\n")
		expect(t, []string{"maint"}, 0, "")
		waitFor(t, 10*time.Second, "the instance back in ?passing", func() bool { return strings.Contains(passing(), `"e2e-maint"`) })
		expect(t, []string{"services", "deregister", "-id", "e2e-maint"}, 0, "Deregistered service: e2e-maint\n")
	})

	t.Run("monitor", func(t *testing.T) {
		// The agent logs a reload at info: reload until the monitor, which
		// attaches at some point, has shown one.
		stopReloading := make(chan struct{})
		var reloads sync.WaitGroup
		reloads.Go(func() {
			for {
				select {
				case <-stopReloading:
					return
				case <-time.After(100 * time.Millisecond):
					beacon(t, "", "reload")
				}
			}
		})
		defer func() { close(stopReloading); reloads.Wait() }()

		// consul/api's Monitor and MonitorJSON, which consul monitor uses.
		consul, err := consulapi.NewClient(&consulapi.Config{Address: addr})
		if err != nil {
			t.Fatal(err)
		}
		for _, asJSON := range []bool{false, true} {
			stop := make(chan struct{})
			monitor := consul.Agent().Monitor
			if asJSON {
				monitor = consul.Agent().MonitorJSON
			}
			lines, err := monitor("debug", stop, nil)
			if err != nil {
				t.Fatalf("Monitor (json %v): %v", asJSON, err)
			}
			deadline := time.After(10 * time.Second)
		read:
			for {
				select {
				case line := <-lines:
					if !strings.Contains(line, "reloaded service definitions") {
						continue
					}
					if asJSON != strings.HasPrefix(line, "{") {
						t.Errorf("json %v: line %q", asJSON, line)
					}
					break read
				case <-deadline:
					t.Fatalf("json %v: no reload logged within 10s", asJSON)
				}
			}
			close(stop)
		}

		// beacon monitor shows the same until it is stopped.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		got := runCommandContext(t, ctx, env, "", "monitor", "-log-level", "debug")
		if got.code != 0 || !strings.Contains(got.stdout, "reloaded service definitions") {
			t.Errorf("beacon monitor: code %d, stdout %q, stderr %q; want the reload logged", got.code, got.stdout, got.stderr)
		}
		expect(t, []string{"monitor", "-log-level", "loud"}, 1, "")
	})

	t.Run("force-leave", func(t *testing.T) {
		// A member that joins and never heartbeats fails.
		conn, err := rpcclient.Dial(rpcclient.Config{Addrs: []string{grpcAddr}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = catalogv1.NewMembershipServiceClient(conn).JoinMember(context.Background(), &catalogv1.JoinMemberRequest{
			Member: &catalogv1.Member{Name: "ghost", Address: "127.0.0.9", Port: 8301, Tags: map[string]string{"role": "node", "dc": "dc1"}},
			Node:   &catalogv1.Node{Node: "ghost", Address: "127.0.0.9"},
			Ttl:    durationpb.New(time.Second),
		})
		if err != nil {
			t.Fatal(err)
		}
		status := func() string {
			got := beacon(t, "", "members", "-status", ".*")
			for _, line := range strings.Split(got.stdout, "\n") {
				if f := strings.Fields(line); len(f) > 2 && f[0] == "ghost" {
					return f[2]
				}
			}
			return ""
		}
		waitFor(t, 10*time.Second, "ghost failed", func() bool { return status() == "failed" })
		expect(t, []string{"force-leave", "ghost"}, 0, "")
		if got := status(); got != "left" {
			t.Errorf("after force-leave ghost is %q, want left", got)
		}
		nodes := beacon(t, "", "catalog", "nodes")
		if strings.Contains(nodes.stdout, "ghost") {
			t.Errorf("after force-leave the catalog still lists ghost: %q", nodes.stdout)
		}
		expect(t, []string{"force-leave", "-prune", "ghost"}, 0, "")
		if got := status(); got != "" {
			t.Errorf("after force-leave -prune ghost is %q, want gone", got)
		}
		got := expect(t, []string{"force-leave", "nobody"}, 1, "")
		if !strings.Contains(got.stderr, "No node found with name 'nobody'") || strings.Count(strings.TrimSpace(got.stderr), "\n") != 0 {
			t.Errorf("force-leave of an unknown node: stderr %q", got.stderr)
		}
		expect(t, []string{"force-leave"}, 1, "")
	})
}
