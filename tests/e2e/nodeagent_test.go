package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/miekg/dns"
)

var (
	agentUp = regexp.MustCompile(`joined the cluster`)
	dnsUp   = regexp.MustCompile(`dns gateway listening`)
)

// nodeAgent is one bin/beacon-health process with its own config dir.
type nodeAgent struct {
	name      string
	grpcAddr  string
	dataDir   string
	configDir string
	catalog   string
	p         *proc
}

func (a *nodeAgent) start(t *testing.T) {
	t.Helper()
	a.p, _ = startProc(t, "beacon-health "+a.name, "beacon-health", agentUp,
		"-node", a.name, "-catalog", a.catalog, "-grpc-addr", a.grpcAddr,
		"-data-dir", a.dataDir, "-config-dir", a.configDir, "-advertise", "127.0.0.1")
}

// writeDef writes a service definition file into the agent's config dir.
func (a *nodeAgent) writeDef(t *testing.T, file, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(a.configDir, file), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tcpService listens on a free loopback port; closing it fails TCP checks.
func tcpService(t *testing.T) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln, ln.Addr().(*net.TCPAddr).Port
}

// memberStatus returns each member's name and Consul status code
// (1 alive, 3 left, 4 failed).
func memberStatus(c *consulapi.Client) (map[string]int, error) {
	ms, err := c.Agent().Members(false)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, m := range ms {
		out[m.Name] = m.Status
	}
	return out, nil
}

// srvTargets asks the DNS gateway for name's SRV records and returns their
// targets' ports, sorted.
func srvPorts(addr, name string) ([]int, int, error) {
	m, err := dnsQuery(addr, "udp", name, dns.TypeSRV)
	if err != nil {
		return nil, 0, err
	}
	var ports []int
	for _, rr := range m.Answer {
		if srv, ok := rr.(*dns.SRV); ok {
			ports = append(ports, int(srv.Port))
		}
	}
	sort.Ints(ports)
	return ports, m.Rcode, nil
}

// TestNodeAgentsAcrossProcesses runs the suite as separate processes — a
// catalog replica, two node agents with config-dir services, the HTTP and
// DNS gateways — and follows a node through Consul's lifecycle: alive with
// passing checks, a failing check hiding one instance from DNS, a crash
// (kill -9) making the member failed and its serfHealth critical, a restart
// making it alive again, a reload picking up a new file, and a graceful
// stop making it left with its services gone.
func TestNodeAgentsAcrossProcesses(t *testing.T) {
	cat := &replica{name: "cat1", raftAddr: freeAddr(t), grpcAddr: freeAddr(t), dataDir: t.TempDir()}
	cat.p, _ = startProc(t, "beacon-catalog cat1", "beacon-catalog", replicaUp,
		"-node", cat.name, "-data-dir", cat.dataDir, "-bind", cat.raftAddr, "-advertise", cat.raftAddr,
		"-grpc-addr", cat.grpcAddr, "-bootstrap-expect", "1")

	agents := []*nodeAgent{
		{name: "node-a", grpcAddr: freeAddr(t), dataDir: t.TempDir(), configDir: t.TempDir(), catalog: cat.grpcAddr},
		{name: "node-b", grpcAddr: freeAddr(t), dataDir: t.TempDir(), configDir: t.TempDir(), catalog: cat.grpcAddr},
	}
	webA, portA := tcpService(t)
	_, portB := tcpService(t)
	for i, a := range agents {
		port := []int{portA, portB}[i]
		a.writeDef(t, "web.json", fmt.Sprintf(`{"service": {"name": "web", "id": "web-%s", "port": %d, "tags": ["v1"],
  "check": {"id": "web-tcp", "name": "web port", "tcp": "127.0.0.1:%d", "interval": "200ms", "timeout": "1s"}}}`, a.name, port, port))
		a.start(t)
	}

	gwAddr := freeAddr(t)
	startProc(t, "beacon-httpgw", "beacon-httpgw", gatewayUp,
		"-http-addr", gwAddr, "-catalog", cat.grpcAddr, "-agent", agents[0].grpcAddr, "-node", "node-a")
	dnsAddr := freeAddr(t)
	startProc(t, "beacon-dnsgw", "beacon-dnsgw", dnsUp, "-dns-addr", dnsAddr, "-catalog", cat.grpcAddr)
	c := clusterClient(t, gwAddr)

	// Both agents alive, both instances passing and in DNS.
	waitFor(t, 20*time.Second, "both agents alive and both web instances in DNS", func() error {
		ms, err := memberStatus(c)
		if err != nil {
			return err
		}
		if ms["node-a"] != 1 || ms["node-b"] != 1 || ms["cat1"] != 1 {
			return fmt.Errorf("members %v", ms)
		}
		ports, _, err := srvPorts(dnsAddr, "web.service.consul.")
		if err != nil {
			return err
		}
		if !slices.Equal(ports, sorted(portA, portB)) {
			return fmt.Errorf("SRV ports %v", ports)
		}
		return nil
	})
	for _, a := range agents {
		checks, _, err := c.Health().Node(a.name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := checkStatus(checks, "serfHealth"); got != "passing (Agent alive and reachable)" {
			t.Errorf("%s serfHealth = %s", a.name, got)
		}
	}
	// The agent API answers for node-a through the gateway.
	svcs, err := c.Agent().Services()
	if err != nil || len(svcs) != 1 || svcs["web-node-a"] == nil {
		t.Fatalf("agent services = %v, %v", svcs, err)
	}

	// node-a's app goes away: its TCP check fails and DNS leaves it out.
	webA.Close()
	waitFor(t, 10*time.Second, "node-a's web instance leaves DNS after its check fails", func() error {
		ports, _, err := srvPorts(dnsAddr, "web.service.consul.")
		if err != nil {
			return err
		}
		if !slices.Equal(ports, []int{portB}) {
			return fmt.Errorf("SRV ports %v", ports)
		}
		return nil
	})
	entries, _, err := c.Health().Service("web", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Node.Node == "node-a" && e.Checks.AggregatedStatus() != consulapi.HealthCritical {
			t.Errorf("node-a web status %s, want critical", e.Checks.AggregatedStatus())
		}
	}

	// node-b crashes: it becomes failed, serfHealth critical, and its
	// instance leaves DNS, so no instance is left.
	b := agents[1]
	b.p.kill(t)
	crashed := time.Now()
	waitFor(t, 20*time.Second, "node-b failed after kill -9", func() error {
		ms, err := memberStatus(c)
		if err != nil {
			return err
		}
		if ms["node-b"] != 4 {
			return fmt.Errorf("node-b status %d", ms["node-b"])
		}
		return nil
	})
	t.Logf("node-b marked failed %s after kill -9", time.Since(crashed).Round(time.Millisecond))
	checks, _, err := c.Health().Node("node-b", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := checkStatus(checks, "serfHealth"); !strings.HasPrefix(got, "critical") {
		t.Errorf("node-b serfHealth = %s, want critical", got)
	}
	waitFor(t, 5*time.Second, "no web instance in DNS", func() error {
		ports, rcode, err := srvPorts(dnsAddr, "web.service.consul.")
		if err != nil {
			return err
		}
		if len(ports) != 0 {
			return fmt.Errorf("SRV ports %v (rcode %s)", ports, dns.RcodeToString[rcode])
		}
		return nil
	})

	// node-b restarts from its data dir: alive again, back in DNS.
	b.start(t)
	waitFor(t, 20*time.Second, "node-b alive and back in DNS after restart", func() error {
		ms, err := memberStatus(c)
		if err != nil {
			return err
		}
		if ms["node-b"] != 1 {
			return fmt.Errorf("node-b status %d", ms["node-b"])
		}
		ports, _, err := srvPorts(dnsAddr, "web.service.consul.")
		if err != nil {
			return err
		}
		if !slices.Equal(ports, []int{portB}) {
			return fmt.Errorf("SRV ports %v", ports)
		}
		return nil
	})

	// Reload: a new file in node-b's config dir, then SIGHUP.
	_, portAPI := tcpService(t)
	b.writeDef(t, "api.hcl", fmt.Sprintf(`service {
  name = "api"
  port = %d
  check {
    tcp      = "127.0.0.1:%d"
    interval = "200ms"
  }
}
`, portAPI, portAPI))
	if err := b.p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "api from the reloaded HCL file in DNS", func() error {
		ports, _, err := srvPorts(dnsAddr, "api.service.consul.")
		if err != nil {
			return err
		}
		if !slices.Equal(ports, []int{portAPI}) {
			return fmt.Errorf("SRV ports %v", ports)
		}
		return nil
	})

	// A graceful stop leaves: member left, its services deregistered.
	b.p.stop(t)
	waitFor(t, 10*time.Second, "node-b left with its services gone", func() error {
		ms, err := memberStatus(c)
		if err != nil {
			return err
		}
		if ms["node-b"] != 3 {
			return fmt.Errorf("node-b status %d", ms["node-b"])
		}
		svcs, _, err := c.Catalog().NodeServiceList("node-b", nil)
		if err != nil {
			return err
		}
		if svcs != nil && len(svcs.Services) != 0 {
			return fmt.Errorf("node-b still has %d services", len(svcs.Services))
		}
		return nil
	})
}

func sorted(xs ...int) []int {
	sort.Ints(xs)
	return xs
}

// checkStatus is "<status> (<output>)" of the check with id, or "missing".
func checkStatus(cs consulapi.HealthChecks, id string) string {
	for _, ch := range cs {
		if ch.CheckID == id {
			return ch.Status + " (" + ch.Output + ")"
		}
	}
	return "missing"
}
