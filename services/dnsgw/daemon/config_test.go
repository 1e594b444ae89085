package daemon_test

import (
	"strings"
	"testing"
	"time"

	"github.com/beaconmesh/beacon/services/dnsgw/daemon"
)

func TestValidate(t *testing.T) {
	if err := daemon.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*daemon.Config)
		want   string // substring of the error
	}{
		{"bad addr", func(c *daemon.Config) { c.Addr = "8600" }, "addr"},
		{"no catalog", func(c *daemon.Config) { c.CatalogAddrs = nil }, "catalog addrs"},
		{"bad catalog", func(c *daemon.Config) { c.CatalogAddrs = []string{"localhost"} }, "catalog addr"},
		{"root domain", func(c *daemon.Config) { c.Domain = "." }, "domain"},
		{"bad domain", func(c *daemon.Config) { c.Domain = "a..b" }, "domain"},
		{"alt is domain", func(c *daemon.Config) { c.AltDomain = "CONSUL" }, "alt domain"},
		{"dotted datacenter", func(c *daemon.Config) { c.Datacenter = "dc1.east" }, "datacenter"},
		{"empty datacenter", func(c *daemon.Config) { c.Datacenter = "" }, "datacenter"},
		{"recursor host name", func(c *daemon.Config) { c.Recursors = []string{"dns.google"} }, "recursor"},
		{"negative ttl", func(c *daemon.Config) { c.NodeTTL = -time.Second }, "node ttl"},
		{"huge ttl", func(c *daemon.Config) { c.ServiceTTL = 100 * 365 * 24 * time.Hour }, "service ttl"},
		{"negative a limit", func(c *daemon.Config) { c.ARecordLimit = -1 }, "a record limit"},
		{"negative udp limit", func(c *daemon.Config) { c.UDPAnswerLimit = -1 }, "udp answer limit"},
		{"bad metrics addr", func(c *daemon.Config) { c.MetricsAddr = "9100" }, "metrics addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := daemon.DefaultConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error about %q", err, tt.want)
			}
		})
	}

	good := daemon.DefaultConfig()
	good.Recursors = []string{"8.8.8.8", "1.1.1.1:5353", "[2001:db8::1]:53", "2001:db8::2"}
	good.AltDomain = "beacon"
	if err := good.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
