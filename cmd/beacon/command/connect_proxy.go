package command

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/beaconmesh/beacon/services/proxy/cmdline"
)

// connectProxyCommand is `beacon connect proxy`: the same code as the
// beacon-proxy binary, run in the CLI's process.
type connectProxyCommand struct{ m *Meta }

func newConnectProxy(m *Meta) *connectProxyCommand { return &connectProxyCommand{m: m} }

func (c *connectProxyCommand) Synopsis() string { return cmdline.Synopsis }
func (c *connectProxyCommand) Help() string     { return cmdline.Help("beacon connect proxy") }

func (c *connectProxyCommand) Run(args []string) int {
	if helpRequested(args) {
		c.m.UI.Output(c.Help())
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	getenv := c.m.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	return cmdline.Main(ctx, "beacon connect proxy", args, getenv, os.Stdout, os.Stderr)
}
