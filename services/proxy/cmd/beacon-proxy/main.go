// Command beacon-proxy is the Connect sidecar proxy; see package cmdline
// for its flags (those of `consul connect proxy`).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/beaconmesh/beacon/platform/probe"
	"github.com/beaconmesh/beacon/platform/profile"
	"github.com/beaconmesh/beacon/services/proxy/cmdline"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		// The container healthcheck: the public listener (Consul's first
		// sidecar port by default) accepts connections.
		os.Exit(probe.Command("beacon-proxy probe", os.Args[2:], "127.0.0.1:21000", probe.TCPCheck()))
	}
	stopProfile := profile.Start() // BEACON_CPUPROFILE, BEACON_MEMPROFILE
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cmdline.Main(ctx, "beacon-proxy", os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	stopProfile()
	os.Exit(code)
}
