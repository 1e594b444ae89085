package daemon

import (
	"testing"

	"github.com/beaconmesh/beacon/platform/deptest"
)

// TestNoForbiddenImports keeps the module's edges hard: the gateway talks to
// the other services over gRPC only, and test-only libraries stay out of the
// binary.
func TestNoForbiddenImports(t *testing.T) {
	deptest.Forbid(t, "github.com/beaconmesh/beacon/services/httpgw/...", "github.com/beaconmesh/beacon/services/httpgw",
		append(append([]string{"github.com/hashicorp/serf"}, deptest.Services...), deptest.TestOnly...)...)
}
