package checks

import (
	"context"
	"fmt"
	"strings"
	"time"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
)

// AliasSource tells an alias check about the health it mirrors.
type AliasSource interface {
	// AliasHealth returns the checks on node (node-level ones and those of
	// every service instance), whether serviceID exists on node (true when
	// serviceID is empty), and an index. When index is not 0 it first
	// waits until the answer's index differs from it or ctx ends.
	AliasHealth(ctx context.Context, node, serviceID string, index uint64) (checks []*catalogv1.HealthCheck, serviceExists bool, newIndex uint64, err error)
}

// aliasRetry is the pause after a failed look-up of the aliased target.
const aliasRetry = time.Second

// runAlias mirrors the health of a node, or of a service instance together
// with its node, until ctx ends: the worst of their checks, as Consul's
// alias check.
func runAlias(ctx context.Context, id, node, serviceID string, src AliasSource, n Notifier) {
	var index uint64
	for {
		checks, exists, next, err := src.AliasHealth(ctx, node, serviceID, index)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			n.UpdateCheck(id, Critical, fmt.Sprintf("Failed to query alias target: %v", err))
			index = 0
			select {
			case <-ctx.Done():
				return
			case <-time.After(aliasRetry):
			}
			continue
		}
		status, out := aliasStatus(checks, id, node, serviceID, exists)
		n.UpdateCheck(id, status, out)
		index = next
	}
}

// aliasStatus folds the aliased checks into one status: critical wins,
// then warning; no checks at all is passing, unless the aliased service
// does not exist.
func aliasStatus(checks []*catalogv1.HealthCheck, self, node, serviceID string, exists bool) (catalogv1.HealthStatus, string) {
	status, out := Passing, "No checks found."
	found := false
	for _, c := range checks {
		if c.GetCheckId() == self {
			continue // a node-level alias of its own node must not follow itself
		}
		if node != "" && c.GetNode() != "" && !strings.EqualFold(c.GetNode(), node) {
			continue
		}
		match := serviceID != "" && c.GetServiceId() == serviceID
		if c.GetServiceId() != "" && !match {
			continue
		}
		if match {
			found = true
		}
		switch c.GetStatus() {
		case Passing:
			if status == Passing {
				out = "All checks passing."
			}
		case Warning:
			if status != Critical {
				status, out = Warning, fmt.Sprintf("Aliased check %q failing: %s", c.GetName(), c.GetOutput())
			}
		default:
			return Critical, fmt.Sprintf("Aliased check %q failing: %s", c.GetName(), c.GetOutput())
		}
	}
	if serviceID != "" && !found && !exists {
		return Critical, fmt.Sprintf("Service %q could not be found on node %q", serviceID, node)
	}
	return status, out
}
