//go:build !unix

package checks

import "os/exec"

// ownProcessGroup is a no-op where process groups do not exist: a timeout
// kills the script's first process only.
func ownProcessGroup(*exec.Cmd) {}
