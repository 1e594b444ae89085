package daemon

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoForbiddenImports keeps the module's edges hard: the gateway talks to
// the other services over gRPC only, and test-only libraries stay out of the
// binary.
func TestNoForbiddenImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/beaconmesh/beacon/services/httpgw/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/beaconmesh/beacon/services/catalog",
		"github.com/beaconmesh/beacon/services/dnsgw",
		"github.com/beaconmesh/beacon/services/health",
		"github.com/beaconmesh/beacon/services/proxy",
		"github.com/beaconmesh/beacon/cmd/",
		"github.com/hashicorp/consul/",
		"github.com/hashicorp/serf",
		"github.com/google/go-cmp",
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(pkg, f) {
				t.Errorf("the gateway depends on %s", pkg)
			}
		}
	}
}
