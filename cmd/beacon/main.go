// Command beacon is Beacon's command line: `beacon agent -dev` runs every
// service in one process; the other commands are clients of the HTTP API.
package main

import (
	"fmt"
	"os"

	"github.com/beaconmesh/beacon/cmd/beacon/command"
	"github.com/hashicorp/cli"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	ui := &cli.BasicUi{Reader: os.Stdin, Writer: os.Stdout, ErrorWriter: os.Stderr}
	c := cli.NewCLI("beacon", command.Version)
	c.Args = args
	c.Commands = command.Commands(ui)
	c.HelpWriter = os.Stdout
	code, err := c.Run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "beacon:", err)
		return 1
	}
	return code
}
