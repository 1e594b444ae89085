package daemon_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoForbiddenImports keeps the gateway's edges hard: it talks to the
// catalog over gRPC only, never by importing another service's packages.
func TestNoForbiddenImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-test", "github.com/beaconmesh/beacon/services/dnsgw/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/beaconmesh/beacon/services/catalog",
		"github.com/beaconmesh/beacon/services/health",
		"github.com/beaconmesh/beacon/services/httpgw",
		"github.com/beaconmesh/beacon/services/proxy",
		"github.com/beaconmesh/beacon/cmd/",
		"github.com/hashicorp/",
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(pkg, f) {
				t.Errorf("dnsgw depends on %s", pkg)
			}
		}
	}
}
