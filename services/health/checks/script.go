package checks

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/health/config"
)

// scriptProbe runs a command: exit 0 passing, 1 warning, anything else
// critical. It runs in its own process group so that a timeout kills
// everything it started, not just the first process.
type scriptProbe struct {
	args    []string
	timeout time.Duration
}

// waitDelay bounds how long a killed script's pipes may stay open (a
// daemonized grandchild that escaped the group would otherwise hold them).
const waitDelay = 2 * time.Second

func (p *scriptProbe) probe(ctx context.Context) (catalogv1.HealthStatus, string) {
	cmd := exec.CommandContext(ctx, p.args[0], p.args[1:]...)
	out := &tailBuffer{max: config.OutputMax}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = waitDelay
	ownProcessGroup(cmd)
	err := cmd.Run()
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return Critical, fmt.Sprintf("Timed out (%s) running check", p.timeout)
	}
	if err == nil {
		return Passing, out.String()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() == 1 {
			return Warning, out.String()
		}
		return Critical, out.String()
	}
	return Critical, fmt.Sprintf("Failed to run check %q: %v", p.args[0], err)
}
