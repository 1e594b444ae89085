package cmdline

import (
	"context"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
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
