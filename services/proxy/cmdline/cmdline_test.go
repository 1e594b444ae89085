package cmdline

import (
	"context"
	"flag"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tt := range []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, sidecarFor, service string, catalog []string, upstreams []string, token string)
		err   string
	}{
		{"tutorial client", []string{"-service", "web", "-upstream", "socat:9191"}, nil,
			func(t *testing.T, sf, svc string, cat, ups []string, tok string) {
				if svc != "web" || !slices.Equal(cat, []string{"127.0.0.1:8502"}) || !slices.Equal(ups, []string{"socat@127.0.0.1:9191"}) {
					t.Errorf("got service %q catalog %v upstreams %v", svc, cat, ups)
				}
			}, ""},
		{"sidecar from the environment, catalogs repeated", []string{"-catalog", "10.0.0.1:8502", "-catalog", "10.0.0.2:8502"},
			map[string]string{"CONNECT_SIDECAR_FOR": "socat", "CONSUL_HTTP_TOKEN": "c", "BEACON_HTTP_TOKEN": "b"},
			func(t *testing.T, sf, svc string, cat, ups []string, tok string) {
				if sf != "socat" || !slices.Equal(cat, []string{"10.0.0.1:8502", "10.0.0.2:8502"}) || tok != "b" {
					t.Errorf("got sidecar-for %q catalog %v token %q", sf, cat, tok)
				}
			}, ""},
		{"bad upstream", []string{"-service", "web", "-upstream", "socat"}, nil, nil, "-upstream"},
		{"bad log level", []string{"-service", "web", "-log-level", "loud"}, nil, nil, "-log-level"},
		{"nothing to run", nil, nil, nil, "one of -sidecar-for or -service"},
		{"stray argument", []string{"-service", "web", "extra"}, nil, nil, `unexpected argument "extra"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("beacon connect proxy", tt.args, env(tt.env), io.Discard)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse = %v, want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ups []string
			for _, u := range cfg.Upstreams {
				ups = append(ups, u.Service+"@"+u.BindAddr)
			}
			tt.check(t, cfg.SidecarFor, cfg.Service, cfg.CatalogAddrs, ups, cfg.Token)
		})
	}
	if _, err := Parse("beacon-proxy", []string{"-h"}, env(nil), io.Discard); err != flag.ErrHelp {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestMainExitCodes(t *testing.T) {
	var out, errOut strings.Builder
	if code := Main(context.Background(), "beacon-proxy", []string{"-h"}, func(string) string { return "" }, &out, &errOut); code != 0 || !strings.Contains(out.String(), "-sidecar-for") {
		t.Errorf("-h: exit %d, help %q", code, out.String())
	}
	errOut.Reset()
	if code := Main(context.Background(), "beacon-proxy", []string{"-service"}, func(string) string { return "" }, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "beacon-proxy:") {
		t.Errorf("bad flags: exit %d, stderr %q", code, errOut.String())
	}
}

// syncBuffer is a strings.Builder safe for one writer and one reader,
// signalling each write.
type syncBuffer struct {
	mu    sync.Mutex
	b     strings.Builder
	wrote chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{wrote: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.b.Write(p)
	s.mu.Unlock()
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBannerOnStdout runs the proxy up to the point where it waits for its
// certificate (no catalog answers) and checks which stream got what.
func TestBannerOnStdout(t *testing.T) {
	for _, tt := range []struct {
		level  string
		logged bool // whether the info line "waiting for the leaf certificate" reaches stderr
	}{
		{"info", true},
		{"warn", false},
	} {
		t.Run(tt.level, func(t *testing.T) {
			stdout, stderr := newSyncBuffer(), newSyncBuffer()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			args := []string{"-service", "web", "-upstream", "db:9191", "-catalog", "127.0.0.1:1", "-datacenter", "dc1", "-log-level", tt.level}
			done := make(chan int, 1)
			go func() { done <- Main(ctx, "beacon-proxy", args, func(string) string { return "" }, stdout, stderr) }()
			deadline := time.After(10 * time.Second)
			for !strings.Contains(stdout.String(), "Log data will now stream in") {
				select {
				case <-stdout.wrote:
				case code := <-done:
					t.Fatalf("exited %d early; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
				case <-deadline:
					t.Fatalf("no banner within 10s; stdout:\n%s\nstderr:\n%s", stdout, stderr)
				}
			}
			if tt.logged {
				// The log line comes right after the banner, from the same
				// goroutine; wait for it rather than assume.
				for !strings.Contains(stderr.String(), "waiting for the leaf certificate") {
					select {
					case <-stderr.wrote:
					case <-deadline:
						t.Fatalf("no info log on stderr at -log-level %s; stderr:\n%s", tt.level, stderr)
					}
				}
			}
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("exit %d after cancel; stderr:\n%s", code, stderr)
			}
			want := `==> Beacon Connect proxy starting...
    Configuration mode: Flags
               Service: web
              Upstream: db => :9191
       Public listener: Disabled

==> Log data will now stream in as it occurs:

`
			if got := stdout.String(); got != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
			}
			logs := stderr.String()
			if strings.Contains(logs, "==>") {
				t.Errorf("banner lines on stderr:\n%s", logs)
			}
			if got := strings.Contains(logs, "waiting for the leaf certificate"); got != tt.logged {
				t.Errorf("info line on stderr at -log-level %s: %v, want %v:\n%s", tt.level, got, tt.logged, logs)
			}
		})
	}
}
