package command

import (
	"flag"
	"strings"

	"github.com/hashicorp/cli"

	healthconfig "github.com/beaconmesh/beacon/services/health/config"
)

// validateCommand checks agent configuration files the way the agent loads
// them, without an agent.
type validateCommand struct {
	ui    cli.Ui
	fs    *flag.FlagSet
	quiet bool
}

const validateUsage = `
Usage: beacon validate [options] FILE_OR_DIRECTORY...

  Checks the service and check definitions in agent configuration files as
  the agent's -config-dir and -config-file load them: every *.json and *.hcl
  file directly inside each directory, in name order. Prints every problem
  on one line, separated by "; ", and exits 1; otherwise prints
  "Configuration is valid!".
  Agent settings (datacenter, ports, …) are accepted and not checked.`

func newValidate(ui cli.Ui) *validateCommand {
	c := &validateCommand{ui: ui, fs: flag.NewFlagSet("validate", flag.ContinueOnError)}
	c.fs.BoolVar(&c.quiet, "quiet", false, "print nothing when the configuration is valid")
	return c
}

func (c *validateCommand) Help() string     { return usageWithOptions(validateUsage, c.fs) }
func (c *validateCommand) Synopsis() string { return "Validate config files/directories" }

func (c *validateCommand) Run(args []string) int {
	if ok, code := parseFlags(c.ui, "validate", c.fs, args, c.Help); !ok {
		return code
	}
	paths := c.fs.Args()
	if len(paths) == 0 {
		c.ui.Error("Must specify at least one config file or directory")
		return 1
	}
	defs, err := healthconfig.Load(paths)
	if err != nil {
		c.ui.Error("Config validation failed: " + strings.Join(problemLines(err), "; "))
		return 1
	}
	for _, w := range defs.Warnings {
		c.ui.Warn("==> " + oneLine(w))
	}
	if !c.quiet {
		c.ui.Output("Configuration is valid!")
	}
	return 0
}

// problemLines is one line per problem Load reported.
func problemLines(err error) []string {
	var lines []string
	for _, p := range healthconfig.Problems(err) {
		lines = append(lines, oneLine(p.Error()))
	}
	return lines
}
