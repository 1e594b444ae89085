// Package cmdline reads the proxy's command line, the flags of Consul's
// `consul connect proxy`, into a daemon.Config and runs it. beacon-proxy
// and `beacon connect proxy` both call Main, so the two cannot drift.
package cmdline

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/beaconmesh/beacon/platform/flags"
	"github.com/beaconmesh/beacon/platform/logging"
	"github.com/beaconmesh/beacon/services/proxy/daemon"
)

// Synopsis is the one-line description of the command.
const Synopsis = "Runs a Connect mTLS proxy"

// Help returns the usage text for the command called name.
func Help(name string) string {
	cfg := daemon.DefaultConfig()
	var o options
	fs := flagSet(name, &cfg, &o)
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	return strings.TrimSpace(fmt.Sprintf(`
Usage: %s [options]

  Runs a Connect proxy: a public listener that accepts mutual TLS from other
  services in the mesh, checks the caller against the intentions and
  forwards to the local app, and upstream listeners on 127.0.0.1 that carry
  the local app's plain TCP to a healthy instance of another service in
  mutual TLS.

  As the sidecar of a service registered on the local agent with
  "connect": {"sidecar_service": {}}:

      %[1]s -sidecar-for web

  As an ad-hoc client of another service (then: nc 127.0.0.1 9191):

      %[1]s -service web2 -upstream socat:9191

Options:
%s`, name, b.String()))
}

type options struct {
	upstreams []string
	catalog   flags.StringList
	logLevel  string
	logJSON   bool
}

func flagSet(name string, cfg *daemon.Config, o *options) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.SidecarFor, "sidecar-for", cfg.SidecarFor, "`ID` of the local service instance whose sidecar registration this proxy serves (or its name, if no ID matches); also CONNECT_SIDECAR_FOR")
	fs.StringVar(&cfg.Service, "service", "", "`name` of the service this proxy represents, when not a registered sidecar")
	fs.Func("upstream", "upstream `service:local-port` listened on 127.0.0.1; repeatable", func(s string) error {
		o.upstreams = append(o.upstreams, s)
		return nil
	})
	fs.StringVar(&cfg.Listen, "listen", "", "public listener `address:port`, with -service")
	fs.StringVar(&cfg.ServiceAddr, "service-addr", "", "the local app's `address:port` the public listener forwards to, with -service")
	fs.Var(&o.catalog, "catalog", "catalog gRPC `address`; repeatable (default 127.0.0.1:8502)")
	fs.StringVar(&cfg.AgentAddr, "agent-addr", cfg.AgentAddr, "the local node agent's gRPC `address`, for -sidecar-for")
	fs.StringVar(&cfg.Datacenter, "datacenter", "", "datacenter in the leaf's SPIFFE ID (default: the agent's, else the catalog's)")
	fs.StringVar(&cfg.Token, "token", cfg.Token, "ACL `token` (default BEACON_HTTP_TOKEN, then CONSUL_HTTP_TOKEN)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this `address:port`")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "how long live connections may go on after SIGINT or SIGTERM")
	fs.StringVar(&o.logLevel, "log-level", "info", "trace, debug, info, warn or error")
	fs.BoolVar(&o.logJSON, "log-json", false, "log in JSON")
	return fs
}

// Parse reads args into a Config; getenv supplies the environment
// defaults. It returns flag.ErrHelp for -h.
func Parse(name string, args []string, getenv func(string) string, stderr io.Writer) (daemon.Config, error) {
	cfg := daemon.DefaultConfig()
	cfg.SidecarFor = getenv("CONNECT_SIDECAR_FOR")
	cfg.Token = getenv("BEACON_HTTP_TOKEN")
	if cfg.Token == "" {
		cfg.Token = getenv("CONSUL_HTTP_TOKEN")
	}
	var o options
	fs := flagSet(name, &cfg, &o)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if len(o.catalog) > 0 {
		cfg.CatalogAddrs = o.catalog
	}
	var errs []error
	for _, s := range o.upstreams {
		u, err := daemon.ParseUpstream(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("-upstream: %w", err))
			continue
		}
		cfg.Upstreams = append(cfg.Upstreams, u)
	}
	level, err := logging.ParseLevel(o.logLevel)
	if err != nil {
		errs = append(errs, fmt.Errorf("-log-level: %w", err))
	}
	cfg.Logger = logging.New(stderr, level, o.logJSON)
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// Main parses args and runs the proxy until ctx ends; it returns the
// process' exit status. The startup banner (Consul's, ending with the
// ready line) goes to stdout, logs and errors to stderr.
func Main(ctx context.Context, name string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := Parse(name, args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, Help(name))
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	cfg.Banner = stdout
	if err := daemon.Run(ctx, cfg); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return 0 // stopped before it was running
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}
