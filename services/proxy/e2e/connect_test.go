package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/leaf"
	"github.com/beaconmesh/beacon/platform/rpcclient"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
)

var (
	clientAddrRE = regexp.MustCompile(`Client Addr: \[([^\]]+)\] \(HTTP: \d+, gRPC: (\d+), DNS: \d+\)`)
	agentAddrRE  = regexp.MustCompile(`Agent gRPC Addr: (\S+)`)
	// What scripts written for Consul's proxy wait for.
	readyRE  = regexp.MustCompile(`Proxy loaded config and ready to serve`)
	issuedRE = regexp.MustCompile(`msg="leaf certificate issued".* root_id=(\S+)`)
)

// TestConnectTutorial follows Consul's Connect tutorial: an echo service
// with a sidecar, reached from an ad-hoc client proxy (and from a second
// registered service's sidecar upstream); then an intention denies and
// allows again, and the CA rotates its root under a live connection.
func TestConnectTutorial(t *testing.T) {
	echoPort := echoServer(t)
	echoSidecar, webSidecar, up, webUp := freePort(t), freePort(t), freePort(t), freePort(t)
	dir := t.TempDir()
	// The sidecars' TCP checks run every second (Consul's default is 10 s)
	// so that they pass soon after the proxies listen.
	defs := fmt.Sprintf(`{"services": [
  {"name": "echo", "port": %d, "connect": {"sidecar_service": {"address": "127.0.0.1", "port": %d,
     "checks": [{"name": "listening", "tcp": "127.0.0.1:%[2]d", "interval": "1s"}]}}},
  {"name": "web", "port": %d, "connect": {"sidecar_service": {"address": "127.0.0.1", "port": %d,
     "checks": [{"name": "listening", "tcp": "127.0.0.1:%[4]d", "interval": "1s"}],
     "proxy": {"upstreams": [{"destination_name": "echo", "local_bind_port": %d}]}}}}
]}`, echoPort, echoSidecar, freePort(t), webSidecar, webUp)
	if err := os.WriteFile(filepath.Join(dir, "services.json"), []byte(defs), 0o644); err != nil {
		t.Fatal(err)
	}

	agent := start(t, "beacon agent -dev", "agent", "-dev", "-node", "proxy-e2e", "-http-port", "0", "-grpc-port", "0",
		"-dns-port", "0", "-agent-port", "0", "-config-dir", dir)
	m := agent.waitFor(t, clientAddrRE, 1, 60*time.Second)
	grpcAddr := net.JoinHostPort(m[1], m[2])
	agentAddr := agent.waitFor(t, agentAddrRE, 1, 10*time.Second)[1]

	common := []string{"connect", "proxy", "-catalog", grpcAddr, "-drain-timeout", "2s", "-log-level", "debug"}
	metricsAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	sidecar := start(t, "echo sidecar", append(common, "-sidecar-for", "echo", "-agent-addr", agentAddr, "-metrics-addr", metricsAddr)...)
	client := start(t, "web client proxy", append(common, "-service", "web", "-upstream", "echo:"+strconv.Itoa(up))...)
	webProxy := start(t, "web sidecar", append(common, "-sidecar-for", "web", "-agent-addr", agentAddr)...)
	upAddr := "127.0.0.1:" + strconv.Itoa(up)
	sidecarAddr := "127.0.0.1:" + strconv.Itoa(echoSidecar)
	// Once a proxy says it is ready its listeners accept at the first try.
	for _, x := range []struct {
		p     *proc
		addrs []string
	}{{sidecar, []string{sidecarAddr}}, {client, []string{upAddr}}, {webProxy, []string{"127.0.0.1:" + strconv.Itoa(webSidecar), "127.0.0.1:" + strconv.Itoa(webUp)}}} {
		x.p.waitFor(t, readyRE, 1, 60*time.Second)
		for _, a := range x.addrs {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err != nil {
				t.Fatalf("%s printed the ready line but %s does not accept: %v", x.p.name, a, err)
			}
			c.Close()
		}
	}

	t.Run("the banner is Consul's, on stdout", func(t *testing.T) {
		for _, x := range []struct {
			p    *proc
			want []string
		}{
			{sidecar, []string{"==> Beacon Connect proxy starting...\n", "    Configuration mode: Agent API\n",
				"        Sidecar for ID: echo\n", "              Proxy ID: echo-sidecar-proxy\n"}},
			{client, []string{"    Configuration mode: Flags\n", "               Service: web\n",
				"              Upstream: echo => :" + strconv.Itoa(up) + "\n", "       Public listener: Disabled\n"}},
		} {
			out := x.p.stdoutText()
			for _, w := range append(x.want, "\n==> Log data will now stream in as it occurs:\n\n", "==> Proxy loaded config and ready to serve\n") {
				if !strings.Contains(out, w) {
					t.Errorf("%s: stdout lacks %q:\n%s", x.p.name, w, out)
				}
			}
			if strings.Contains(out, "level=") {
				t.Errorf("%s: log lines on stdout:\n%s", x.p.name, out)
			}
		}
	})

	// The echo sidecar turns passing at its next TCP check.
	eventually(t, 20*time.Second, func() error { return echoOnce(upAddr, "hello") })
	eventually(t, 5*time.Second, func() error { return echoOnce("127.0.0.1:"+strconv.Itoa(webUp), "from web's sidecar") })

	// A connection that stays open through the rest of the test.
	live, err := net.Dial("tcp", upAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	roundTrip(t, live, "live before")

	t.Run("plain TCP on the public listener is refused", func(t *testing.T) {
		if err := echoOnce(sidecarAddr, "plain"); err == nil {
			t.Fatal("a plain TCP client got an echo through the public listener")
		}
	})

	cc, err := rpcclient.Dial(rpcclient.Config{Addrs: []string{grpcAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	intentions := connectv1.NewIntentionServiceClient(cc)
	caClient := connectv1.NewCAServiceClient(cc)

	t.Run("a deny intention applies to new connections within 1s", func(t *testing.T) {
		if _, err := intentions.UpsertIntention(ctx, &connectv1.UpsertIntentionRequest{Intention: &connectv1.Intention{
			SourceName: "web", DestinationName: "echo", Action: connectv1.IntentionAction_INTENTION_ACTION_DENY,
		}}); err != nil {
			t.Fatal(err)
		}
		took := within(t, time.Second, func() bool { return echoOnce(upAddr, "denied?") != nil })
		t.Logf("deny applied after %v", took)
		sidecar.waitFor(t, regexp.MustCompile(`msg="connection denied"`), 1, 5*time.Second)
		// Consul's proxy leaves established connections alone.
		roundTrip(t, live, "live while denied")

		if _, err := intentions.DeleteIntention(ctx, &connectv1.DeleteIntentionRequest{SourceName: "web", DestinationName: "echo"}); err != nil {
			t.Fatal(err)
		}
		took = within(t, time.Second, func() bool { return echoOnce(upAddr, "allowed again") == nil })
		t.Logf("removal applied after %v", took)

		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !regexp.MustCompile(`(?m)^beacon_proxy_authz_denials_total\{listener="public"\} [1-9]`).Match(body) {
			t.Errorf("no denial in the sidecar's metrics:\n%s", body)
		}
	})

	t.Run("root rotation keeps live connections and reissues leaves", func(t *testing.T) {
		before, err := caClient.Roots(ctx, &connectv1.RootsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		oldLeaf := signLeaf(t, ctx, caClient, before.GetTrustDomain(), "web")
		if _, err := caClient.SetConfig(ctx, &connectv1.SetConfigRequest{Config: &connectv1.CAConfig{}, RotateRoot: true}); err != nil {
			t.Fatal(err)
		}
		after, err := caClient.Roots(ctx, &connectv1.RootsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if after.GetActiveRootId() == before.GetActiveRootId() || len(after.GetRoots()) != len(before.GetRoots())+1 {
			t.Fatalf("rotation: active root %s → %s, %d → %d roots", before.GetActiveRootId(), after.GetActiveRootId(), len(before.GetRoots()), len(after.GetRoots()))
		}
		// Each proxy signs a second leaf, from the new root.
		for _, p := range []*proc{sidecar, client, webProxy} {
			if got := p.waitFor(t, issuedRE, 2, 10*time.Second)[1]; got != after.GetActiveRootId() {
				t.Errorf("%s: second leaf from root %s, want the new active root %s", p.name, got, after.GetActiveRootId())
			}
		}
		roundTrip(t, live, "live after rotation")
		if err := echoOnce(upAddr, "new connection after rotation"); err != nil {
			t.Fatal(err)
		}

		// A caller still holding a leaf of the old root is accepted, and
		// the sidecar now presents a leaf of the new root only.
		newRoot := x509.NewCertPool()
		for _, r := range after.GetRoots() {
			if r.GetId() == after.GetActiveRootId() {
				newRoot.AppendCertsFromPEM([]byte(r.GetRootCert()))
			}
		}
		conn, err := tls.Dial("tcp", sidecarAddr, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{oldLeaf}, InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ConnectionState().PeerCertificates[0].Verify(x509.VerifyOptions{Roots: newRoot, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("the sidecar's leaf after rotation does not verify under the new root: %v", err)
		}
		roundTrip(t, conn, "old-root leaf")
	})

	t.Run("large transfer with half-close", func(t *testing.T) {
		conn, err := net.Dial("tcp", upAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		payload := make([]byte, 4<<20)
		rand.Read(payload)
		errc := make(chan error, 1)
		go func() {
			_, err := conn.Write(payload)
			if err == nil {
				err = conn.(*net.TCPConn).CloseWrite()
			}
			errc <- err
		}()
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, err := io.ReadAll(conn)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("echoed %d bytes, want the %d sent", len(got), len(payload))
		}
	})

	live.Close()
	for _, p := range []*proc{client, webProxy, sidecar} {
		p.stop(t)
	}
}

// echoOnce opens a connection to addr, sends msg and expects it back.
func echoOnce(addr, msg string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(conn, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	if string(buf) != msg {
		return fmt.Errorf("echo %q, want %q", buf, msg)
	}
	return nil
}

func roundTrip(t *testing.T, conn net.Conn, msg string) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	defer conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, msg); err != nil {
		t.Fatalf("%s: write: %v", msg, err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, buf); err != nil {
		t.Fatalf("%s: read: %v", msg, err)
	}
	if string(buf) != msg {
		t.Fatalf("echo %q, want %q", buf, msg)
	}
}

// eventually retries f until it succeeds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// within retries cond until it holds and fails the test unless that
// happened within limit; it returns how long it took.
func within(t *testing.T, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("condition not met within %v", limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	if took > limit {
		t.Fatalf("condition met after %v, want within %v", took, limit)
	}
	return took
}

// signLeaf has the CA sign a leaf for service, as a proxy would.
func signLeaf(t *testing.T, ctx context.Context, ca connectv1.CAServiceClient, trustDomain, service string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := leaf.CSR(key, leaf.ServiceID{TrustDomain: trustDomain, Namespace: "default", Datacenter: "dc1", Service: service})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ca.Sign(ctx, &connectv1.SignRequest{Csr: csr})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(resp.GetCert().GetCertPem()))
	if block == nil {
		t.Fatal(errors.New("signed leaf is not PEM"))
	}
	return tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key}
}
