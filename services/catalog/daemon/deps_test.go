package daemon

import (
	"testing"

	"github.com/beaconmesh/beacon/platform/deptest"
)

// TestNoForbiddenImports keeps the catalog's edges hard: other services
// reach it over gRPC, and it imports none of them.
func TestNoForbiddenImports(t *testing.T) {
	deptest.Forbid(t, "github.com/beaconmesh/beacon/services/catalog/...", "github.com/beaconmesh/beacon/services/catalog",
		append(deptest.Services, deptest.TestOnly...)...)
}
