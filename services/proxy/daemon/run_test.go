package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/platform/freeport"
	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	connectv1 "github.com/beaconmesh/beacon/proto/beacon/connect/v1"
	queryv1 "github.com/beaconmesh/beacon/proto/beacon/query/v1"
	"github.com/beaconmesh/beacon/services/proxy/internal/testca"
	"google.golang.org/grpc"
)

// fakeCatalog answers the calls a running proxy makes: CA roots and
// signing, intentions (allow by default) and an upstream with no
// instances. Each blocking query answers once at index 1, then waits for
// the caller to give up, as a catalog with nothing new to say does.
type fakeCatalog struct {
	connectv1.UnimplementedCAServiceServer
	connectv1.UnimplementedIntentionServiceServer
	catalogv1.UnimplementedHealthServiceServer
	ca *testca.CA
}

func waitIfSeen(ctx context.Context, opts *queryv1.ReadOptions) error {
	if opts.GetMinIndex() < 1 {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (f *fakeCatalog) Roots(ctx context.Context, req *connectv1.RootsRequest) (*connectv1.RootsResponse, error) {
	if err := waitIfSeen(ctx, req.GetOptions()); err != nil {
		return nil, err
	}
	return &connectv1.RootsResponse{
		Meta: &queryv1.ReadMeta{Index: 1}, ActiveRootId: "root-1", TrustDomain: f.ca.TrustDomain,
		Roots: []*connectv1.CARoot{{Id: "root-1", RootCert: f.ca.RootPEM(), Active: true}},
	}, nil
}

func (f *fakeCatalog) Sign(_ context.Context, req *connectv1.SignRequest) (*connectv1.SignResponse, error) {
	cert, err := f.ca.SignCSR(req.GetCsr())
	if err != nil {
		return nil, err
	}
	return &connectv1.SignResponse{Cert: &connectv1.IssuedCert{CertPem: cert, RootId: "root-1"}}, nil
}

func (f *fakeCatalog) MatchIntentions(ctx context.Context, req *connectv1.MatchIntentionsRequest) (*connectv1.MatchIntentionsResponse, error) {
	if err := waitIfSeen(ctx, req.GetOptions()); err != nil {
		return nil, err
	}
	return &connectv1.MatchIntentionsResponse{Meta: &queryv1.ReadMeta{Index: 1}, DefaultAllow: true}, nil
}

func (f *fakeCatalog) ServiceHealth(ctx context.Context, req *catalogv1.ServiceHealthRequest) (*catalogv1.ServiceHealthResponse, error) {
	if err := waitIfSeen(ctx, req.GetOptions()); err != nil {
		return nil, err
	}
	return &catalogv1.ServiceHealthResponse{Meta: &queryv1.ReadMeta{Index: 1}}, nil
}

// startFakeCatalog serves a fakeCatalog on 127.0.0.1 until the test ends
// and returns its address.
func startFakeCatalog(t *testing.T) string {
	t.Helper()
	f := &fakeCatalog{ca: testca.New(t, "11111111-2222-3333-4444-555555555555.consul")}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	connectv1.RegisterCAServiceServer(srv, f)
	connectv1.RegisterIntentionServiceServer(srv, f)
	catalogv1.RegisterHealthServiceServer(srv, f)
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(l) })
	t.Cleanup(func() {
		srv.Stop()
		wg.Wait()
	})
	return l.Addr().String()
}

// readyProbe is a banner writer that, when the ready line is written,
// dials every address before letting Run go on. Run writes synchronously,
// so a dial that fails means the line came before its listener.
type readyProbe struct {
	addrs []string
	ready chan error // gets the dials' outcome once

	mu  sync.Mutex
	out bytes.Buffer
}

func (p *readyProbe) Write(b []byte) (int, error) {
	p.mu.Lock()
	p.out.Write(b)
	p.mu.Unlock()
	if bytes.Contains(b, []byte(ReadyLine)) {
		var errs []error
		for _, a := range p.addrs {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err != nil {
				errs = append(errs, fmt.Errorf("dial %s when the ready line was written: %w", a, err))
				continue
			}
			c.Close()
		}
		p.ready <- errors.Join(errs...)
	}
	return len(b), nil
}

func (p *readyProbe) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// testWriter sends the proxy's logs to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

func TestRunPrintsReadyOnlyOnceListening(t *testing.T) {
	catalog := startFakeCatalog(t)
	public := "127.0.0.1:" + strconv.Itoa(freeport.MustPort(t))
	upPort := freeport.MustPort(t)
	up := "127.0.0.1:" + strconv.Itoa(upPort)
	probe := &readyProbe{addrs: []string{public, up}, ready: make(chan error, 1)}

	cfg := DefaultConfig()
	cfg.CatalogAddrs = []string{catalog}
	cfg.Service = "web"
	cfg.Datacenter = "dc1"
	cfg.Listen = public
	cfg.ServiceAddr = "127.0.0.1:1"
	cfg.Upstreams = []Upstream{{Service: "db", BindAddr: up}}
	cfg.DrainTimeout = 100 * time.Millisecond
	cfg.Banner = probe
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	select {
	case err := <-probe.ready:
		if err != nil {
			t.Error(err)
		}
	case err := <-done:
		t.Fatalf("Run returned before it was ready: %v\nbanner:\n%s", err, probe)
	case <-time.After(30 * time.Second):
		t.Fatalf("no ready line within 30s; banner:\n%s", probe)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}

	want := fmt.Sprintf(`==> Beacon Connect proxy starting...
    Configuration mode: Flags
               Service: web
              Upstream: db => :%d
       Public listener: %s => 127.0.0.1:1

==> Log data will now stream in as it occurs:

==> Proxy loaded config and ready to serve
`, upPort, public)
	if got := probe.String(); got != want {
		t.Errorf("banner:\n%s\nwant:\n%s", got, want)
	}
}

func TestBannerDescribe(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		p    plan
		want string
	}{
		{"client only", Config{Service: "web"},
			plan{service: "web", upstreams: []Upstream{{Service: "socat", BindAddr: "127.0.0.1:9191"}, {Service: "db", BindAddr: "127.0.0.3:5432"}}},
			`    Configuration mode: Flags
               Service: web
              Upstream: socat => :9191
              Upstream: db => 127.0.0.3:5432
       Public listener: Disabled
`},
		{"sidecar", Config{SidecarFor: "counting-1"},
			plan{service: "counting", proxyID: "counting-1-sidecar-proxy", public: &publicPlan{bind: "0.0.0.0:21000", local: "127.0.0.1:9003"}},
			`    Configuration mode: Agent API
        Sidecar for ID: counting-1
              Proxy ID: counting-1-sidecar-proxy
               Service: counting
       Public listener: 0.0.0.0:21000 => 127.0.0.1:9003
`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			banner{&b}.describe(tt.cfg, tt.p)
			want := tt.want + "\n==> Log data will now stream in as it occurs:\n\n"
			if b.String() != want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
			}
		})
	}
	// A nil writer prints nothing and does not panic.
	banner{}.starting()
	banner{}.describe(Config{}, plan{})
	banner{}.ready()
}
