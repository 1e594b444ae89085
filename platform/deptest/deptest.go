// Package deptest keeps module edges hard: each service's tests list the
// packages it must never depend on (other services, which it may only reach
// over gRPC, and test-only libraries), and this checks them with go list.
package deptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Services are the module prefixes of Beacon's processes.
var Services = []string{
	"github.com/beaconmesh/beacon/services/catalog",
	"github.com/beaconmesh/beacon/services/dnsgw",
	"github.com/beaconmesh/beacon/services/health",
	"github.com/beaconmesh/beacon/services/httpgw",
	"github.com/beaconmesh/beacon/services/proxy",
	"github.com/beaconmesh/beacon/cmd/",
}

// TestOnly are libraries that may appear in tests but never in a binary.
var TestOnly = []string{
	"github.com/hashicorp/consul/",
	"github.com/google/go-cmp",
}

// Forbid fails t if any non-test package matching pattern depends on a
// package with one of the forbidden prefixes. self is the caller's own
// module prefix, exempt from Services.
func Forbid(t *testing.T, pattern, self string, forbidden ...string) {
	t.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	out, err := exec.Command(goTool, "list", "-deps", pattern).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pattern, err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, self) {
			continue
		}
		for _, f := range forbidden {
			if strings.HasPrefix(pkg, f) {
				t.Errorf("%s depends on %s", pattern, pkg)
			}
		}
	}
}
