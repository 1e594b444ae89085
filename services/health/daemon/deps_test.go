package daemon

import (
	"testing"

	"github.com/beaconmesh/beacon/platform/deptest"
)

// TestNoForbiddenImports keeps the agent's edges hard: it reaches the
// catalog over gRPC only, never by importing another service's packages.
func TestNoForbiddenImports(t *testing.T) {
	deptest.Forbid(t, "github.com/beaconmesh/beacon/services/health/...", "github.com/beaconmesh/beacon/services/health",
		append(deptest.Services, deptest.TestOnly...)...)
}
