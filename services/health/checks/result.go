// Package checks runs health checks: one runner per kind (HTTP, TCP, gRPC,
// script, TTL, alias), the thresholds that turn results into a status, and
// a Scheduler that starts each polled check at a random point of its first
// interval so that many checks never fire together. Results go to a
// Notifier (the agent's local state), which decides what reaches the
// catalog.
package checks

import (
	"fmt"
	"strings"
	"unicode/utf8"

	catalogv1 "github.com/beaconmesh/beacon/proto/beacon/catalog/v1"
	"github.com/beaconmesh/beacon/services/health/config"
)

// Statuses, shortened.
const (
	Passing  = catalogv1.HealthStatus_HEALTH_STATUS_PASSING
	Warning  = catalogv1.HealthStatus_HEALTH_STATUS_WARNING
	Critical = catalogv1.HealthStatus_HEALTH_STATUS_CRITICAL
)

// Notifier receives check results.
type Notifier interface {
	// UpdateCheck records a check's new status and output. It must not
	// call back into the Scheduler.
	UpdateCheck(checkID string, status catalogv1.HealthStatus, output string)
}

// ParseStatus reads "passing", "warning" or "critical" (Consul's names);
// anything else is critical, as new checks are.
func ParseStatus(s string) catalogv1.HealthStatus {
	switch strings.ToLower(s) {
	case config.StatusPassing:
		return Passing
	case config.StatusWarning:
		return Warning
	}
	return Critical
}

// StatusName returns Consul's name of a status.
func StatusName(s catalogv1.HealthStatus) string {
	switch s {
	case Passing:
		return config.StatusPassing
	case Warning:
		return config.StatusWarning
	}
	return config.StatusCritical
}

// TruncateOutput keeps the first config.OutputMax bytes of out, marking
// the cut as Consul does, and replaces invalid UTF-8 (outputs travel in
// protobuf strings).
func TruncateOutput(out string) string {
	if len(out) > config.OutputMax {
		total := len(out)
		cut := config.OutputMax
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + fmt.Sprintf(" ... (captured %d of %d bytes)", cut, total)
	}
	return strings.ToValidUTF8(out, "\uFFFD")
}

// tailBuffer keeps the last max bytes written to it and counts them all:
// a script's verdict is usually at the end of what it prints.
type tailBuffer struct {
	max   int
	buf   []byte
	total int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.total += len(p)
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

// String returns the output, prefixed with Consul's "Captured N of M
// bytes" marker when the start was dropped.
func (b *tailBuffer) String() string {
	s := string(b.buf)
	if b.total > len(b.buf) {
		for len(s) > 0 && !utf8.RuneStart(s[0]) {
			s = s[1:]
		}
		s = fmt.Sprintf("Captured %d of %d bytes\n...\n%s", len(s), b.total, s)
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
