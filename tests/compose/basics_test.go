package compose

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestTutorial walks the deployment README's steps against the cluster.
func TestTutorial(t *testing.T) {
	c := needCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("members", func(t *testing.T) {
		beacon := filepath.Join(repoDir, "bin", "static", "beacon")
		want := []string{"catalog-1", "catalog-2", "catalog-3", "node-1", "node-2"}
		err := eventually(30*time.Second, func() error {
			out, err := command(time.Minute, append(os.Environ(), "CONSUL_HTTP_ADDR=http://"+c.http), beacon, "members")
			if err != nil {
				return err
			}
			for _, name := range want {
				if !memberAlive(out, name) {
					return fmt.Errorf("%s is not an alive member in:\n%s", name, out)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("catalog", func(t *testing.T) {
		var services map[string][]string
		if _, err := getJSON(ctx, c.http, "/v1/catalog/services", &services); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"consul", "echo", "echo-sidecar-proxy", "web", "web-sidecar-proxy"} {
			if _, ok := services[name]; !ok {
				t.Errorf("service %s missing from /v1/catalog/services: %v", name, services)
			}
		}
		var peers []string
		if _, err := getJSON(ctx, c.http, "/v1/status/peers", &peers); err != nil {
			t.Fatal(err)
		}
		if len(peers) != 3 {
			t.Errorf("raft peers %v, want 3", peers)
		}
	})

	t.Run("health", func(t *testing.T) {
		for _, svc := range []string{"echo", "web"} {
			var entries []struct {
				Node    struct{ Node string }
				Service struct{ Service string }
				Checks  []struct{ CheckID, Status string }
			}
			err := eventually(30*time.Second, func() error {
				if _, err := getJSON(ctx, c.http, "/v1/health/service/"+svc+"?passing", &entries); err != nil {
					return err
				}
				if len(entries) != 1 {
					return fmt.Errorf("%d passing instances of %s, want 1", len(entries), svc)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries[0].Checks) < 2 {
				t.Errorf("%s has checks %+v, want the node's and its own", svc, entries[0].Checks)
			}
		}
	})

	t.Run("kv", func(t *testing.T) {
		if err := kvPut(ctx, c.http, "tutorial/redis/minconns", "1"); err != nil {
			t.Fatal(err)
		}
		if r := kvGet(ctx, c.http, "tutorial/redis/minconns", ""); r.status != http.StatusOK || r.value != "1" {
			t.Fatalf("read back: %+v", r)
		}
	})

	t.Run("dns", func(t *testing.T) {
		for proto, addr := range map[string]string{"udp": c.dns, "tcp": c.dnsTCP} {
			m := new(dns.Msg).SetQuestion("web.service.consul.", dns.TypeSRV)
			in, _, err := (&dns.Client{Net: proto, Timeout: 3 * time.Second}).ExchangeContext(ctx, m, addr)
			if err != nil {
				t.Fatalf("%s: %v", proto, err)
			}
			if in.Rcode != dns.RcodeSuccess || len(in.Answer) != 1 {
				t.Fatalf("%s: web.service.consul SRV: rcode %s, answers %v", proto, dns.RcodeToString[in.Rcode], in.Answer)
			}
			srv, ok := in.Answer[0].(*dns.SRV)
			if !ok || srv.Port != 8080 {
				t.Fatalf("%s: answer %v, want SRV port 8080", proto, in.Answer[0])
			}
		}
		m := new(dns.Msg).SetQuestion("echo.service.consul.", dns.TypeA)
		in, _, err := new(dns.Client).ExchangeContext(ctx, m, c.dns)
		if err != nil || len(in.Answer) != 1 {
			t.Fatalf("echo.service.consul A: %v %v", in, err)
		}
		if a, ok := in.Answer[0].(*dns.A); !ok || a.A.IsLoopback() || a.A.IsUnspecified() {
			t.Fatalf("echo.service.consul A: %v, want node-1's container address", in.Answer[0])
		}
	})

	t.Run("grpc", func(t *testing.T) {
		conn, err := grpc.NewClient(c.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("grpc health on %s: %v %v", c.grpc, resp, err)
		}
	})

	t.Run("echo through sidecars", func(t *testing.T) {
		// web → its sidecar's upstream listener → mTLS → echo's sidecar → echo.
		err := eventually(30*time.Second, func() error {
			resp, body, err := do(ctx, http.MethodGet, c.web, "/", nil)
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "hello from web") {
				return fmt.Errorf("GET web /: %s %q", resp.Status, body)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The upstream listener itself, as `nc 127.0.0.1 9191` would use it.
		conn, err := net.DialTimeout("tcp", c.upstream, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintln(conn, "ping through the mesh"); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || line != "ping through the mesh\n" {
			t.Fatalf("echo through %s: %q %v", c.upstream, line, err)
		}
	})
}

// memberAlive reports whether `beacon members` output lists name as alive.
func memberAlive(out, name string) bool {
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == name && slices.Contains(f, "alive") {
			return true
		}
	}
	return false
}
