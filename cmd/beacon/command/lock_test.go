package command

import "testing"

func TestLockCommandArguments(t *testing.T) {
	runCases(t, []cliCase{
		{name: "no child", args: []string{"lock", "locks/a"}, code: 1, stderr: "Key prefix and child command must be specified (see beacon lock -h)\n"},
		{name: "limit", args: []string{"lock", "-n", "-1", "locks/a", "true"}, code: 1, stderr: "Lock holder limit must be positive\n"},
		{name: "monitor retry", args: []string{"lock", "-monitor-retry", "-1", "locks/a", "true"}, code: 1, stderr: "Number for 'monitor-retry' must be >= 0\n"},
		{name: "empty prefix", args: []string{"lock", "/", "true"}, code: 1, stderr: "Key prefix must not be empty\n"},
	})
}
