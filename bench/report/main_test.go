package main

import (
	"strings"
	"testing"

	"github.com/beaconmesh/beacon/bench/internal/result"
)

func TestRenderRatiosPairRuns(t *testing.T) {
	rs := []result.Result{
		{Name: "dns-A/floor", Kind: result.KindDNS, Run: 1, Rate: 100},
		{Name: "dns-A/dnsgw", Kind: result.KindDNS, Run: 1, Rate: 50, Instances: 10000},
		{Name: "dns-A/floor", Kind: result.KindDNS, Run: 2, Rate: 200},
		{Name: "dns-A/dnsgw", Kind: result.KindDNS, Run: 2, Rate: 200, Instances: 10000},
		{Name: "dns-A/floor", Kind: result.KindDNS, Run: 3, Rate: 100},
		{Name: "dns-A/dnsgw", Kind: result.KindDNS, Run: 3, Rate: 90, Instances: 10000},
		{Name: "tcp-bulk/direct", Kind: result.KindTCP, Run: 1, Rate: 1000},
		{Name: "tcp-rtt/direct", Kind: result.KindTCP, Run: 1, P50ms: 0.03},
		{Name: "tcp-conns/direct", Kind: result.KindTCP, Run: 1, Rate: 4000},
		{Name: "tcp-bulk/beacon-mtls2", Kind: result.KindTCP, Run: 1, Missing: "beacon-proxy does not build"},
		{Name: "startup/agent-dev", Kind: result.KindStartup, Run: 1, Seconds: 0.2, RSSKiB: 30 << 10},
	}
	out := render(rs)
	for _, want := range []string{
		"| DNS A q/s: beacon-dnsgw / miekg floor | 0.90× (0.50–1.00) | ≥ 0.9× | yes |",
		"| Proxy bulk MiB/s: Beacon two mTLS sidecars / direct | missing: beacon-proxy does not build |",
		"| direct loopback (the floor) | 1000 |",
		"idle RSS, 2 s after leader) | 1 | 30.0 MiB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
