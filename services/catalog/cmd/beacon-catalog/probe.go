package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/beaconmesh/beacon/platform/probe"
)

// runProbe is the container healthcheck: it exits 0 when the replica's gRPC
// health reports SERVING, which it does while a leader is known.
func runProbe(args []string) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	addr := fs.String("grpc-addr", "127.0.0.1:8502", "gRPC address to probe")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := probe.GRPC(*addr, "", *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		return 1
	}
	return 0
}
