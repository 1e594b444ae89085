// Package gcpercent sets a process's default garbage-collection target, for
// binaries whose live heap is small and whose CPU is better spent serving.
package gcpercent

import (
	"os"
	"runtime/debug"
)

// Default sets the collector's target to percent (GOGC's meaning: collect
// when the heap has grown by that percentage of the live heap) unless the
// GOGC environment variable sets one, and returns the target in effect
// (-1 when collection is off).
func Default(percent int) int {
	if _, set := os.LookupEnv("GOGC"); set {
		current := debug.SetGCPercent(100)
		debug.SetGCPercent(current)
		return current
	}
	debug.SetGCPercent(percent)
	return percent
}
