package probe

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// Check probes the process listening at addr and returns nil when it is
// healthy. It gives up when ctx ends.
type Check func(ctx context.Context, addr string) error

// Exit statuses of Command, as Docker's HEALTHCHECK reads them.
const (
	ExitHealthy   = 0
	ExitUnhealthy = 1
	ExitUsage     = 2
)

// Command runs a binary's `probe` subcommand: it parses -addr (default
// defaultAddr) and -timeout from args, runs check and returns the exit
// status. name prefixes error messages ("beacon-health probe").
func Command(name string, args []string, defaultAddr string, check Check) int {
	return command(os.Stderr, name, args, defaultAddr, check)
}

// FlagSet is the probe subcommand's flags, -addr (default defaultAddr) and
// -timeout, for a caller that prints them in its help.
func FlagSet(name, defaultAddr string) *flag.FlagSet {
	fs, _, _ := flagSet(name, defaultAddr)
	return fs
}

func flagSet(name, defaultAddr string) (fs *flag.FlagSet, addr *string, timeout *time.Duration) {
	fs = flag.NewFlagSet(name, flag.ContinueOnError)
	addr = fs.String("addr", defaultAddr, "address of the process to probe")
	timeout = fs.Duration("timeout", 2*time.Second, "how long to wait for an answer")
	return fs, addr, timeout
}

func command(stderr io.Writer, name string, args []string, defaultAddr string, check Check) int {
	fs, addr, timeout := flagSet(name, defaultAddr)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitHealthy
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", name, fs.Args())
		return ExitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := check(ctx, *addr); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitUnhealthy
	}
	return ExitHealthy
}

// GRPCCheck checks grpc.health.v1 of service ("" for the whole server).
func GRPCCheck(service string) Check {
	return func(ctx context.Context, addr string) error { return GRPCContext(ctx, addr, service) }
}
