package daemon

import (
	"testing"

	"github.com/beaconmesh/beacon/platform/deptest"
)

// TestNoForbiddenImports keeps the proxy's edges hard: it reaches the
// catalog and the agent over gRPC only, never by importing their packages.
func TestNoForbiddenImports(t *testing.T) {
	deptest.Forbid(t, "github.com/beaconmesh/beacon/services/proxy/...", "github.com/beaconmesh/beacon/services/proxy",
		append(deptest.Services, deptest.TestOnly...)...)
}
