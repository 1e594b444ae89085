package daemon_test

import (
	"testing"

	"github.com/beaconmesh/beacon/platform/deptest"
)

// TestNoForbiddenImports keeps the gateway's edges hard: it talks to the
// catalog over gRPC only, never by importing another service's packages.
func TestNoForbiddenImports(t *testing.T) {
	deptest.Forbid(t, "github.com/beaconmesh/beacon/services/dnsgw/...", "github.com/beaconmesh/beacon/services/dnsgw",
		append(append([]string{"github.com/hashicorp/"}, deptest.Services...), deptest.TestOnly...)...)
}
