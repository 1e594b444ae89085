package command

import (
	"strings"
	"testing"

	"github.com/hashicorp/cli"
)

// TestConnectProxyRegistered checks that `beacon connect proxy` is the
// proxy's command line, with Consul's flags.
func TestConnectProxyRegistered(t *testing.T) {
	table := commands(&Meta{UI: cli.NewMockUi(), Getenv: func(string) string { return "" }})
	for _, name := range []string{"connect", "connect proxy"} {
		if table[name] == nil {
			t.Fatalf("no %q command", name)
		}
	}
	c, err := table["connect proxy"]()
	if err != nil {
		t.Fatal(err)
	}
	help := c.Help()
	for _, flag := range []string{"-sidecar-for", "-service", "-upstream", "-listen", "-service-addr", "-catalog", "-agent-addr", "-log-level"} {
		if !strings.Contains(help, flag+" ") {
			t.Errorf("help has no %s flag:\n%s", flag, help)
		}
	}
	if code := c.Run([]string{"-service", "web", "-upstream", "nope"}); code != 1 {
		t.Errorf("a bad -upstream: exit %d, want 1", code)
	}
}
