package command

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/beaconmesh/beacon/cmd/beacon/agent"
	"github.com/beaconmesh/beacon/platform/flags"
	"github.com/beaconmesh/beacon/platform/logging"
	"github.com/hashicorp/cli"
)

type agentCommand struct{ ui cli.Ui }

func (c *agentCommand) Synopsis() string { return "Runs a Beacon agent" }

func (c *agentCommand) Help() string {
	return strings.TrimSpace(`
Usage: beacon agent -dev [options]

  Runs every Beacon service in one process: the catalog (a single in-memory
  Raft replica, leader at once), the HTTP API, the DNS interface and the gRPC
  API, on Consul's default ports. Ctrl+C stops it.

Options:
` + c.flagSet(new(agent.Config), new(bool), new(string), new(bool)).usage())
}

type flagSet struct{ *flag.FlagSet }

func (f flagSet) usage() string {
	var b strings.Builder
	f.SetOutput(&b)
	f.PrintDefaults()
	return b.String()
}

func (c *agentCommand) flagSet(cfg *agent.Config, dev *bool, logLevel *string, logJSON *bool) flagSet {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(dev, "dev", false, "run in development mode: everything in one process, in memory")
	fs.StringVar(&cfg.Node, "node", cfg.Node, "node name (default: the host name)")
	fs.StringVar(&cfg.Datacenter, "datacenter", cfg.Datacenter, "datacenter name")
	fs.StringVar(&cfg.Client, "client", cfg.Client, "address the HTTP, DNS and gRPC ports bind")
	fs.IntVar(&cfg.HTTPPort, "http-port", cfg.HTTPPort, "HTTP API port")
	fs.IntVar(&cfg.DNSPort, "dns-port", cfg.DNSPort, "DNS port (UDP and TCP)")
	fs.IntVar(&cfg.GRPCPort, "grpc-port", cfg.GRPCPort, "gRPC API port")
	fs.IntVar(&cfg.AgentPort, "agent-port", cfg.AgentPort, "node agent gRPC port on 127.0.0.1 (0: any free port)")
	fs.BoolVar(&cfg.EnableScriptChecks, "enable-script-checks", false, "allow script checks in service definitions")
	fs.Var((*flags.StringList)(&cfg.ConfigDirs), "config-dir", "directory of service definitions (*.json, *.hcl); repeatable")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "keep the dev agent's state in this directory")
	fs.StringVar(logLevel, "log-level", "info", "trace, debug, info, warn or error")
	fs.BoolVar(logJSON, "log-json", false, "log in JSON")
	return flagSet{fs}
}

func (c *agentCommand) Run(args []string) int {
	cfg := agent.DefaultConfig()
	var dev, logJSON bool
	var logLevel string
	fs := c.flagSet(&cfg, &dev, &logLevel, &logJSON)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.ui.Output(c.Help())
			return 0
		}
		c.ui.Error("beacon agent: " + err.Error())
		return 1
	}
	if !dev {
		c.ui.Error("beacon agent: only -dev is supported by this command; run beacon-catalog, beacon-health, beacon-httpgw and beacon-dnsgw for a cluster (see deploy/)")
		return 1
	}
	level, err := logging.ParseLevel(logLevel)
	if err != nil {
		c.ui.Error("beacon agent: " + err.Error())
		return 1
	}
	cfg.Logs = logging.NewMonitor()
	cfg.Logger = cfg.Logs.Logger(logging.New(os.Stderr, level, logJSON))
	cfg.Banner = os.Stdout
	cfg.Version = Version
	if err := cfg.Validate(); err != nil {
		c.ui.Error("beacon agent: " + err.Error())
		return 1
	}
	ls, err := agent.Listen(cfg)
	if err != nil {
		c.ui.Error("beacon agent: " + err.Error())
		return 1
	}
	defer ls.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reload := make(chan struct{}, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	cfg.Reload = reload
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx, cfg, ls) }()
	select {
	case err := <-done:
		if err != nil {
			c.ui.Error("beacon agent: " + err.Error())
			return 1
		}
		return 0
	case <-ctx.Done():
	}
	c.ui.Output("==> Caught signal, shutting down...")
	select {
	case err := <-done:
		if err != nil {
			c.ui.Error("beacon agent: " + err.Error())
			return 1
		}
	case <-time.After(4500 * time.Millisecond):
		c.ui.Error("beacon agent: services did not stop within 4.5s; exiting anyway")
		return 1
	}
	c.ui.Output("==> Beacon agent stopped")
	return 0
}
