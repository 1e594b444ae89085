// Package command holds the beacon CLI's commands. Each parses its own flags
// with the standard flag package (single-dash, as Consul's: `-dev`), and
// client commands reach the agent over the HTTP API.
package command

import (
	"github.com/hashicorp/cli"
)

// Version is Beacon's version, printed by `beacon version` and the banner.
const Version = "0.1.0"

// Commands returns the command table.
func Commands(ui cli.Ui) map[string]cli.CommandFactory {
	return map[string]cli.CommandFactory{
		"agent":   func() (cli.Command, error) { return &agentCommand{ui: ui}, nil },
		"version": func() (cli.Command, error) { return &versionCommand{ui: ui}, nil },
	}
}

type versionCommand struct{ ui cli.Ui }

func (c *versionCommand) Help() string     { return "Usage: beacon version\n\n  Prints the version." }
func (c *versionCommand) Synopsis() string { return "Prints the Beacon version" }
func (c *versionCommand) Run(args []string) int {
	c.ui.Output("Beacon v" + Version)
	c.ui.Output("Protocol 2 spoken by default, understands 2 to 3 (Consul-compatible HTTP API v1)")
	return 0
}
